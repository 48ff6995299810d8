package python

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	fxexec "github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
)

// testLogger routes a pool's log to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func needPython(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(DefaultPython); err != nil {
		t.Skip("no python3 in PATH")
	}
}

func newPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	needPython(t)
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pyFn(id, src, entry string) fxexec.Function {
	return fxexec.Function{ID: id, Kind: fxexec.KindPython, Source: src, Entry: entry}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

const testMaxOutput = 4 << 10

func fixtures() exectest.Fixtures {
	compute := pyFn("compute", `
import math

def scale(x, by):
    return x * by

def f(a, b=0, *, by=1):
    return {"sum": scale(a + b, by), "root": math.isqrt(a * a)}
`, "f")
	return exectest.Fixtures{
		Compute: func(i int) exectest.Case {
			return exectest.Case{
				Function: compute,
				Args:     raw(fmt.Sprintf("[%d, 1]", i)),
				Kwargs:   raw(`{"by": 2}`),
				Want:     raw(fmt.Sprintf(`{"sum": %d, "root": %d}`, (i+1)*2, i)),
			}
		},
		Fail:           exectest.Case{Function: pyFn("fail", "def f():\n    raise ValueError('boom')\n", "f")},
		Sleep:          exectest.Case{Function: pyFn("sleep", "import time\ndef f():\n    time.sleep(30)\n", "f")},
		Print:          exectest.Case{Function: pyFn("print", "def f():\n    print('hello from python')\n", "f"), Want: raw("null"), WantStdout: "hello from python\n"},
		BigOutput:      exectest.Case{Function: pyFn("big", "def f():\n    print('x' * 100000)\n    return 1\n", "f"), Want: raw("1"), WantStdout: "xxxx"},
		MaxOutputBytes: testMaxOutput,
	}
}

func TestConformance(t *testing.T) {
	exectest.Run(t, func(t *testing.T) fxexec.Executor {
		return newPool(t, Config{Workers: 2, Limits: fxexec.Limits{MaxOutputBytes: testMaxOutput}})
	}, fixtures())
}

func run(t *testing.T, p *Pool, fn fxexec.Function, args, kwargs string) fxexec.Result {
	t.Helper()
	r, err := p.Execute(t.Context(), fxexec.Task{Function: fn, Args: raw(args), Kwargs: raw(kwargs)})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return r
}

func wantValue(t *testing.T, r fxexec.Result, want string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("Error = %+v, stderr %q", r.Error, r.Stderr)
	}
	if string(r.Value) != want {
		t.Fatalf("Value = %s, want %s", r.Value, want)
	}
}

func wantError(t *testing.T, r fxexec.Result, kind fault.Kind, typ, msgPart string) {
	t.Helper()
	if r.Error == nil {
		t.Fatalf("Error = nil (Value %s), want kind %s", r.Value, kind)
	}
	if r.Error.Kind != kind || (typ != "" && r.Error.Type != typ) || !strings.Contains(r.Error.Message, msgPart) {
		t.Fatalf("Error = %+v, want kind %s, type %q, message with %q", r.Error, kind, typ, msgPart)
	}
	if r.Value != nil {
		t.Errorf("failed task has Value %s", r.Value)
	}
}

// TestKillSelf: a task that kills its own worker fails alone; twenty tasks
// running beside it on the same pool succeed.
func TestKillSelf(t *testing.T) {
	p := newPool(t, Config{Workers: 2})
	defer p.Close()
	killer := pyFn("killer", "import os, time\ndef f():\n    time.sleep(0.05)\n    os.kill(os.getpid(), 9)\n", "f")
	fx := fixtures()
	var wg sync.WaitGroup
	var killed fxexec.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		killed = run(t, p, killer, "", "")
	}()
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := fx.Compute(i)
			r, err := p.Execute(t.Context(), c.Task(0))
			switch {
			case err != nil:
				errs <- fmt.Errorf("task %d: %v", i, err)
			case r.Error != nil:
				errs <- fmt.Errorf("task %d: %v", i, r.Error)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantError(t, killed, fault.System, "WorkerDied", "signal 9")
	// The pool is whole again.
	waitIdle(t, p, 2)
	wantValue(t, run(t, p, fx.Compute(0).Function, "[1]", ""), `{"sum":1,"root":1}`)
}

