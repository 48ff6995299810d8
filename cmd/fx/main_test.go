package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

// execute runs fx in this process with args and stdin, in a fresh empty
// FX_HOME and no bootstrap, and returns what it printed and its exit code.
func execute(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("FX_HOME", t.TempDir())
	t.Setenv("FX_BOOTSTRAP", "")
	var out, errw bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errw)
	err := root.Execute()
	if err != nil {
		errw.WriteString("fx: " + err.Error() + "\n")
	}
	return out.String(), errw.String(), fault.KindOf(err).ExitCode()
}
