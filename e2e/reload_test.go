package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/node"
)

const holdSource = `
import os, time

def hold(path):
    while not os.path.exists(path):
        time.sleep(0.05)
    return "held"
`

// waitOutput waits up to a minute for the process's output to hold want
// n times or more.
func (p *proc) waitOutput(t *testing.T, want string, n int) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("%q %d times in fxnode's output", want, n), func() error {
		if got := strings.Count(p.output(), want); got < n {
			return fmt.Errorf("%d times", got)
		}
		return nil
	})
}

// editConfig changes the endpoint's config.yaml in dir with edit.
func editConfig(t *testing.T, dir string, edit func(*node.Config)) {
	t.Helper()
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	if err := node.SaveConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPReloadsPolicy: fxnode run puts a changed config.yaml's policy
// and limits in force on SIGHUP, with a task admitted before it running
// on to its result, and keeps the policy in force when the config does
// not validate.
func TestSIGHUPReloadsPolicy(t *testing.T) {
	processes(t)
	home, ep, epID, boot := endpointMesh(t)
	b := "--bootstrap=" + boot.addr()
	owner, err := fx(t, home, "id", "show")
	if err != nil {
		t.Fatal(err)
	}
	owner = strings.TrimSpace(owner)
	// Another user, not allowed at first.
	other := filepath.Join(t.TempDir(), "other")
	otherID, err := fx(t, other, "id", "init")
	if err != nil {
		t.Fatal(err)
	}
	otherID = strings.TrimSpace(otherID)
	src := filepath.Join(t.TempDir(), "hold.py")
	if err := os.WriteFile(src, []byte(holdSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fx(t, other, "function", "register", "hold", "--python", src, "--entry", "hold", b); err != nil {
		t.Fatal(err)
	}
	release := filepath.Join(exectest.SharedDir(t), "release")
	args := fmt.Sprintf("[%q]", release)
	if _, err := fx(t, other, "submit", "hold", "--args", args, "--endpoint", epID, b); exitCode(err) != fault.Denied.ExitCode() {
		t.Fatalf("a user not allowed submitted: %v", err)
	}

	// Allowed by a reload.
	editConfig(t, ep.dir, func(c *node.Config) { c.Allowed = []string{otherID} })
	ep.signal(syscall.SIGHUP)
	ep.waitOutput(t, "config reloaded", 1)
	if !strings.Contains(ep.output(), "policy: callers: the owner and "+otherID) {
		t.Fatalf("the reload printed no policy allowing %s:\n%s", otherID, ep.output())
	}
	task := submitTask(t, other, b, epID, "hold", args)
	waitStatus(t, other, b, task, "running")

	// Denied again, and the allowlist narrowed to the owner's nap, with
	// the task still running; a change that needs a restart is named.
	editConfig(t, ep.dir, func(c *node.Config) {
		c.Allowed = nil
		c.Functions = []string{owner + "/nap"}
		c.Workers = 3
	})
	ep.signal(syscall.SIGHUP)
	ep.waitOutput(t, "config reloaded", 2)
	if out := ep.output(); !strings.Contains(out, "need a restart") || !strings.Contains(out, "settings=workers") {
		t.Fatalf("the reload did not say that workers needs a restart:\n%s", out)
	}
	_, err = fx(t, other, "run", "hold", "--args", args, "--endpoint", epID, b)
	if exitCode(err) != fault.Denied.ExitCode() || !strings.Contains(err.Error(), otherID+" may not use this endpoint") {
		t.Fatalf("a user no longer allowed ran: %v", err)
	}
	_, err = fx(t, home, "run", "add", "--args", "[1]", "--endpoint", epID, b)
	if exitCode(err) != fault.Denied.ExitCode() || !strings.Contains(err.Error(), "is not offered here") {
		t.Fatalf("a function left out of the allowlist ran: %v", err)
	}
	if out, err := fx(t, home, "run", "nap", "--args", "[0]", "--endpoint", epID, b); err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("the allowed nap: %q %v", out, err)
	}

	// A config that does not validate is refused; the policy stays.
	if err := os.WriteFile(filepath.Join(ep.dir, node.ConfigFile), []byte("max_queue: -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ep.signal(syscall.SIGHUP)
	ep.waitOutput(t, "config reload refused", 1)
	if _, err := fx(t, home, "run", "add", "--args", "[1]", "--endpoint", epID, b); exitCode(err) != fault.Denied.ExitCode() {
		t.Fatalf("after a refused reload, the allowlist is gone: %v", err)
	}

	// The task admitted before the reloads completes.
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := fx(t, other, "result", task, "--wait", b)
	if err != nil || strings.TrimSpace(out) != `"held"` {
		t.Fatalf("the task admitted before the reload: %q %v", out, err)
	}
}