func waitIdle(t *testing.T, p *Pool, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Idle < n {
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v after 10s, want %d idle", p.Stats(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWorkerDeaths(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	defer p.Close()
	tests := []struct {
		name, src, msg string
		stderr         string
	}{
		{"os._exit", "import os\ndef f():\n    os._exit(3)\n", "worker exited with status 3", ""},
		{"sigterm", "import os, signal\ndef f():\n    os.kill(os.getpid(), signal.SIGTERM)\n", "signal 15", ""},
		{"segfault", "import ctypes\ndef f():\n    ctypes.string_at(0)\n", "signal 11", "Fatal Python error"},
		{"fd-level output", "import os\ndef f():\n    os.write(2, b'last words\\n')\n    os._exit(1)\n", "status 1", "last words"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, p, pyFn(tc.name, tc.src, "f"), "", "")
			wantError(t, r, fault.System, "WorkerDied", tc.msg)
			if !strings.Contains(r.Stderr, tc.stderr) {
				t.Errorf("Stderr = %q, want it to contain %q", r.Stderr, tc.stderr)
			}
			wantValue(t, run(t, p, pyFn("ok", "def f():\n    return 'ok'\n", "f"), "", ""), `"ok"`)
		})
	}
}

func TestUserErrors(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Limits: fxexec.Limits{MaxResultBytes: 1000}})
	defer p.Close()
	tests := []struct {
		name, src    string
		kind         fault.Kind
		typ, msg, tb string
	}{
		{"exception", "def helper(x):\n    raise ValueError('bad %d' % x)\n\ndef f():\n    return helper(7)\n",
			fault.User, "ValueError", "bad 7", "line 2, in helper\n    raise ValueError('bad %d' % x)"},
		{"own exception", "class Oops(Exception):\n    pass\n\ndef f():\n    raise Oops('mine')\n", fault.User, "Oops", "mine", "Oops: mine"},
		{"module exception", "import json\ndef f():\n    json.loads('{')\n", fault.User, "json.decoder.JSONDecodeError", "Expecting property name", "in f"},
		{"sys.exit", "import sys\ndef f():\n    sys.exit(4)\n", fault.User, "SystemExit", "4", ""},
		{"not serializable", "def f():\n    return {1, 2}\n", fault.User, "TypeError", "result is not JSON-serializable: Object of type set", ""},
		{"nan", "def f():\n    return float('nan')\n", fault.User, "ValueError", "not JSON compliant", ""},
		{"too large", "def f():\n    return 'x' * 2000\n", fault.TooLarge, "ResultTooLarge", "2002 bytes", ""},
		{"syntax error", "def f(:\n    pass\n", fault.User, "SyntaxError", "", "def f(:"},
		{"no entry", "def g():\n    pass\n", fault.User, "NameError", "defines no 'f'", ""},
		{"entry not callable", "f = 3\n", fault.User, "TypeError", "'f' is a int", ""},
		{"import error", "import no_such_module_fx\ndef f():\n    pass\n", fault.User, "ModuleNotFoundError", "no_such_module_fx", "line 1"},
		{"wrong arguments", "def f(a):\n    pass\n", fault.User, "TypeError", "missing 1 required positional argument", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, p, pyFn(tc.name, tc.src, "f"), "", "")
			wantError(t, r, tc.kind, tc.typ, tc.msg)
			if !strings.Contains(r.Error.Traceback, tc.tb) {
				t.Errorf("Traceback = %q, want it to contain %q", r.Error.Traceback, tc.tb)
			}
			if strings.Contains(r.Error.Traceback, "<string>") {
				t.Errorf("Traceback shows the worker's frames:\n%s", r.Error.Traceback)
			}
			if !fault.Is(r.Err(), tc.kind) {
				t.Errorf("fault.KindOf(r.Err()) = %s", fault.KindOf(r.Err()))
			}
		})
	}
	// The same worker served them all.
	if n := p.nextID.Load(); n != 1 {
		t.Errorf("%d workers started, want 1", n)
	}
}

