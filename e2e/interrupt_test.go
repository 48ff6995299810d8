package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/exectest"
)

// TestCtrlCNamesRunningTask: Ctrl-C (SIGINT) during fx run of a function
// still running makes fx exit 130 naming the task and the commands that
// collect it, and the task runs on: fx result later returns its result.
func TestCtrlCNamesRunningTask(t *testing.T) {
	processes(t)
	home, _, epID, boot := endpointMesh(t)
	b := "--bootstrap=" + boot.addr()
	src := filepath.Join(t.TempDir(), "hold.py")
	if err := os.WriteFile(src, []byte(holdSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fx(t, home, "function", "register", "hold", "--python", src, "--entry", "hold", b); err != nil {
		t.Fatal(err)
	}
	release := filepath.Join(exectest.SharedDir(t), "release")
	run := exec.Command(bin.fx, "run", "hold", "--args", fmt.Sprintf("[%q]", release), "--endpoint", epID, b)
	run.Env = append(os.Environ(), "FX_HOME="+home, "FX_BOOTSTRAP=")
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &lockedWriter{w: &stderr}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once run ended; then waitErr is set
	go func() { waitErr = run.Wait(); close(exited) }()
	t.Cleanup(func() {
		run.Process.Kill()
		<-exited
	})

	// The task is in the local record, and running, before the Ctrl-C.
	var task string
	eventually(t, time.Minute, "fx run's task running", func() error {
		for id, v := range fxTasks(t, home, b) {
			if v.State == "running" {
				task = id
				return nil
			}
		}
		return fmt.Errorf("no running task in fx tasks")
	})
	if err := run.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("fx run did not exit within a minute of SIGINT; stderr:\n%s", run.Stderr.(*lockedWriter).String())
	}
	err := waitErr
	msg := run.Stderr.(*lockedWriter).String()
	if code := exitCode(err); code != 130 {
		t.Fatalf("fx run exited %d (%v), want 130; stderr:\n%s", code, err, msg)
	}
	for _, want := range []string{"interrupted", task, "fx result " + task + " --wait", "fx status " + task} {
		if !strings.Contains(msg, want) {
			t.Fatalf("fx run's stderr lacks %q:\n%s", want, msg)
		}
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := fx(t, home, "result", task, "--wait", b)
	if err != nil || strings.TrimSpace(out) != `"held"` {
		t.Fatalf("fx result of the interrupted run's task: %q %v", out, err)
	}
}
