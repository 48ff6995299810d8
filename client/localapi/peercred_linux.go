package localapi

import (
	"fmt"
	"net"
	"syscall"
)

// peerUID is the uid of the process at the other end of a unix socket
// connection, as the kernel saw it connect (SO_PEERCRED).
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		cred *syscall.Ucred
		gerr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, gerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if gerr != nil {
		return 0, fmt.Errorf("localapi: SO_PEERCRED: %w", gerr)
	}
	return cred.Uid, nil
}

// ownerUID is the uid owning a file.
func ownerUID(fi interface{ Sys() any }) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
