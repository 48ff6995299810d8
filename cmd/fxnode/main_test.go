package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/node"
)

// execute runs fxnode in this process with args, with an empty FX_HOME,
// and returns what it printed and its exit code.
func execute(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("FX_HOME", t.TempDir())
	var out, errw bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errw)
	// A node that starts by mistake stops, and the test fails, instead of
	// serving until the test binary's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	if err != nil {
		errw.WriteString("fxnode: " + err.Error() + "\n")
	}
	return out.String(), errw.String(), fault.KindOf(err).ExitCode()
}

// TestInitRefusesABadOwner: a mistyped --owner fails at once with exit 2
// and leaves nothing behind: no directory it made, no key in one it did
// not.
func TestInitRefusesABadOwner(t *testing.T) {
	t.Run("a new directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ep")
		_, stderr, code := execute(t, "init", "--dir", dir, "--owner", "12D3KooWnotanid")
		if code != 2 || !strings.Contains(stderr, `--owner "12D3KooWnotanid" is not a user ID`) {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("init left %s behind: %v", dir, err)
		}
	})
	t.Run("a directory that exists", func(t *testing.T) {
		dir := t.TempDir()
		_, _, code := execute(t, "init", "--dir", dir, "--owner", "alice")
		entries, _ := os.ReadDir(dir)
		if code != 2 || len(entries) != 0 {
			t.Fatalf("exit %d, left %v", code, entries)
		}
	})
	t.Run("a failure after the key is made removes it", func(t *testing.T) {
		dir := t.TempDir()
		// config.yaml a directory: writing it fails after the key exists.
		if err := os.Mkdir(filepath.Join(dir, node.ConfigFile), 0o700); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := execute(t, "init", "--dir", dir, "--force", "--name", "x")
		if code == 0 {
			t.Fatalf("init succeeded: %s", stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, node.KeyFile)); !os.IsNotExist(err) {
			t.Fatalf("init left its key behind: %v", err)
		}
	})
}

// TestSecondNodeOnADirectory: a second fxnode on a directory in use says
// which process holds it, with exit 6, instead of waiting on its database.
func TestSecondNodeOnADirectory(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	want := "already running on " + dir + " (pid " + itoa(os.Getpid()) + ")"
	for _, args := range [][]string{{"run", "--dir", dir}, {"bootstrap", "--dir", dir}} {
		_, stderr, code := execute(t, args...)
		if code != 6 || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d: %s (want %q)", args, code, stderr, want)
		}
	}
	unlock()
	again, err := lockDir(dir)
	if err != nil {
		t.Fatalf("the lock was not let go: %v", err)
	}
	again()
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestPolicyPrinted: what fxnode run prints of the policy in force.
func TestPolicyPrinted(t *testing.T) {
	var b bytes.Buffer
	printPolicy(&b, &node.Config{Owner: "12D3KooWowner", Allowed: []string{"12D3KooWa"}, Functions: []string{"bafyf"}, MaxQueue: 10, MaxTimeout: time.Minute})
	for _, s := range []string{
		"policy: owner 12D3KooWowner\n",
		"policy: callers: the owner and 12D3KooWa\n",
		"policy: functions: only bafyf\n",
		"max_queue 10, max_input_bytes default (10 MiB)", "max_timeout 1m0s",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("policy %q lacks %q", b.String(), s)
		}
	}
	if strings.Contains(b.String(), "warning") {
		t.Errorf("a warning for a private endpoint: %s", b.String())
	}
	b.Reset()
	printPolicy(&b, &node.Config{Owner: "o", Public: true})
	if !strings.Contains(b.String(), "policy: callers: anyone (public: true)") || !strings.Contains(b.String(), "warning: public: true lets anyone with a key run code on this machine as the fxnode user") {
		t.Errorf("public policy: %s", b.String())
	}
}

// TestUnknownCommand: an unknown command exits 2 with the near one, and
// --version prints the build.
func TestUnknownCommand(t *testing.T) {
	if _, stderr, code := execute(t, "rnu", "--dir", "x"); code != 2 || !strings.Contains(stderr, `unknown command "rnu" for "fxnode"; did you mean "run"?`) {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if out, _, code := execute(t, "--version"); code != 0 || !strings.HasPrefix(out, "fxnode ") || !strings.Contains(out, "commit ") {
		t.Errorf("--version: exit %d: %q", code, out)
	}
}
