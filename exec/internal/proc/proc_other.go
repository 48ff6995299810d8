//go:build !unix

package proc

import (
	"os"
	"syscall"
)

// SysProcAttr returns nil: process groups are a unix notion.
func SysProcAttr() *syscall.SysProcAttr { return nil }

// KillGroup kills the process pid alone.
func KillGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func exitOf(st *os.ProcessState) Exit { return Exit{Code: st.ExitCode()} }
