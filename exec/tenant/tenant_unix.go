//go:build unix

package tenant

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/fxmesh/fxmesh/fault"
)

// CanSwitch reports whether this process may run processes as other users.
func CanSwitch() bool { return os.Geteuid() == 0 }

// Apply sets attr to start a child as c.
func (c *Credential) Apply(attr *syscall.SysProcAttr) {
	attr.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
}

// CheckUsable says, as fault.Invalid, why the user of c cannot run the
// program at path: a directory on the way it may not search, or the file
// itself it may not read and execute.
func CheckUsable(path string, c *Credential) error {
	path = filepath.Clean(path)
	var walk []string
	for p := path; ; p = filepath.Dir(p) {
		walk = append(walk, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	slices.Reverse(walk)
	for i, p := range walk {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("exec/tenant: %s: %w", path, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		want := uint32(1) // search a directory
		if i == len(walk)-1 {
			want = 5 // read and execute the program
		}
		if !permits(sys, c, want) {
			what := "search"
			if want == 5 {
				what = "read and run"
			}
			return fault.E(fault.Invalid, "exec/tenant",
				"%s cannot be used by uid %d: it may not %s %s (mode %v, owner %d:%d)",
				path, c.UID, what, p, st.Mode().Perm(), sys.Uid, sys.Gid)
		}
	}
	return nil
}

// permits reports whether c has the permission bits want (of r=4, w=2,
// x=1) on a file of st, by the file's mode alone.
func permits(st *syscall.Stat_t, c *Credential, want uint32) bool {
	mode := uint32(st.Mode)
	switch {
	case st.Uid == c.UID:
		return (mode>>6)&want == want
	case st.Gid == c.GID || slices.Contains(c.Groups, st.Gid):
		return (mode>>3)&want == want
	}
	return mode&want == want
}
