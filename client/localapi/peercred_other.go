//go:build !linux

package localapi

import (
	"errors"
	"net"
)

// peerUID cannot tell who connected on this system: every connection is
// refused.
func peerUID(*net.UnixConn) (uint32, error) {
	return 0, errors.New("localapi: no SO_PEERCRED on this system")
}

// ownerUID cannot tell who owns a file on this system.
func ownerUID(interface{ Sys() any }) (uint32, bool) { return 0, false }
