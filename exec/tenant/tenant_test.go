package tenant

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

func TestParseUIDRange(t *testing.T) {
	tests := []struct {
		in   string
		want UIDRange
		err  string
	}{
		{"200000-265535", UIDRange{200000, 265535}, ""},
		{" 5 - 5 ", UIDRange{5, 5}, ""},
		{"0-10", UIDRange{}, "includes root"},
		{"10-5", UIDRange{}, "ends before"},
		{"10", UIDRange{}, "FIRST-LAST"},
		{"a-b", UIDRange{}, "FIRST-LAST"},
		{"1-4294967296", UIDRange{}, "FIRST-LAST"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseUIDRange(tc.in)
			if tc.err != "" {
				if err == nil || fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseUIDRange(%q) = %v, %v; want an invalid error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseUIDRange(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestUIDTable: tenants get distinct uids of the range, the same ones
// after a restart, and a clear error when the range is full.
func TestUIDTable(t *testing.T) {
	if !CanSwitch() {
		t.Skip("a uid range needs root")
	}
	dir := t.TempDir()
	iso := Isolation{Dir: dir, UIDs: UIDRange{300000, 300002}}
	ts, err := New(iso)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint32{}
	seen := map[uint32]string{}
	for _, tenant := range []string{"", "alice", "bob"} {
		uid, err := ts.allocateLocked(tenant)
		if err != nil {
			t.Fatal(err)
		}
		if uid < 300000 || uid > 300002 {
			t.Fatalf("%q got uid %d, outside the range", tenant, uid)
		}
		if o, ok := seen[uid]; ok {
			t.Fatalf("%q and %q share uid %d", o, tenant, uid)
		}
		seen[uid], got[tenant] = tenant, uid
	}
	_, err = ts.allocateLocked("carol")
	if fault.KindOf(err) != fault.Unavailable || !strings.Contains(err.Error(), "300000-300002") {
		t.Fatalf("a fourth tenant in three uids: %v", err)
	}
	again, err := New(iso)
	if err != nil {
		t.Fatal(err)
	}
	for tenant, uid := range got {
		if u, err := again.allocateLocked(tenant); err != nil || u != uid {
			t.Fatalf("after a restart %q got %d, %v; want %d", tenant, u, err, uid)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, tableFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(iso); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("a corrupt table: %v", err)
	}
}

// TestIsolationConfig: isolation that cannot hold is refused, clearly:
// a uid range without a directory, or where this process cannot switch
// uids, accounts that are root or inside the range.
func TestIsolationConfig(t *testing.T) {
	dir := t.TempDir()
	type test struct {
		name string
		iso  Isolation
		want string
	}
	tests := []test{
		{"not a range", Isolation{Dir: dir, UIDs: UIDRange{0, 10}}, "includes root"},
		{"root account", Isolation{Dir: dir, Accounts: map[string]Account{"a": {Name: "root", Home: "/root"}}}, "never run as root"},
		{"relative home", Isolation{Dir: dir, Accounts: map[string]Account{"a": {Name: "x", UID: 5, GID: 5, Home: "home"}}}, "absolute"},
		{"account in range", Isolation{Dir: dir, UIDs: UIDRange{200000, 200010}, Accounts: map[string]Account{"a": {Name: "x", UID: 200001, GID: 5, Home: "/"}}}, "inside the worker uid range"},
	}
	if CanSwitch() {
		tests = append(tests, test{"no dir", Isolation{UIDs: UIDRange{200000, 200010}}, "Isolation.Dir"})
	} else {
		tests = append(tests, test{"not root", Isolation{Dir: dir, UIDs: UIDRange{200000, 200010}}, "only when this process runs as root"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "not root" && !CanSwitch() {
				t.Skip("switching uids needs root: New refuses every such Isolation here for that")
			}
			_, err := New(tc.iso)
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want an invalid error with %q", err, tc.want)
			}
		})
	}
}

// TestIdentity: without uids, a table with a directory still gives each
// tenant its own working directory, 0700, the same on each call; a nil
// table gives nothing.
func TestIdentity(t *testing.T) {
	var none *Table
	if id, err := none.Identity("alice"); err != nil || id.Cred != nil || id.Dir != "" {
		t.Fatalf("a nil table: %+v, %v", id, err)
	}
	ts, err := New(Isolation{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ts.Identity("alice")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ts.Identity("bob")
	if err != nil {
		t.Fatal(err)
	}
	if a.Cred != nil || a.Dir == b.Dir || a.Home != a.Dir {
		t.Fatalf("alice %+v, bob %+v", a, b)
	}
	if st, err := os.Stat(a.Dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("alice's directory %s: %v", a.Dir, err)
	}
	if again, _ := ts.Identity("alice"); again.Dir != a.Dir {
		t.Fatalf("alice's directory moved from %s to %s", a.Dir, again.Dir)
	}
	env := Env([]string{"HOME=/root", "PATH=/bin"}, Identity{Home: "/h", Account: "al"})
	slices.Sort(env)
	if want := []string{"HOME=/h", "LOGNAME=al", "PATH=/bin", "USER=al"}; !slices.Equal(env, want) {
		t.Fatalf("Env = %q, want %q", env, want)
	}
}

// TestRequireAccount: with accounts required, an unmapped tenant is
// refused as denied; the endpoint's own tenant "" is not.
func TestRequireAccount(t *testing.T) {
	ts, err := New(Isolation{Dir: t.TempDir(), RequireAccount: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Identity("bob"); fault.KindOf(err) != fault.Denied || !strings.Contains(err.Error(), "no local account") {
		t.Fatalf("bob, unmapped: %v", err)
	}
	if _, err := ts.Identity(""); err != nil {
		t.Fatalf("the endpoint's own tenant: %v", err)
	}
}
