package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

const e2eSource = `
import time

def add(a, b=0):
    return a + b

def fail():
    raise KeyError("missing")

def nap(s):
    time.sleep(s)
    return s
`

// endpointMesh starts a bootstrap and one endpoint owned (and claimed) by a
// fresh user, and registers the e2e functions; it returns the user's FX_HOME, the
// endpoint process and its ID.
func endpointMesh(t *testing.T) (home string, ep *proc, epID string, boot *proc) {
	t.Helper()
	processes(t)
	root := t.TempDir()
	home = filepath.Join(root, "home")
	user, err := fx(t, home, "id", "init")
	if err != nil {
		t.Fatal(err)
	}
	boot = startNode(t, filepath.Join(root, "boot"), "bootstrap", "--dir", filepath.Join(root, "boot"), "--listen", "/ip4/127.0.0.1/tcp/0")
	dir := filepath.Join(root, "ep")
	fxnodeInit(t, home, dir, "--name", "ep", "--owner", strings.TrimSpace(user), "--bootstrap", boot.addr())
	ep = startNode(t, dir, "run", "--dir", dir)
	src := filepath.Join(root, "f.py")
	if err := os.WriteFile(src, []byte(e2eSource), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"add", "fail", "nap"} {
		if _, err := fx(t, home, "function", "register", name, "--python", src, "--entry", name, "--bootstrap", boot.addr()); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "multiaddrs"))
	addr := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	epID = addr[strings.LastIndex(addr, "/")+1:]
	return home, ep, epID, boot
}

func TestRunAndExitCodes(t *testing.T) {
	processes(t)
	home, _, epID, boot := endpointMesh(t)
	out, err := fx(t, home, "run", "add", "--args", "[40]", "--kwargs", `{"b": 2}`, "--endpoint", epID, "--bootstrap", boot.addr())
	if err != nil || strings.TrimSpace(out) != "42" {
		t.Fatalf("fx run add: %q %v", out, err)
	}
	_, err = fx(t, home, "run", "fail", "--endpoint", epID, "--bootstrap", boot.addr())
	if err == nil || !strings.Contains(err.Error(), "KeyError") || !strings.Contains(err.Error(), "Traceback") {
		t.Fatalf("fx run fail: %v", err)
	}
	if code := exitCode(err); code != fault.User.ExitCode() {
		t.Fatalf("fx run fail exited %d, want %d", code, fault.User.ExitCode())
	}
	_, err = fx(t, home, "run", "nosuch", "--endpoint", epID, "--bootstrap", boot.addr())
	if code := exitCode(err); code != fault.NotFound.ExitCode() {
		t.Fatalf("unknown function exited %d (%v)", code, err)
	}
}

func TestResultSurvivesRestartAndKilledTaskFails(t *testing.T) {
	processes(t)
	home, ep, epID, boot := endpointMesh(t)
	b := "--bootstrap=" + boot.addr()
	task := submitTask(t, home, b, epID, "add", "[1, 2]")
	waitStatus(t, home, b, task, "done")
	// Stop and restart the endpoint; the result is still there, asked for
	// as soon as the endpoint says it is ready.
	ep.signal(syscall.SIGTERM)
	<-ep.done
	ep = startNode(t, ep.dir, "run", "--dir", ep.dir)
	out, err := fx(t, home, "result", task, b)
	if err != nil || strings.TrimSpace(out) != "3" {
		t.Fatalf("fx result after restart: %q %v", out, err)
	}

	// A task running when the endpoint is killed is failed (system) after
	// the restart.
	task = submitTask(t, home, b, epID, "nap", "[3600]")
	waitStatus(t, home, b, task, "running")
	ep.signal(syscall.SIGKILL)
	<-ep.done
	startNode(t, ep.dir, "run", "--dir", ep.dir)
	out, err = fx(t, home, "status", task, "--json", b)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		State string `json:"state"`
		Error struct {
			Kind string `json:"kind"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.State != "failed" || st.Error.Kind != "system" {
		t.Fatalf("killed task: %s", out)
	}
	if _, err := fx(t, home, "result", task, b); exitCode(err) != fault.System.ExitCode() {
		t.Fatalf("fx result of killed task: %v", err)
	}
}

func TestBatchOfTenThousand(t *testing.T) {
	processes(t)
	home, _, epID, boot := endpointMesh(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	var sb strings.Builder
	const n = 10000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, `{"args": [%d], "kwargs": {"b": 1}}`+"\n", i)
	}
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := fx(t, home, "batch", "add", "--input", in, "--output", out, "--endpoint", epID, "--bootstrap", boot.addr()); err != nil {
		t.Fatal(err)
	}
	t.Logf("batch of %d took %s", n, time.Since(start))
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := make([]int, n)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Index int `json:"index"`
			Value int `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r.Index < 0 || r.Index >= n || r.Value != r.Index+1 {
			t.Fatalf("bad result %q", sc.Text())
		}
		seen[r.Index]++
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("index %d appears %d times", i, c)
		}
	}
}
