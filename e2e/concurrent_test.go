package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/exectest"
)

// concurrentSource is the Python of TestConcurrentFxOfOneUser.
const concurrentSource = `
import os, time, uuid

def add(a, b=0):
    return a + b

def nap(s, mark):
    open(mark, "w").close()
    time.sleep(s)
    return s

def gate(dir, n, abort):
    open(os.path.join(dir, uuid.uuid4().hex), "w").close()
    deadline = time.time() + 120
    while time.time() < deadline:
        if os.path.exists(abort):
            return -1
        if len(os.listdir(dir)) >= n:
            return n
        time.sleep(0.05)
    return -2
`

// plainFx is fx built without the race detector, for tests that start a
// hundred clients at once: a race-enabled fx needs several times the memory
// and CPU, which a 2-core machine running a hundred of them cannot give.
var plainFx struct {
	once sync.Once
	path string
	err  error
}

// plainFxBinary builds plainFx once (bin.fx itself when the tests run
// without -race).
func plainFxBinary(t *testing.T) string {
	t.Helper()
	processes(t)
	if !raceEnabled {
		return bin.fx
	}
	plainFx.once.Do(func() {
		plainFx.path = filepath.Join(bin.dir, "fx-plain")
		out, err := exec.Command("go", "build", "-o", plainFx.path, "../cmd/fx").CombinedOutput()
		if err != nil {
			plainFx.err = fmt.Errorf("build plain fx: %w: %s", err, out)
		}
	})
	if plainFx.err != nil {
		t.Fatal(plainFx.err)
	}
	return plainFx.path
}

// fxRun is one finished fx process.
type fxRun struct {
	stdout string
	err    error // with stderr, as fx gives it
	maxRSS int64 // peak resident set, bytes
	cpu    time.Duration
}

// runFx runs the fx binary at path with FX_HOME=home, up to two minutes.
func runFx(path, home string, args ...string) fxRun {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "FX_HOME="+home, "FX_BOOTSTRAP=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("fx %v: %w: %s", args, err, strings.TrimSpace(stderr.String()))
	}
	r := fxRun{stdout: stdout.String(), err: err}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.maxRSS = ru.Maxrss * 1024
			r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return r
}

