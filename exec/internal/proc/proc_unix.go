//go:build unix

package proc

import (
	"os"
	"syscall"
)

// KillGroup sends SIGKILL to the process group that pid leads, so that
// whatever the process started dies with it.
func KillGroup(pid int) error {
	if pid <= 0 {
		return syscall.ESRCH
	}
	return syscall.Kill(-pid, syscall.SIGKILL)
}

func exitOf(st *os.ProcessState) Exit {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return Exit{Code: -1, Signal: int(ws.Signal()), Name: ws.Signal().String()}
	}
	return Exit{Code: st.ExitCode()}
}
