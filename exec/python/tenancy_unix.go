//go:build unix

package python

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/fxmesh/fxmesh/fault"
)

// canSwitch reports whether this process may run workers as other users.
func canSwitch() bool { return os.Geteuid() == 0 }

// credentialAttr sets attr to start a child as c.
func credentialAttr(attr *syscall.SysProcAttr, c *credential) {
	attr.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid, Groups: c.groups}
}

// checkUsable says, as fault.Invalid, why the user of c cannot run the
// interpreter at path: a directory on the way it may not search, or the
// file itself it may not read and execute.
func checkUsable(path string, c *credential) error {
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
			return fmt.Errorf("exec/python: interpreter %s: %w", path, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		want := uint32(1) // search a directory
		if i == len(walk)-1 {
			want = 5 // read and execute the interpreter
		}
		if !permits(sys, c, want) {
			what := "search"
			if want == 5 {
				what = "read and run"
			}
			return fault.E(fault.Invalid, "exec/python: interpreter",
				"%s cannot be used by worker uid %d: it may not %s %s (mode %v, owner %d:%d); choose an interpreter every user can run, such as /usr/bin/python3",
				path, c.uid, what, p, st.Mode().Perm(), sys.Uid, sys.Gid)
		}
	}
	return nil
}

// permits reports whether c has the permission bits want (of r=4, w=2,
// x=1) on a file of st, by the file's mode alone.
func permits(st *syscall.Stat_t, c *credential, want uint32) bool {
	mode := uint32(st.Mode)
	switch {
	case st.Uid == c.uid:
		return (mode>>6)&want == want
	case st.Gid == c.gid || slices.Contains(c.groups, st.Gid):
		return (mode>>3)&want == want
	}
	return mode&want == want
}
