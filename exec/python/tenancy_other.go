//go:build !unix

package python

import (
	"syscall"

	"github.com/fxmesh/fxmesh/fault"
)

func canSwitch() bool { return false }

func credentialAttr(*syscall.SysProcAttr, *credential) {}

func checkUsable(path string, c *credential) error {
	return fault.E(fault.Invalid, "exec/python: interpreter", "workers cannot run as other users on this system")
}
