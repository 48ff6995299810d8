//go:build !unix

package tenant

import (
	"syscall"

	"github.com/fxmesh/fxmesh/fault"
)

// CanSwitch reports false: processes run as other users on unix alone.
func CanSwitch() bool { return false }

// Apply does nothing: New refuses credentials here.
func (c *Credential) Apply(*syscall.SysProcAttr) {}

// CheckUsable refuses every credential: processes cannot run as other
// users on this system.
func CheckUsable(path string, c *Credential) error {
	return fault.E(fault.Invalid, "exec/tenant", "processes cannot run as other users on this system")
}
