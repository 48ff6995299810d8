package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/identity"
)

// TestTenancyConfig: worker_uids, users and require_mapping are read from
// config.yaml, written back with their help, and refused with a clear
// error when wrong.
func TestTenancyConfig(t *testing.T) {
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	id := k.ID().String()
	tests := []struct {
		name, yaml string
		err        string // "" means valid
	}{
		{"all three", "worker_uids: 200000-265535\nusers:\n  " + id + ": alice\nrequire_mapping: true\n", ""},
		{"uids alone", "worker_uids: \"300000-300009\"\n", ""},
		{"uids with root", "worker_uids: 0-100\n", "worker_uids: exec/tenant: uid range: \"0-100\" includes root"},
		{"uids not a range", "worker_uids: lots\n", "not FIRST-LAST"},
		{"uids backwards", "worker_uids: 10-5\n", "ends before it starts"},
		{"user not an ID", "users:\n  bob: bob\n", "users: "},
		{"account not a name", "users:\n  " + id + ": \"a:b\"\n", "not an account name"},
		{"mapping required of no one", "require_mapping: true\n", "require_mapping is true but users maps no one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadConfig(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("LoadConfig = %v; want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := SaveConfig(dir, c); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			again, err := LoadConfig(dir)
			if err != nil || again.WorkerUIDs != c.WorkerUIDs || len(again.Users) != len(c.Users) || again.RequireMapping != c.RequireMapping {
				t.Fatalf("round trip: %+v, %v\n%s", again, err, b)
			}
			if c.WorkerUIDs != "" && !strings.Contains(string(b), "# Range of unprivileged uids") {
				t.Fatalf("worker_uids written without its help:\n%s", b)
			}
		})
	}
}

// TestIsolationOfConfig: the pool's isolation comes from the config:
// nothing without worker_uids or users; a user mapped to an account that
// does not exist is an error that names both.
func TestIsolationOfConfig(t *testing.T) {
	dir := t.TempDir()
	iso, err := (&Config{}).isolation(dir)
	if err != nil || iso.Dir != "" || !iso.UIDs.IsZero() || iso.Accounts != nil {
		t.Fatalf("isolation of an empty config: %+v, %v", iso, err)
	}
	iso, err = (&Config{WorkerUIDs: "200000-200009", RequireMapping: true}).isolation(dir)
	if err != nil || iso.Dir != filepath.Join(dir, WorkersDir) || iso.UIDs.First != 200000 || iso.UIDs.Last != 200009 || !iso.RequireAccount {
		t.Fatalf("isolation with worker_uids: %+v, %v", iso, err)
	}
	_, err = (&Config{Users: map[string]string{"12D3KooWuser": "no-such-account-fx"}}).isolation(dir)
	if err == nil || !strings.Contains(err.Error(), "12D3KooWuser") || !strings.Contains(err.Error(), "no-such-account-fx") {
		t.Fatalf("a user mapped to no account: %v", err)
	}
	iso, err = (&Config{Users: map[string]string{"12D3KooWuser": "root"}}).isolation(dir)
	if err != nil || iso.Accounts["12D3KooWuser"].Home != "/root" {
		t.Fatalf("a user mapped to root's account: %+v, %v", iso, err)
	}
}
