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
		errw.WriteString("fx: " + message(err) + "\n")
	}
	return out.String(), errw.String(), fault.KindOf(err).ExitCode()
}

// TestUsageErrors: every mistake in the command line exits 2 (never 10,
// never 0 with the help), and an unknown command or subcommand names the
// near one.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
		stdout string
	}{
		{"an unknown command", []string{"functoin"}, 2, []string{`unknown command "functoin" for "fx"; did you mean "function"?`, "fx --help"}, ""},
		{"an unknown command, nothing near", []string{"zzzz"}, 2, []string{`unknown command "zzzz" for "fx"`}, ""},
		{"an unknown subcommand", []string{"function", "lst"}, 2, []string{`unknown command "lst" for "fx function"; did you mean "list"?`}, ""},
		{"an unknown subcommand with arguments", []string{"endpoint", "shw", "x"}, 2, []string{`did you mean "show"?`}, ""},
		{"an unknown subcommand of trust", []string{"trust", "ad", "x"}, 2, []string{`did you mean "add"?`}, ""},
		{"a group alone prints its help", []string{"function"}, 0, nil, "Usage:"},
		{"an unknown flag", []string{"endpoints", "--no-such-flag"}, 2, []string{"unknown flag: --no-such-flag"}, ""},
		{"an unknown flag of fx", []string{"--no-such-flag"}, 2, []string{"unknown flag: --no-such-flag"}, ""},
		{"an unknown command with flags", []string{"fucntion", "list", "--mine"}, 2, []string{`unknown command "fucntion" for "fx"; did you mean "function"?`}, ""},
		{"a bad flag value", []string{"run", "f", "--timeout", "abc"}, 2, []string{`invalid argument "abc" for "--timeout"`}, ""},
		{"a missing argument", []string{"run"}, 2, []string{"accepts 1 arg(s)"}, ""},
		{"--version", []string{"--version"}, 0, nil, "commit "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := execute(t, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q lacks %q", stderr, s)
				}
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout, tc.stdout)
			}
		})
	}
}

// TestIDInitKeepsKey: fx id init where a key is already (fxnode dev made
// one, or the README is followed a second time) keeps it, prints its ID and
// exits 0; --force replaces it.
func TestIDInitKeepsKey(t *testing.T) {
	t.Setenv("FX_HOME", t.TempDir())
	run := func(args ...string) (string, string, int) {
		var out, errw bytes.Buffer
		root := newRootCmd()
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&errw)
		err := root.Execute()
		if err != nil {
			errw.WriteString("fx: " + message(err) + "\n")
		}
		return strings.TrimSpace(out.String()), errw.String(), fault.KindOf(err).ExitCode()
	}
	first, stderr, code := run("id", "init")
	if code != 0 || first == "" {
		t.Fatalf("first fx id init: exit %d, stdout %q, stderr %q", code, first, stderr)
	}
	again, stderr, code := run("id", "init")
	if code != 0 || again != first {
		t.Fatalf("second fx id init: exit %d, stdout %q (want %q), stderr %q", code, again, first, stderr)
	}
	if !strings.Contains(stderr, "kept") || !strings.Contains(stderr, "--force") {
		t.Errorf("second fx id init says %q; want that the key was kept and how to replace it", stderr)
	}
	if shown, _, _ := run("id", "show"); shown != first {
		t.Errorf("fx id show %q after a second init, want %q", shown, first)
	}
	forced, stderr, code := run("id", "init", "--force")
	if code != 0 || forced == "" || forced == first {
		t.Fatalf("fx id init --force: exit %d, stdout %q (the old ID %q), stderr %q", code, forced, first, stderr)
	}
}