// concurrentMesh is endpointMesh with workers enough for every gate of
// TestConcurrentFxOfOneUser at once, and its functions registered.
func concurrentMesh(t *testing.T, workers int) (home, epID string, boot, ep *proc) {
	t.Helper()
	root := t.TempDir()
	home = filepath.Join(root, "home")
	user, err := fx(t, home, "id", "init")
	if err != nil {
		t.Fatal(err)
	}
	boot = startNode(t, filepath.Join(root, "boot"), "bootstrap", "--dir", filepath.Join(root, "boot"), "--listen", "/ip4/127.0.0.1/tcp/0")
	dir := filepath.Join(root, "ep")
	out, err := execCommand(bin.fxnode, "init", "--dir", dir, "--name", "ep", "--owner", strings.TrimSpace(user), "--bootstrap", boot.addr()).CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	cfg, err := os.OpenFile(filepath.Join(dir, "config.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(cfg, "\nworkers: %d\n", workers)
	if cerr := cfg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	ep = startNode(t, dir, "run", "--dir", dir)
	src := filepath.Join(root, "f.py")
	if err := os.WriteFile(src, []byte(concurrentSource), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"add", "nap", "gate"} {
		if _, err := fx(t, home, "function", "register", name, "--python", src, "--entry", name, "--bootstrap", boot.addr()); err != nil {
			t.Fatal(err)
		}
	}
	addr := ep.addr()
	return home, addr[strings.LastIndex(addr, "/")+1:], boot, ep
}

// cpuOf is the CPU time process p has used so far, or 0 where /proc does
// not tell.
func cpuOf(p *proc) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields 14 and 15 of the line, user and system time in clock ticks
	// (100 a second on Linux), are the 12th and 13th after the command's
	// closing parenthesis.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// TestConcurrentFxOfOneUser is issue 9's acceptance for one user's many fx
// processes. They share one $FX_HOME, so they must not hold its catalog
// while they talk to the mesh; and they dial with one key, so an endpoint
// sees them as many connections of one peer and must let them all in.
//
//   - 40 fx processes at once each run gate, which returns only when all 40
//     invocations have arrived: all 40 are connected at the same time.
//   - 8 loops of 100 fx processes at once run add, while another fx runs a
//     6 s function (one after another, for as long as the loops last): not
//     one fails.
//
// The hundred clients are fx built without the race detector (see
// plainFx); the nodes are built as the other tests build them.
func TestConcurrentFxOfOneUser(t *testing.T) {
	if os.Getenv("FXMESH_LOAD") == "" {
		t.Skip("starts 840 fx processes on a machine it must have to itself: make test-load runs it (FXMESH_LOAD=1)")
	}
	processes(t)
	const (
		connect = 40
		loops   = 8
		runs    = 100
	)
	fxPath := plainFxBinary(t)
	home, epID, boot, ep := concurrentMesh(t, connect+4)
	bootFlag := "--bootstrap=" + boot.addr()
	scratch := exectest.SharedDir(t) // the workers write into it, as worker uids

	t.Run("40 at once all connect", func(t *testing.T) {
		dir, abort := filepath.Join(scratch, "gate"), filepath.Join(scratch, "abort")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil { // the workers make files in it
			t.Fatal(err)
		}
		kwargs := fmt.Sprintf(`{"dir": %q, "n": %d, "abort": %q}`, dir, connect, abort)
		start := time.Now()
		results := make([]fxRun, connect)
		var wg sync.WaitGroup
		var once sync.Once
		for i := range connect {
			wg.Go(func() {
				results[i] = runFx(fxPath, home, "run", "gate", "--kwargs", kwargs, "--endpoint", epID, bootFlag)
				if results[i].err != nil { // the others need not wait for the gate
					once.Do(func() { os.WriteFile(abort, nil, 0o644) })
				}
			})
		}
		wg.Wait()
		var failed, short []string // fx failed; gate let go before all arrived
		for _, r := range results {
			switch {
			case r.err != nil:
				failed = append(failed, r.err.Error())
			case strings.TrimSpace(r.stdout) != fmt.Sprint(connect):
				short = append(short, fmt.Sprintf("gate returned %q", strings.TrimSpace(r.stdout)))
			}
		}
		t.Logf("%d fx at once: %d failed, %d let go early, %s", connect, len(failed), len(short), time.Since(start).Round(time.Millisecond))
		if failed = append(failed, short...); len(failed) > 0 {
			t.Fatalf("%d of %d failed, first: %s", len(failed), connect, failed[0])
		}
	})

	t.Run("8 loops of 100 beside a 6s run", func(t *testing.T) {
		// The long runs go on, one after another, until the loops are done.
		stop := make(chan struct{})
		var napWG sync.WaitGroup
		var napFailed []string
		naps := 0
		napWG.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mark := filepath.Join(scratch, fmt.Sprintf("nap-%d", i))
				r := runFx(fxPath, home, "run", "nap", "--kwargs", fmt.Sprintf(`{"s": 6, "mark": %q}`, mark), "--endpoint", epID, bootFlag)
				naps++
				if r.err != nil {
					napFailed = append(napFailed, r.err.Error())
				}
			}
		})
		stopNaps := sync.OnceFunc(func() { close(stop); napWG.Wait() })
		defer stopNaps()
		first := filepath.Join(scratch, "nap-0")
		eventually(t, time.Minute, "the 6s function running", func() error {
			_, err := os.Stat(first)
			return err
		})

		start := time.Now()
		bootCPU, epCPU := cpuOf(boot), cpuOf(ep)
		var failed []string
		var maxRSS, waveRSS int64
		for loop := range loops {
			began := time.Now()
			results := make([]fxRun, runs)
			var wg sync.WaitGroup
			for i := range runs {
				wg.Go(func() {
					results[i] = runFx(fxPath, home, "run", "add", "--args", fmt.Sprintf("[%d]", i), "--kwargs", fmt.Sprintf(`{"b": %d}`, loop*1000), "--endpoint", epID, bootFlag)
				})
			}
			wg.Wait()
			var sum int64
			var cpu time.Duration
			bad := 0
			for i, r := range results {
				sum += r.maxRSS
				cpu += r.cpu
				maxRSS = max(maxRSS, r.maxRSS)
				want := fmt.Sprint(loop*1000 + i)
				switch {
				case r.err != nil:
					failed = append(failed, r.err.Error())
					bad++
				case strings.TrimSpace(r.stdout) != want:
					failed = append(failed, fmt.Sprintf("add gave %q, want %s", strings.TrimSpace(r.stdout), want))
					bad++
				}
			}
			waveRSS = max(waveRSS, sum)
			t.Logf("loop %d: %d of %d failed, %s; fx CPU %s", loop, bad, runs, time.Since(began).Round(time.Millisecond), cpu.Round(time.Millisecond))
		}
		stopNaps()
		t.Logf("CPU of the bootstrap %s, of the endpoint %s", (cpuOf(boot) - bootCPU).Round(time.Millisecond), (cpuOf(ep) - epCPU).Round(time.Millisecond))
		t.Logf("%d×%d fx run: %d failed in %s; peak RSS of one fx %d MiB, sum of one loop's peaks %d MiB; %d runs of the 6s function beside them, %d failed",
			loops, runs, len(failed), time.Since(start).Round(time.Millisecond), maxRSS>>20, waveRSS>>20, naps, len(napFailed))
		if len(failed) > 0 {
			t.Errorf("%d of %d×%d fx run failed, first: %s", len(failed), loops, runs, failed[0])
		}
		if len(napFailed) > 0 {
			t.Errorf("%d runs of the 6s function failed, first: %s", len(napFailed), napFailed[0])
		}
	})
}
