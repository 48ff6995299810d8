package shell

import (
	osexec "os/exec"
	"runtime"
	"syscall"
)

// spawn starts cmd with umask 077 and waits for it. The umask is one of a
// thread's own: spawn runs cmd on an OS thread that stops sharing its
// umask (and working directory) with the rest of this process, sets it,
// and ends when cmd has been waited for, so that no other file of this
// process is made under that umask. The child's Pdeathsig follows that
// thread, which lives as long as the child. Where the thread cannot stop
// sharing (a seccomp filter may forbid unshare), a shell sets the umask
// before it executes the program.
func (e *Executor) spawn(cmd *osexec.Cmd) (startErr, waitErr error) {
	type ended struct{ start, wait error }
	ch := make(chan ended, 1)
	go func() {
		runtime.LockOSThread()
		if trampolineOnly || syscall.Unshare(syscall.CLONE_FS) != nil {
			runtime.UnlockOSThread() // the thread is unchanged
			viaShell(cmd)
		} else {
			// Never unlocked: the thread, its umask changed, ends with
			// this goroutine.
			syscall.Umask(umask)
		}
		if err := e.start(cmd); err != nil {
			ch <- ended{start: err}
			return
		}
		ch <- ended{wait: cmd.Wait()}
	}()
	r := <-ch
	return r.start, r.wait
}
