package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin holds the paths of the binaries: dir is made by TestMain, fxnode
// and fx are built there by the first test that calls processes.
var bin struct {
	dir, fxnode, fx string
	once            sync.Once
	err             error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fxmesh-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// processes starts every test and benchmark here: it skips with -short,
// and otherwise builds fxnode and fx, once.
func processes(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("end-to-end: starts fxnode and fx processes; skipped with -short")
	}
	bin.once.Do(func() {
		fxnode, fx := filepath.Join(bin.dir, "fxnode"), filepath.Join(bin.dir, "fx")
		for path, pkg := range map[string]string{fxnode: "../cmd/fxnode", fx: "../cmd/fx"} {
			args := []string{"build", "-o", path}
			if raceEnabled {
				args = append(args, "-race")
			}
			if out, err := exec.Command("go", append(args, pkg)...).CombinedOutput(); err != nil {
				bin.err = fmt.Errorf("build %s: %w: %s", pkg, err, out)
				return
			}
		}
		bin.fxnode, bin.fx = fxnode, fx
	})
	if bin.err != nil {
		tb.Fatal(bin.err)
	}
}

// startTimeout bounds the wait for a node's DIR/multiaddrs: a node that
// never gets there is stuck, not slow.
const startTimeout = 2 * time.Minute

// proc is a running fxnode.
type proc struct {
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// lockedWriter lets a process's stdout and stderr share one buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// startNode runs `fxnode ARGS...` in dir and waits for DIR/multiaddrs:
// the node is then ready (an endpoint with a bootstrap is in the DHT).
func startNode(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	processes(t)
	return startNodeEnv(t, bin.fxnode, nil, dir, args...)
}

// startNodeEnv runs binary ARGS... with env added to the test's
// environment (an entry "K=" removes K) and waits for DIR/multiaddrs, or
// for the process to exit.
func startNodeEnv(t testing.TB, binary string, env []string, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	if len(env) > 0 {
		cmd.Env = withEnv(os.Environ(), env)
	}
	var out bytes.Buffer
	cmd.Stdout = &lockedWriter{w: &out}
	cmd.Stderr = cmd.Stdout
	os.Remove(filepath.Join(dir, "multiaddrs"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("fxnode %v output:\n%s", args, p.output())
		}
	})
	start := time.Now()
	deadline := start.Add(startTimeout)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "multiaddrs")); err == nil && len(b) > 0 {
			if d := time.Since(start); d > 10*time.Second {
				t.Logf("fxnode %v ready after %s", args, d.Round(time.Millisecond))
			}
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("fxnode %v exited: %s", args, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("fxnode %v wrote no multiaddrs in %s", args, startTimeout)
		}
	}
}

func (p *proc) output() string {
	if lw, ok := p.cmd.Stdout.(*lockedWriter); ok {
		return lw.String()
	}
	return ""
}

func (p *proc) signal(s syscall.Signal) {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(s)
	}
}

// addr is the node's first multiaddr.
func (p *proc) addr() string {
	b, err := os.ReadFile(filepath.Join(p.dir, "multiaddrs"))
	if err != nil {
		p.t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan()
	return strings.TrimSpace(sc.Text())
}

// withEnv returns base with each of set applied: "K=V" sets K, "K=" removes
// it.
func withEnv(base, set []string) []string {
	out := make([]string, 0, len(base)+len(set))
	drop := map[string]bool{}
	for _, kv := range set {
		drop[kv[:strings.Index(kv, "=")+1]] = true
	}
	for _, kv := range base {
		if i := strings.Index(kv, "="); i < 0 || !drop[kv[:i+1]] {
			out = append(out, kv)
		}
	}
	for _, kv := range set {
		if !strings.HasSuffix(kv, "=") {
			out = append(out, kv)
		}
	}
	return out
}

// fx runs the client with FX_HOME=home and returns its stdout, or an error
// holding its stderr when it exits non-zero.
func fx(t *testing.T, home string, args ...string) (string, error) {
	t.Helper()
	stdout, _, err := fxWithStderr(t, home, args...)
	return stdout, err
}

// fxWithStderr is fx that returns stderr too.
func fxWithStderr(t *testing.T, home string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if bin.fx == "" {
		return "", "", errors.New("e2e: fx is not built: the test must call processes first")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.fx, args...)
	cmd.Env = append(os.Environ(), "FX_HOME="+home, "FX_BOOTSTRAP=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("fx %v: %w: %s", args, err, errOut.String())
	}
	return out.String(), errOut.String(), err
}

// endpoint is the subset of fx endpoints --json the tests read.
type endpoint struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Owner    string `json:"owner"`
	Online   bool   `json:"online"`
	Addrs    []string
	Hardware struct {
		CPUs        int    `json:"cpus"`
		MemoryBytes uint64 `json:"memory_bytes"`
		Arch        string `json:"arch"`
		OS          string `json:"os"`
		GPUs        []struct {
			Model       string `json:"model"`
			MemoryBytes uint64 `json:"memory_bytes"`
		} `json:"gpus"`
	} `json:"hardware"`
	Software struct {
		Python     []string `json:"python"`
		Containers []string `json:"containers"`
		Scheduler  string   `json:"scheduler"`
	} `json:"software"`
	Labels    map[string]string `json:"labels"`
	Datasets  []string          `json:"datasets"`
	UpdatedAt time.Time         `json:"updated_at"`

	// OwnerVerified and OwnerUnverified say whether the owner's claim holds.
	OwnerVerified   bool   `json:"owner_verified"`
	OwnerUnverified string `json:"owner_unverified"`
}

func listEndpoints(t *testing.T, home string, boot string) ([]endpoint, error) {
	t.Helper()
	out, err := fx(t, home, "endpoints", "--json", "--bootstrap", boot)
	if err != nil {
		return nil, err
	}
	var eps []endpoint
	if err := json.Unmarshal([]byte(out), &eps); err != nil {
		return nil, fmt.Errorf("fx endpoints --json printed %q: %w", out, err)
	}
	return eps, nil
}

// eventually retries f every 200ms until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if !time.Now().Before(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not within %s: %v", what, d, err)
}

// submitTask submits fn with args (JSON) to the endpoint epID by fx
// submit, with its --bootstrap flag b, and returns the task ID.
func submitTask(t *testing.T, home, b, epID, fn, args string) string {
	t.Helper()
	task, err := fx(t, home, "submit", fn, "--args", args, "--endpoint", epID, b)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(task)
}

// waitStatus waits up to a minute for fx status of task, with its
// --bootstrap flag b, to print state.
func waitStatus(t *testing.T, home, b, task, state string) {
	t.Helper()
	eventually(t, time.Minute, "task "+state, func() error {
		out, err := fx(t, home, "status", task, b)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != state {
			return fmt.Errorf("status %q", out)
		}
		return nil
	})
}

var execCommand = exec.Command

// fxnodeInit runs fxnode init --dir dir ARGS... with FX_HOME=home, as the
// user of that home sets up an endpoint, and returns what it printed.
func fxnodeInit(t *testing.T, home, dir string, args ...string) string {
	t.Helper()
	processes(t)
	cmd := execCommand(bin.fxnode, append([]string{"init", "--dir", dir}, args...)...)
	cmd.Env = append(os.Environ(), "FX_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fxnode init %v: %v: %s", args, err, out)
	}
	return string(out)
}

// exitCode is the exit status inside an error from fx, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
