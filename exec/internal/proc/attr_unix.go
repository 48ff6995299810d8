//go:build unix && !linux

package proc

import "syscall"

// SysProcAttr returns attributes that start a child as the leader of a new
// process group.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
