//go:build unix

package python

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	fxexec "github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// TestTimeoutKillsGroup: a timeout kills what the task started too.
func TestTimeoutKillsGroup(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	defer p.Close()
	pidFile := filepath.Join(t.TempDir(), "pid")
	fn := pyFn("spawn", "import subprocess, time\ndef f(path):\n    c = subprocess.Popen(['sleep', '60'])\n    open(path, 'w').write(str(c.pid))\n    time.sleep(60)\n", "f")
	r, err := p.Execute(t.Context(), fxexec.Task{Function: fn, Args: raw(strconv.Quote(pidFile)), Timeout: 500 * time.Millisecond})
	_ = r
	if err == nil {
		// Args were a string, not an array: the call is refused.
		t.Fatal("Execute took args that are not an array")
	}
	args, _ := json.Marshal([]string{pidFile})
	r, err = p.Execute(t.Context(), fxexec.Task{Function: fn, Args: args, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, r, fault.Timeout, "Timeout", "timed out after 500ms")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the task's child %d outlived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdleDeath: a worker that dies between tasks costs the next task
// nothing: it runs on a fresh worker.
func TestIdleDeath(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	defer p.Close()
	// The task returns its worker's pid and leaves a thread that ends the
	// worker (status 7) once the file named go exists.
	fn := pyFn("later", `import os, threading, time
def f(go):
    def wait():
        while not os.path.exists(go):
            time.sleep(0.005)
        os._exit(7)
    threading.Thread(target=wait, daemon=True).start()
    return os.getpid()
`, "f")
	trigger := filepath.Join(t.TempDir(), "go")
	args, _ := json.Marshal([]string{trigger})
	r := run(t, p, fn, string(args), "")
	if r.Error != nil {
		t.Fatalf("Error = %+v, stderr %q", r.Error, r.Stderr)
	}
	pid, err := strconv.Atoi(string(r.Value))
	if err != nil {
		t.Fatalf("Value = %s, want a pid", r.Value)
	}
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the idle worker %d did not exit", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantValue(t, run(t, p, pyFn("next", "def f():\n    return 'next'\n", "f"), "", ""), `"next"`)
	if n := p.nextID.Load(); n != 2 {
		t.Errorf("%d workers started, want 2", n)
	}
}

// alive reports whether pid runs: it exists and is no zombie (in a
// container, nobody may reap the orphans of a killed worker).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false
		}
		return syscall.Kill(pid, 0) == nil
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}
