package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBatchProgressQueuedRunning: on a terminal, fx batch's progress bar
// says how many inputs wait in a queued task and, once it runs, how many
// are left in it. The endpoint has one worker, held by an earlier task, so
// the batch's task queues first; fx batch runs under script(1) for a
// terminal.
func TestBatchProgressQueuedRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a mesh")
	}
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed (util-linux): no terminal to run fx batch on")
	}
	processes(t)
	root := t.TempDir()
	home := filepath.Join(root, "home")
	user, err := fx(t, home, "id", "init")
	if err != nil {
		t.Fatal(err)
	}
	boot := startNode(t, filepath.Join(root, "boot"), "bootstrap", "--dir", filepath.Join(root, "boot"), "--listen", "/ip4/127.0.0.1/tcp/0")
	dir := filepath.Join(root, "ep")
	fxnodeInit(t, home, dir, "--name", "ep", "--owner", strings.TrimSpace(user), "--bootstrap", boot.addr())
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^workers:`).Match(cfg) {
		t.Fatalf("%s sets workers: already; the test adds its own:\n%s", cfgPath, cfg)
	}
	if err := os.WriteFile(cfgPath, append(cfg, "\nworkers: 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, dir, "run", "--dir", dir)
	src := filepath.Join(root, "f.py")
	if err := os.WriteFile(src, []byte(e2eSource), 0o644); err != nil {
		t.Fatal(err)
	}
	b := "--bootstrap=" + boot.addr()
	if _, err := fx(t, home, "function", "register", "nap", "--python", src, "--entry", "nap", b); err != nil {
		t.Fatal(err)
	}
	addrs, _ := os.ReadFile(filepath.Join(dir, "multiaddrs"))
	addr := strings.TrimSpace(strings.SplitN(string(addrs), "\n", 2)[0])
	epID := addr[strings.LastIndex(addr, "/")+1:]

	// The one worker busy for 6 s: the batch's task waits behind it.
	hold := submitTask(t, home, b, epID, "nap", "[6]")
	waitStatus(t, home, b, hold, "running")
	input := filepath.Join(root, "in.jsonl")
	if err := os.WriteFile(input, []byte(strings.Repeat("{\"args\": [1]}\n", 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	line := strings.Join([]string{bin.fx, "batch", "nap", "--input", input, "--endpoint", epID, b}, " ")
	cmd := exec.CommandContext(ctx, script, "-qefc", line, "/dev/null")
	cmd.Env = append(os.Environ(), "FX_HOME="+home, "FX_BOOTSTRAP=", "TERM=dumb", "COLUMNS=120")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fx batch on a terminal: %v\n%s", err, out)
	}
	screen := string(out)
	for _, want := range []string{"queued 3", "running "} {
		if !strings.Contains(screen, want) {
			t.Errorf("the progress bar never said %q; the terminal showed:\n%q", want, screen)
		}
	}
	if strings.Index(screen, "queued 3") > strings.LastIndex(screen, "running ") {
		t.Errorf("the bar said queued after running; the terminal showed:\n%q", screen)
	}
}
