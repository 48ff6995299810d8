package exectest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fxmesh/fxmesh/exec/tenant"
)

// NewTable makes a tenant.Table of iso, failing the test if it cannot.
func NewTable(t testing.TB, iso tenant.Isolation) *tenant.Table {
	t.Helper()
	ts, err := tenant.New(iso)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// SharedDir makes a directory that processes of every uid may write into
// and list (the workers of an endpoint run as uids of their own as root):
// world-writable and sticky, like /tmp, inside a test directory that every
// uid may search.
func SharedDir(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, "shared")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return dir
}
