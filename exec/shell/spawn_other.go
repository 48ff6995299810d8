//go:build !linux

package shell

import osexec "os/exec"

// spawn starts cmd with umask 077, set by a shell before it executes the
// program, and waits for it.
func (e *Executor) spawn(cmd *osexec.Cmd) (startErr, waitErr error) {
	viaShell(cmd)
	if err := e.start(cmd); err != nil {
		return err, nil
	}
	return nil, cmd.Wait()
}
