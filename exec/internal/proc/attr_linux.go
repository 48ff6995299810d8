package proc

import "syscall"

// SysProcAttr returns attributes that start a child as the leader of a new
// process group, killed when the thread that started it exits (on Linux,
// the parent's death).
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
