package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/fxmesh/fxmesh/fault"
)

// pidFile is the lock that keeps one fxnode per directory.
const pidFile = "fxnode.pid"

// lockDir takes dir for this process: an exclusive lock on DIR/fxnode.pid,
// which then holds our pid. Another fxnode holding it fails with
// "already running (pid N)" (unavailable); the lock goes with the process,
// so a killed fxnode leaves no stale lock. unlock lets it go.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fault.E(fault.Invalid, "", "node directory %s: %v", dir, err)
	}
	path := filepath.Join(dir, pidFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fault.E(fault.Invalid, "", "lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(b[:n]))
			if _, perr := strconv.Atoi(pid); perr != nil {
				pid = "unknown"
			}
			return nil, fault.E(fault.Unavailable, "", "an fxnode is already running on %s (pid %s); stop it first, or give another --dir", dir, pid)
		}
		return nil, fault.E(fault.Unavailable, "", "lock %s: %v", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
	return func() { f.Close() }, nil
}
