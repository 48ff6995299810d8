//go:build unix

package exectest

import (
	"fmt"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/exec/tenant"
)

// NeedRoot skips a test that runs processes as other uids where this
// process cannot (CI runs as root, so there it runs).
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running processes as other uids needs root; this test runs as uid " + strconv.Itoa(os.Geteuid()))
	}
}

// NewAccount creates a local account, with a home under dir and a
// supplementary group, for a tenant to map to, and removes both when the
// test ends. It skips the test where the tools to do so are missing.
func NewAccount(t testing.TB, dir string) tenant.Account {
	t.Helper()
	for _, tool := range []string{"useradd", "groupadd", "userdel", "groupdel"} {
		if _, err := osexec.LookPath(tool); err != nil {
			t.Skip("no " + tool + " to create test accounts")
		}
	}
	name := fmt.Sprintf("fxt%d", os.Getpid()%100000)
	group := name + "g"
	sh := func(args ...string) {
		t.Helper()
		if out, err := osexec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	_ = osexec.Command("userdel", name).Run() // a leftover of a killed run
	_ = osexec.Command("groupdel", group).Run()
	_ = osexec.Command("groupdel", name).Run()
	sh("groupadd", group)
	t.Cleanup(func() { _ = osexec.Command("groupdel", group).Run() })
	home := filepath.Join(dir, name)
	sh("useradd", "-m", "-d", home, "-U", "-G", group, "-s", "/bin/sh", name)
	t.Cleanup(func() {
		_ = osexec.Command("userdel", name).Run()
		_ = osexec.Command("groupdel", name).Run()
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	sup, _ := strconv.ParseUint(g.Gid, 10, 32)
	return tenant.Account{Name: name, UID: uint32(uid), GID: uint32(gid), Groups: []uint32{uint32(gid), uint32(sup)}, Home: home}
}
