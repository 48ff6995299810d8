package proc

import (
	"os"
	"strconv"
)

// Exit is how a process ended.
type Exit struct {
	Code   int    // exit status; -1 when killed by a signal
	Signal int    // the signal that killed it; 0 for none
	Name   string // the signal's name ("killed"), when there is one
}

// ExitOf reads st; a nil st is a process that never ran (Code -1).
func ExitOf(st *os.ProcessState) Exit {
	if st == nil {
		return Exit{Code: -1}
	}
	return exitOf(st)
}

// ShellCode is the status a shell would report: the exit status, or 128+N
// for a process killed by signal N.
func (e Exit) ShellCode() int {
	if e.Signal != 0 {
		return 128 + e.Signal
	}
	return e.Code
}

// String says "exit status 3" or "signal 9 (killed)".
func (e Exit) String() string {
	if e.Signal != 0 {
		s := "signal " + strconv.Itoa(e.Signal)
		if e.Name != "" {
			s += " (" + e.Name + ")"
		}
		return s
	}
	return "exit status " + strconv.Itoa(e.Code)
}