// TestCompiledOnce: a worker keeps a function's module between calls, and
// recompiles when the source under an ID changes.
func TestCompiledOnce(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	defer p.Close()
	counter := pyFn("counter", "n = 0\ndef f():\n    global n\n    n += 1\n    return n\n", "f")
	for want := 1; want <= 3; want++ {
		wantValue(t, run(t, p, counter, "", ""), strconv.Itoa(want))
	}
	changed := counter
	changed.Source = "def f():\n    return 'v2'\n"
	wantValue(t, run(t, p, changed, "", ""), `"v2"`)
	changed.Entry = "g"
	changed.Source += "def g():\n    return 'g'\n"
	wantValue(t, run(t, p, changed, "", ""), `"g"`)
	wantValue(t, run(t, p, counter, "", ""), "1")

	// A worker that lost a function it is believed to hold asks for it.
	w, err := p.acquire(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	w.fns["ghost"] = loaded{"def f():\n    return 'ghost'\n", "f"}
	p.release(w)
	wantValue(t, run(t, p, pyFn("ghost", "def f():\n    return 'ghost'\n", "f"), "", ""), `"ghost"`)
}

func TestOutputPerTask(t *testing.T) {
	p := newPool(t, Config{Workers: 1, Limits: fxexec.Limits{MaxOutputBytes: 10}})
	defer p.Close()
	noisy := pyFn("noisy", "import sys\ndef f(s):\n    print(s, end='')\n    sys.stderr.write('e' + s)\n    return len(s)\n", "f")
	quiet := pyFn("quiet", "def f():\n    return 0\n", "f")
	tests := []struct {
		name           string
		fn             fxexec.Function
		args           string
		stdout, stderr string
	}{
		{"short", noisy, `["abc"]`, "abc", "eabc"},
		{"nothing leaks", quiet, ``, "", ""},
		{"truncated", noisy, `["0123456789abcdef"]`, "0123456789" + fxexec.TruncatedNote + "6 bytes dropped]\n", "e012345678" + fxexec.TruncatedNote + "7 bytes dropped]\n"},
		{"utf-8 cut at a boundary", noisy, `["ééééééé"]`, "ééééé" + fxexec.TruncatedNote + "4 bytes dropped]\n", "eéééé" + fxexec.TruncatedNote + "6 bytes dropped]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, p, tc.fn, tc.args, "")
			if r.Error != nil {
				t.Fatal(r.Error)
			}
			if r.Stdout != tc.stdout || r.Stderr != tc.stderr {
				t.Errorf("Stdout %q, Stderr %q; want %q, %q", r.Stdout, r.Stderr, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestBatchFailuresAlone(t *testing.T) {
	p := newPool(t, Config{Workers: 2, DefaultTimeout: 500 * time.Millisecond})
	defer p.Close()
	fn := pyFn("mixed", `
import os, time
def f(i):
    if i == 5:
        os.kill(os.getpid(), 9)
    if i == 9:
        time.sleep(30)
    if i == 12:
        raise KeyError(i)
    print(i)
    return i * i
`, "f")
	const n = 40
	inputs := make([]fxexec.Input, n)
	for i := range inputs {
		inputs[i].Args = raw(fmt.Sprintf("[%d]", i))
	}
	got := make([]fxexec.Result, n)
	seen := make([]int, n)
	err := p.ExecuteBatch(t.Context(), fxexec.Batch{Function: fn, Inputs: inputs}, func(i int, r fxexec.Result) {
		got[i] = r
		seen[i]++
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if seen[i] != 1 {
			t.Errorf("input %d emitted %d times", i, seen[i])
			continue
		}
		switch i {
		case 5:
			wantError(t, r, fault.System, "WorkerDied", "signal 9")
		case 9:
			wantError(t, r, fault.Timeout, "Timeout", "timed out")
		case 12:
			wantError(t, r, fault.User, "KeyError", "12")
		default:
			if r.Error != nil || string(r.Value) != strconv.Itoa(i*i) || r.Stdout != fmt.Sprintf("%d\n", i) {
				t.Errorf("input %d: Value %s, Stdout %q, Error %v", i, r.Value, r.Stdout, r.Error)
			}
		}
		if r.Finished.Before(r.Started) || r.Started.IsZero() {
			t.Errorf("input %d: Started %v, Finished %v", i, r.Started, r.Finished)
		}
	}
}

func TestBatchLoadError(t *testing.T) {
	p := newPool(t, Config{Workers: 2})
	defer p.Close()
	inputs := make([]fxexec.Input, 10)
	n := 0
	err := p.ExecuteBatch(t.Context(), fxexec.Batch{Function: pyFn("broken", "def f(:\n", "f"), Inputs: inputs}, func(i int, r fxexec.Result) {
		n++
		wantError(t, r, fault.User, "SyntaxError", "")
	})
	if err != nil || n != 10 {
		t.Fatalf("err %v, %d results; want nil, 10", err, n)
	}
	if err := p.Warm(t.Context(), pyFn("broken", "def f(:\n", "f")); !fault.Is(err, fault.User) {
		t.Fatalf("Warm of a broken function: %v, want kind user", err)
	}
}

func TestCloseDuringBatch(t *testing.T) {
	p := newPool(t, Config{Workers: 2})
	inputs := make([]fxexec.Input, 100)
	errc := make(chan error, 1)
	started := make(chan struct{}, 100)
	go func() {
		errc <- p.ExecuteBatch(context.Background(), fxexec.Batch{Function: pyFn("slow", "import time\ndef f():\n    time.sleep(0.05)\n", "f"), Inputs: inputs}, func(int, fxexec.Result) { started <- struct{}{} })
	}()
	<-started
	p.Close()
	if err := <-errc; !errors.Is(err, fxexec.ErrClosed) {
		t.Fatalf("ExecuteBatch at Close: %v, want ErrClosed", err)
	}
}

// TestShimResolved: a wrapper script is resolved to the interpreter it
// runs, once.
func TestShimResolved(t *testing.T) {
	needPython(t)
	real, err := exec.LookPath(DefaultPython)
	if err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(t.TempDir(), "python-shim")
	if err := os.WriteFile(shim, []byte("#!/bin/sh\nexec "+real+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newPool(t, Config{Python: shim, Workers: 1})
	defer p.Close()
	if p.Python() == shim || !filepath.IsAbs(p.Python()) {
		t.Fatalf("Python() = %q, want the real interpreter behind %s", p.Python(), shim)
	}
	wantValue(t, run(t, p, pyFn("exe", "import sys\ndef f():\n    return sys.executable\n", "f"), "", ""), strconv.Quote(p.Python()))
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		kind fault.Kind
	}{
		{"negative workers", Config{Workers: -1}, fault.Invalid},
		{"negative timeout", Config{DefaultTimeout: -1}, fault.Invalid},
		{"negative limit", Config{Limits: fxexec.Limits{MaxOutputBytes: -1}}, fault.Invalid},
		{"no interpreter", Config{Python: "no-such-python-fx"}, fault.Invalid},
		{"not python", Config{Python: "false"}, fault.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if err == nil {
				p.Close()
				t.Fatal("New succeeded")
			}
			if fault.KindOf(err) != tc.kind {
				t.Fatalf("New: %v (kind %s), want kind %s", err, fault.KindOf(err), tc.kind)
			}
		})
	}
}

func TestChunk(t *testing.T) {
	in := func(n, size int) []fxexec.Input {
		s := make([]fxexec.Input, n)
		for i := range s {
			s[i].Args = make(json.RawMessage, size)
		}
		return s
	}
	tests := []struct {
		name    string
		inputs  []fxexec.Input
		workers int
		want    [][2]int
	}{
		{"none", nil, 2, nil},
		{"one", in(1, 2), 2, [][2]int{{0, 1}}},
		{"fewer than workers", in(3, 2), 4, [][2]int{{0, 1}, {1, 2}, {2, 3}}},
		{"guided", in(16, 2), 2, [][2]int{{0, 4}, {4, 7}, {7, 10}, {10, 12}, {12, 13}, {13, 14}, {14, 15}, {15, 16}}},
		{"capped count", in(600, 2), 1, [][2]int{{0, 256}, {256, 428}, {428, 514}, {514, 557}, {557, 579}, {579, 590}, {590, 595}, {595, 598}, {598, 599}, {599, 600}}},
		{"capped bytes", in(3, 600<<10), 1, [][2]int{{0, 1}, {1, 2}, {2, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := chunk(tc.inputs, tc.workers); !slices.Equal(got, tc.want) {
				t.Fatalf("chunk = %v, want %v", got, tc.want)
			}
		})
	}
	// A large batch: chunks cover it in order, never grow, and the last
	// ones (at least as many as workers) are single inputs, so that no
	// worker is left with a long chunk while the others have none.
	for _, workers := range []int{1, 2, 7} {
		got := chunk(in(1000, 2), workers)
		lo, prev := 0, maxChunk
		for i, c := range got {
			size := c[1] - c[0]
			if c[0] != lo || size < 1 || size > prev {
				t.Fatalf("%d workers: chunk %d is %v after %d inputs (size before %d): %v", workers, i, c, lo, prev, got)
			}
			lo, prev = c[1], size
		}
		if lo != 1000 || len(got) < 2*workers {
			t.Fatalf("%d workers: chunks %v", workers, got)
		}
		for _, c := range got[len(got)-workers:] {
			if c[1]-c[0] != 1 {
				t.Fatalf("%d workers: the last chunks are not single inputs: %v", workers, got)
			}
		}
	}
}

// TestLargeMessages sends and receives frames far larger than a pipe's
// buffer.
func TestLargeMessages(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	defer p.Close()
	fn := pyFn("big", "def f(s, n):\n    return {'len': len(s), 'out': 'y' * n}\n", "f")
	big := strings.Repeat("x", 3<<20)
	args, _ := json.Marshal([]any{big, 4 << 20})
	r, err := p.Execute(t.Context(), fxexec.Task{Function: fn, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	var v struct {
		Len int
		Out string
	}
	if err := json.Unmarshal(r.Value, &v); err != nil || v.Len != len(big) || len(v.Out) != 4<<20 {
		t.Fatalf("Value: len %d, out %d bytes, %v", v.Len, len(v.Out), err)
	}
	// And a small one after, on the same worker.
	wantValue(t, run(t, p, fn, `["ab", 1]`, ""), `{"len":2,"out":"y"}`)
}

// TestShortCommandLine: a worker's command line, as ps shows it, is the
// interpreter and a few numbers, not the worker's source; and the source,
// which came on stdin, is not there for the user's code to read.
func TestShortCommandLine(t *testing.T) {
	p := newPool(t, Config{Workers: 1})
	defer p.Close()
	look := pyFn("look", "import sys\ndef f():\n    with open('/proc/self/cmdline', 'rb') as c:\n        argv = c.read().decode().split('\\0')[:-1]\n    return {'argv': argv[1:], 'stdin': sys.stdin.read()}\n", "f")
	r := run(t, p, look, "", "")
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	var got struct {
		Argv  []string
		Stdin string
	}
	if err := json.Unmarshal(r.Value, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"-u", "-"}
	if len(got.Argv) != 5 || !slices.Equal(got.Argv[:2], want) {
		t.Errorf("argv after the interpreter = %q, want %q and three numbers", got.Argv, want)
	}
	if got.Stdin != "" {
		t.Errorf("the user's code read %d bytes on stdin", len(got.Stdin))
	}
}
