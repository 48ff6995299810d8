package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/exec/python"
	"github.com/fxmesh/fxmesh/fault"
)

// The images scripts/build-test-images.sh builds, and what their marker
// file holds.
const (
	pyImage       = "fxmesh-test/python:1"
	bbImage       = "fxmesh-test/busybox:1"
	epImage       = "fxmesh-test/busybox-entrypoint:1" // ENTRYPOINT ["/bin/false"]
	marker        = "fxmesh test image\n"
	testMaxOutput = 1000
)

// testPrefix starts the names of this test process's containers, so that
// TestMain finds any it leaves behind.
var testPrefix = fmt.Sprintf("fxmesh-test-%d-", os.Getpid())

// TestMain fails the run if a test left a container behind, on any runtime,
// and names them. A removal still in progress is no leak: a container
// counts as left behind if it is still there leftBehindAfter later.
func TestMain(m *testing.M) {
	const leftBehindAfter = 30 * time.Second
	code := m.Run()
	for _, rt := range testRuntimes() {
		if _, err := osexec.LookPath(rt.Program); err != nil {
			continue
		}
		list := func() []string {
			out, _ := osexec.Command(rt.Program, "ps", "-aq", "--filter", "name="+testPrefix).Output()
			return strings.Fields(string(out))
		}
		ids, start := list(), time.Now()
		for len(ids) > 0 && time.Since(start) < leftBehindAfter {
			time.Sleep(100 * time.Millisecond) // polls the runtime: nothing to wait on
			ids = list()
		}
		if late := time.Since(start); len(ids) == 0 && late > time.Second {
			fmt.Fprintf(os.Stderr, "note: %s removed this run's last containers %s after the tests ended\n", rt.Name(), late.Round(100*time.Millisecond))
		}
		if len(ids) > 0 {
			info, _ := osexec.Command(rt.Program, "ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Labels}}", "--filter", "name="+testPrefix).Output()
			fmt.Fprintf(os.Stderr, "FAIL: %d %s containers left behind: %v\n%s", len(ids), rt.Name(), ids, info)
			osexec.Command(rt.Program, append([]string{"rm", "-f"}, ids...)...).Run()
			code = 1
		}
	}
	os.Exit(code)
}

// testRuntimes are the runtimes the key tests run under: each test that
// forRuntimes runs is a subtest per runtime.
func testRuntimes() []*CLI { return []*CLI{Docker(), Podman()} }

// forRuntimes runs f as a subtest for each runtime of testRuntimes,
// skipping one that is not usable here, with the reason.
func forRuntimes(t *testing.T, f func(t *testing.T, rt *CLI)) {
	for _, rt := range testRuntimes() {
		t.Run(rt.Name(), func(t *testing.T) {
			needImages(t, rt)
			f(t, rt)
		})
	}
}

var images sync.Map // runtime program -> *imagesOnce

type imagesOnce struct {
	once sync.Once
	err  error
}

// needImages skips t unless rt runs containers here, and builds the test
// images for it with the script, once, if they are absent.
func needImages(t testing.TB, rt *CLI) {
	t.Helper()
	if _, err := osexec.LookPath(rt.Program); err != nil {
		t.Skipf("%s is not installed: its container tests need it", rt.Name())
	}
	v, _ := images.LoadOrStore(rt.Program, &imagesOnce{})
	o := v.(*imagesOnce)
	o.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Check(ctx); err != nil {
			o.err = fmt.Errorf("%s is not usable: %w", rt.Name(), err)
			return
		}
		have := true
		for _, img := range []string{pyImage, bbImage, epImage} {
			if rt.HasImage(ctx, img) != nil {
				have = false
			}
		}
		if have {
			return
		}
		cmd := osexec.Command("../../scripts/build-test-images.sh")
		cmd.Env = append(os.Environ(), "ENGINES="+rt.Program)
		out, err := cmd.CombinedOutput()
		if err != nil {
			o.err = fmt.Errorf("the test images are absent from %s and scripts/build-test-images.sh failed (run it by hand): %v\n%s", rt.Name(), err, out)
		}
	})
	if o.err != nil {
		t.Skip(o.err)
	}
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newExec returns an executor of cfg, on Docker unless cfg names another
// runtime, with the test images present on a CLI runtime.
func newExec(t testing.TB, cfg Config) *Executor {
	t.Helper()
	if cfg.Runtime == nil {
		cfg.Runtime = Docker()
	}
	if rt, ok := cfg.Runtime.(*CLI); ok {
		needImages(t, rt)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Limits.MaxOutputBytes == 0 {
		cfg.Limits.MaxOutputBytes = testMaxOutput
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = testPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func pyFn(id, src string) exec.Function {
	return exec.Function{ID: id, Kind: exec.KindPython, Source: src, Entry: "f", Container: pyImage}
}

func shFn(id, command string) exec.Function {
	return exec.Function{ID: id, Kind: exec.KindShell, Command: command, Container: bbImage}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func shellValue(code int, stdout, stderr string) json.RawMessage {
	b, _ := json.Marshal(shellOutput{ReturnCode: code, Stdout: stdout, Stderr: stderr})
	return b
}

// run executes t and fails the test on an executor error.
func run(t *testing.T, e exec.Executor, task exec.Task) exec.Result {
	t.Helper()
	r, err := e.Execute(context.Background(), task)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return r
}

// value runs fn and returns its value, failing the test on any error.
func value(t *testing.T, e exec.Executor, fn exec.Function, args string) string {
	t.Helper()
	r := run(t, e, exec.Task{Function: fn, Args: raw(args)})
	if r.Error != nil {
		t.Fatalf("Result.Error = %+v (stderr %q)", r.Error, r.Stderr)
	}
	return string(r.Value)
}

func TestConformancePython(t *testing.T) { forRuntimes(t, testConformancePython) }

func testConformancePython(t *testing.T, rt *CLI) {
	compute := pyFn("compute", "import os\ndef f(a, b=0):\n    return {'sum': a + b, 'uid': os.getuid()}\n")
	exectest.Run(t, func(t *testing.T) exec.Executor { return newExec(t, Config{Runtime: rt}) }, exectest.Fixtures{
		Compute: func(i int) exectest.Case {
			return exectest.Case{Function: compute, Args: raw(fmt.Sprintf("[%d]", i)), Kwargs: raw(`{"b": 1}`),
				Want: raw(fmt.Sprintf(`{"sum": %d, "uid": 65534}`, i+1))}
		},
		Fail:           exectest.Case{Function: pyFn("fail", "def f():\n    raise ValueError('no')\n")},
		Sleep:          exectest.Case{Function: pyFn("sleep", "import time\ndef f():\n    time.sleep(30)\n")},
		Print:          exectest.Case{Function: pyFn("print", "def f():\n    print('hello from the container')\n"), WantStdout: "hello from the container\n"},
		BigOutput:      exectest.Case{Function: pyFn("big", "def f():\n    for i in range(50000): print(i)\n"), WantStdout: "0\n1\n2\n"},
		MaxOutputBytes: testMaxOutput,
	})
}

func TestConformanceShell(t *testing.T) { forRuntimes(t, testConformanceShell) }

func testConformanceShell(t *testing.T, rt *CLI) {
	echo := shFn("echo", "echo {n} and {word}")
	exectest.Run(t, func(t *testing.T) exec.Executor { return newExec(t, Config{Runtime: rt}) }, exectest.Fixtures{
		Compute: func(i int) exectest.Case {
			return exectest.Case{Function: echo, Kwargs: raw(fmt.Sprintf(`{"n": %d, "word": "w%d"}`, i, i)),
				Want: shellValue(0, fmt.Sprintf("%d and w%d\n", i, i), "")}
		},
		Fail:           exectest.Case{Function: shFn("fail", `sh -c "exit 3"`)},
		Sleep:          exectest.Case{Function: shFn("sleep", "sleep 30")},
		Print:          exectest.Case{Function: shFn("print", "echo hello from busybox"), WantStdout: "hello from busybox\n"},
		BigOutput:      exectest.Case{Function: shFn("big", "seq 1 50000"), WantStdout: "1\n2\n3\n"},
		MaxOutputBytes: testMaxOutput,
	})
}

// TestRunsInImage: a Python function sees the image's marker file, and the
// same source on the host's pool does not; a shell function runs in
// busybox, words passed through untouched.
func TestRunsInImage(t *testing.T) { forRuntimes(t, testRunsInImage) }

func testRunsInImage(t *testing.T, rt *CLI) {
	e := newExec(t, Config{Runtime: rt})
	defer e.Close()
	src := "def f(path):\n    try:\n        return open(path).read()\n    except OSError as e:\n        return 'absent: ' + type(e).__name__\n"
	fn := pyFn("marker", src)
	if got, want := value(t, e, fn, `["/fxmesh/marker"]`), fmt.Sprintf("%q", marker); got != want {
		t.Errorf("in the container: %s, want %s", got, want)
	}

	host, err := python.New(python.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	local := fn
	local.Container = ""
	if got := value(t, host, local, `["/fxmesh/marker"]`); !strings.Contains(got, "absent") {
		t.Errorf("on the host pool: %s, want the marker absent", got)
	}

	r := run(t, e, exec.Task{Function: shFn("who", `sh -c 'cat /fxmesh/marker; readlink /bin/sh; printf "[%s]" "$@"' sh {a} {b}`),
		Kwargs: raw(`{"a": "two words; $(rm -rf /) %s \\ 'q' \"dq\"", "b": "-n"}`)})
	want := marker + "busybox\n[two words; $(rm -rf /) %s \\ 'q' \"dq\"][-n]"
	if r.Error != nil || r.Stdout != want {
		t.Errorf("shell in busybox: Stdout %q, Error %+v; want %q", r.Stdout, r.Error, want)
	}

	for _, args := range []string{`[ ]`, `["x"]`} {
		r := run(t, e, exec.Task{Function: shFn("args", "echo hi"), Args: raw(args)})
		if wantErr := args != `[ ]`; (r.Error != nil) != wantErr || wantErr && r.Error.Kind != fault.Invalid {
			t.Errorf("shell with args %s: Error %+v", args, r.Error)
		}
	}

	// An image's entrypoint does not get in the way.
	ep := shFn("ep", "cat /fxmesh/marker")
	ep.Container = epImage
	if r := run(t, e, exec.Task{Function: ep}); r.Error != nil || r.Stdout != marker {
		t.Errorf("shell in an image with an entrypoint: Stdout %q, Error %+v", r.Stdout, r.Error)
	}
}

// TestNoInterpreter: a Python function in an image without Python fails
// with a message that says so, and the executor goes on.
func TestNoInterpreter(t *testing.T) {
	e := newExec(t, Config{})
	defer e.Close()
	fn := pyFn("one", "def f():\n    return 1\n")
	fn.Container = bbImage
	r := run(t, e, exec.Task{Function: fn})
	if r.Error == nil || r.Error.Kind != fault.System || !strings.Contains(r.Error.Message, bbImage) || !strings.Contains(r.Error.Message, "python3") {
		t.Fatalf("Result.Error = %+v, want kind system naming the image and python3", r.Error)
	}
	t.Logf("no python: %v", r.Error)
	if got := value(t, e, pyFn("one", "def f():\n    return 1\n"), "[]"); got != "1" {
		t.Fatalf("after: %s", got)
	}
}

// TestIsolation: only lo, the user nobody, the allowed mount read-only,
// nothing else of the host.
func TestIsolation(t *testing.T) { forRuntimes(t, testIsolation) }

func testIsolation(t *testing.T, rt *CLI) {
	allowed, other := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(allowed, "shared"), []byte("shared data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(allowed, 0o755)
	os.Chmod(other, 0o755)
	e := newExec(t, Config{Runtime: rt, Mounts: []Mount{{Host: allowed}}, AllowedHostPaths: []string{filepath.Dir(allowed)}})
	defer e.Close()
	src := `import os
def f(allowed, other):
    def read(p):
        try:
            return open(p).read()
        except OSError as e:
            return type(e).__name__
    def write(p):
        try:
            open(p, 'w').write('x')
            return 'written'
        except OSError as e:
            return type(e).__name__
    return {'net': sorted(os.listdir('/sys/class/net')), 'uid': os.getuid(), 'gid': os.getgid(),
            'allowed': read(allowed + '/shared'), 'write': write(allowed + '/new'),
            'other': read(other + '/secret'), 'other_dir': os.path.exists(other),
            'root_home': os.path.exists('/root'), 'work': os.path.exists('/work')}
`
	args, _ := json.Marshal([]string{allowed, other})
	got := value(t, e, pyFn("isolation", src), string(args))
	want := `{"net":["lo"],"uid":65534,"gid":65534,"allowed":"shared data","write":"OSError","other":"FileNotFoundError","other_dir":false,"root_home":false,"work":false}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestNetwork: a sibling container, on a network the test makes and on
// Docker's default bridge, is out of reach by default (network none) and in
// reach over the bridge with network bridge configured. Were the default
// the bridge, the first half would fail.
func TestNetwork(t *testing.T) {
	needImages(t, Docker())
	ctx := context.Background()
	net := fmt.Sprintf("fxmesh-test-%d", os.Getpid())
	sibling := net + "-server"
	docker := func(args ...string) string {
		t.Helper()
		out, err := osexec.CommandContext(ctx, "docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v: %s", args[0], err, out)
		}
		return strings.TrimSpace(string(out))
	}
	docker("network", "create", net)
	t.Cleanup(func() {
		osexec.Command("docker", "rm", "-f", sibling).Run()
		osexec.Command("docker", "network", "rm", net).Run()
	})
	docker("run", "-d", "--name", sibling, "--network", net, "--user", "65534:65534", pyImage,
		"python3", "-c", "import socket\ns = socket.create_server(('', 8000))\nwhile True:\n    c, _ = s.accept(); c.sendall(b'hello'); c.close()\n")
	docker("network", "connect", "bridge", sibling)
	ip := docker("inspect", "--format", "{{.NetworkSettings.Networks.bridge.IPAddress}}", sibling)

	src := `import socket, time
def f(ip, patience):
    deadline = time.time() + patience
    while True:
        try:
            with socket.create_connection((ip, 8000), timeout=2) as c:
                return c.recv(5).decode()
        except OSError as e:
            if time.time() > deadline:
                return 'unreachable: ' + str(e)
            time.sleep(0.05)
`
	fn := pyFn("connect", src)
	def := newExec(t, Config{})
	defer def.Close()
	if got := value(t, def, fn, fmt.Sprintf(`[%q, 0]`, ip)); !strings.Contains(got, "unreachable") {
		t.Errorf("with the default network (none): %s, want unreachable", got)
	}
	on := newExec(t, Config{Network: "bridge"})
	defer on.Close()
	if got := value(t, on, fn, fmt.Sprintf(`[%q, 20]`, ip)); got != `"hello"` {
		t.Errorf("with network bridge: %s, want \"hello\"", got)
	}
}

// TestMemoryLimit: allocating past the limit fails that task, clearly, and
// the next call works.
func TestMemoryLimit(t *testing.T) { forRuntimes(t, testMemoryLimit) }

func testMemoryLimit(t *testing.T, rt *CLI) {
	e := newExec(t, Config{Runtime: rt, Memory: 96 << 20, TmpSize: 8 << 20})
	defer e.Close()
	hog := pyFn("hog", "def f(mib):\n    b = b'x' * (mib << 20)\n    return len(b)\n")
	if got := value(t, e, hog, `[16]`); got != fmt.Sprint(16<<20) {
		t.Fatalf("16 MiB: %s", got)
	}
	r := run(t, e, exec.Task{Function: hog, Args: raw(`[400]`)})
	if r.Error == nil {
		t.Fatalf("400 MiB under a 96 MiB limit succeeded: %s", r.Value)
	}
	// The kernel kills the worker, or Python meets MemoryError first.
	// Podman does not report the out-of-memory killer: the message then
	// says that the limit may have been the cause.
	oom := r.Error.Kind == fault.System && strings.Contains(r.Error.Message, "ran out of memory (limit 96 MiB) and was killed") ||
		rt.NoOOMReport && r.Error.Kind == fault.System && strings.Contains(r.Error.Message, "perhaps it ran out of memory (limit 96 MiB)")
	memErr := r.Error.Kind == fault.User && r.Error.Type == "MemoryError"
	if !oom && !memErr {
		t.Fatalf("Result.Error = %+v, want out of memory", r.Error)
	}
	t.Logf("over the limit: %v", r.Error)
	if got := value(t, e, hog, `[1]`); got != fmt.Sprint(1<<20) {
		t.Fatalf("after: %s", got)
	}
}

// TestKilled: a container killed mid-task fails that task with
// fault.System, promptly, and the next call runs on a new container.
func TestKilled(t *testing.T) { forRuntimes(t, testKilled) }

func testKilled(t *testing.T, rt *CLI) {
	e := newExec(t, Config{Runtime: rt, Workers: 1, PerImage: 1})
	defer e.Close()
	fn := pyFn("host", "import socket, time\ndef f(s):\n    time.sleep(s)\n    return socket.gethostname()\n")
	first := value(t, e, fn, `[0]`)
	names := e.Containers()
	if len(names) != 1 {
		t.Fatalf("containers %v, want one", names)
	}
	done := make(chan exec.Result, 1)
	go func() { done <- run(t, e, exec.Task{Function: fn, Args: raw(`[60]`)}) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().Running != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the task never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if out, err := osexec.Command(rt.Program, "kill", names[0]).CombinedOutput(); err != nil {
		t.Fatalf("%s kill: %v: %s", rt.Name(), err, out)
	}
	var r exec.Result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the task still runs 20s after its container was killed")
	}
	t.Logf("failed %v after the kill: %v", time.Since(start), r.Error)
	if r.Error == nil || r.Error.Kind != fault.System || !strings.Contains(r.Error.Message, names[0]) {
		t.Fatalf("Result.Error = %+v, want kind system naming %s", r.Error, names[0])
	}
	if second := value(t, e, fn, `[0]`); second == first {
		t.Errorf("the next call ran on host %s, the killed container's", second)
	}
}

// TestMissing: a missing image or runtime is a specific error, before
// anything runs.
func TestMissing(t *testing.T) {
	t.Run("runtime", func(t *testing.T) {
		_, err := New(Config{Runtime: &CLI{Program: "/no/such/docker"}})
		if !fault.Is(err, fault.Unavailable) || !strings.Contains(err.Error(), "runtime docker") {
			t.Errorf("New with no runtime: %v (kind %q), want unavailable naming docker", err, fault.KindOf(err))
		}
		_, err = New(Config{Runtime: &CLI{Program: "false"}})
		if !fault.Is(err, fault.Unavailable) || !strings.Contains(err.Error(), "runtime false is not usable") {
			t.Errorf("New with a broken runtime: %v (kind %q), want unavailable naming it", err, fault.KindOf(err))
		}
	})
	t.Run("image", func(t *testing.T) {
		e := newExec(t, Config{})
		defer e.Close()
		fn := pyFn("x", "def f():\n    return 1\n")
		fn.Container = "fxmesh-test/no-such-image:0"
		_, err := e.Execute(context.Background(), exec.Task{Function: fn})
		if !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), `"fxmesh-test/no-such-image:0"`) {
			t.Errorf("Execute: %v (kind %q), want not-found naming the image", err, fault.KindOf(err))
		}
		if n := len(e.Containers()); n != 0 {
			t.Errorf("%d containers started", n)
		}
		fn.Container = ""
		if _, err := e.Execute(context.Background(), exec.Task{Function: fn}); !fault.Is(err, fault.Invalid) {
			t.Errorf("no image: %v, want invalid", err)
		}
	})
}

// TestTenants: two tenants never share a container.
func TestTenants(t *testing.T) {
	e := newExec(t, Config{Workers: 1})
	defer e.Close()
	fn := pyFn("host", "import socket\nseen = []\ndef f(who):\n    seen.append(who)\n    return [socket.gethostname(), seen]\n")
	get := func(tenant string) []any {
		r := run(t, e, exec.Task{Tenant: tenant, Function: fn, Args: raw(fmt.Sprintf("[%q]", tenant))})
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		var v []any
		json.Unmarshal(r.Value, &v)
		return v
	}
	a1, b1, a2 := get("alice"), get("bob"), get("alice")
	if a1[0] == b1[0] {
		t.Errorf("alice and bob ran in one container, %v", a1[0])
	}
	if fmt.Sprint(b1[1]) != "[bob]" || fmt.Sprint(a2[1]) != "[alice alice]" {
		t.Errorf("state seen: bob %v, alice %v", b1[1], a2[1])
	}
}

// TestIdleTimeout: idle containers go.
func TestIdleTimeout(t *testing.T) {
	e := newExec(t, Config{IdleTimeout: 200 * time.Millisecond})
	defer e.Close()
	value(t, e, pyFn("one", "def f():\n    return 1\n"), "[]")
	deadline := time.Now().Add(20 * time.Second)
	for len(e.Containers()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("containers %v still there", e.Containers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, _ := osexec.Command("docker", "ps", "-aq", "--filter", "label="+LabelExecutor+"="+e.id).Output()
	if len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("docker still lists %s", out)
	}
}

// TestMaxContainers: at the bound, a new container replaces the idle one
// unused the longest.
func TestMaxContainers(t *testing.T) {
	e := newExec(t, Config{Workers: 1, MaxContainers: 1})
	defer e.Close()
	fn := pyFn("host", "import socket\ndef f():\n    return socket.gethostname()\n")
	for _, tenant := range []string{"alice", "bob"} {
		if r := run(t, e, exec.Task{Tenant: tenant, Function: fn}); r.Error != nil {
			t.Fatal(r.Error)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for n := len(e.Containers()); n != 1; n = len(e.Containers()) {
		if time.Now().After(deadline) {
			t.Fatalf("containers %v, want one", e.Containers())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunArgs: the command line a container runs with, defaults and
// options, GPUs included.
func TestRunArgs(t *testing.T) {
	dir := t.TempDir()
	e := &Executor{cfg: Config{Mounts: []Mount{{Host: dir, Container: "/data"}}, GPUs: "all"}.withDefaults(), id: "fxmesh-t"}
	tests := []struct {
		name string
		rt   *CLI
		k    key
		want string
	}{
		{"python", Docker(), key{image: "img", kind: exec.KindPython},
			"docker run -i --name fxmesh-t-1 --log-driver none --cap-drop ALL --security-opt no-new-privileges --user 65534:65534 --network none --cpus 1 --memory 536870912 --memory-swap 536870912 --pids-limit 256 --tmpfs /tmp:rw,nosuid,nodev,mode=1777,size=67108864 --mount type=bind,source=" + dir + ",target=/data,readonly --label org.fxmesh.executor=fxmesh-t --label org.fxmesh.tenant=alice --entrypoint python3 -- img -u -B -c"},
		{"gpu", Docker(), key{image: "img", kind: exec.KindShell, gpu: true},
			"--gpus all --label"},
		{"podman", Podman(), key{image: "img", kind: exec.KindShell},
			"--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --entrypoint /bin/sh -- img -c"},
	}
	e.cfg.NeedsGPU = func(fn exec.Function) bool { return strings.HasPrefix(fn.ID, "gpu-") }
	if k := e.keyOf(exec.Task{Function: exec.Function{ID: "gpu-train"}}); !k.gpu {
		t.Errorf("a function that needs GPUs: key %+v", k)
	}
	if k := e.keyOf(exec.Task{Function: exec.Function{ID: "cpu-only"}}); k.gpu {
		t.Errorf("a function that needs none: key %+v", k)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.k.tenant = "alice"
			e.nextID.Store(0)
			got := strings.Join(tc.rt.Command(e.spec(tc.k)).Args, " ")
			if !strings.Contains(got, tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !tc.k.gpu && strings.Contains(got, "--gpus") {
				t.Errorf("GPUs for a function that needs none: %s", got)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	allowed := t.TempDir()
	inside := filepath.Join(allowed, "in")
	os.Mkdir(inside, 0o755)
	outside := t.TempDir()
	link := filepath.Join(allowed, "link")
	os.Symlink(outside, link)
	tests := []struct {
		name string
		cfg  Config
		kind fault.Kind
	}{
		{"zero", Config{}, ""},
		{"mount allowed", Config{Mounts: []Mount{{Host: inside}}, AllowedHostPaths: []string{allowed}}, ""},
		{"mount outside", Config{Mounts: []Mount{{Host: outside}}, AllowedHostPaths: []string{allowed}}, fault.Denied},
		{"mount through a link", Config{Mounts: []Mount{{Host: link}}, AllowedHostPaths: []string{allowed}}, fault.Denied},
		{"mount with no allowlist", Config{Mounts: []Mount{{Host: inside}}}, fault.Denied},
		{"relative mount", Config{Mounts: []Mount{{Host: "in"}}, AllowedHostPaths: []string{allowed}}, fault.Invalid},
		{"comma", Config{Mounts: []Mount{{Host: inside + ",readonly=false"}}, AllowedHostPaths: []string{allowed}}, fault.Invalid},
		{"network option", Config{Network: "--privileged"}, fault.Invalid},
		{"negative workers", Config{Workers: -1}, fault.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validate()
			if fault.KindOf(err) != tc.kind {
				t.Errorf("validate: %v (kind %q), want kind %q", err, fault.KindOf(err), tc.kind)
			}
		})
	}
}

// TestCommand: a shell task's argv, or why it has none.
func TestCommand(t *testing.T) {
	tests := []struct {
		name, command, args, kwargs string
		want                        string // argv joined by |, or the error's text
	}{
		{"words", "echo {a} 'b c'", "", `{"a": "x y"}`, "echo|x y|b c"},
		{"empty args", "echo", "[ ]", "", "echo"},
		{"positional", "echo", `["x"]`, "", "not 1 positional ones"},
		{"NUL", "echo {a}", "", `{"a": "x\u0000y"}`, "NUL byte"},
		{"missing value", "echo {a}", "", "", `missing argument "a"`},
		{"bad template", "echo {", "", "", "opens no {name} placeholder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			argv, err := command(exec.Task{Function: exec.Function{Kind: exec.KindShell, Command: tc.command}, Args: raw(tc.args), Kwargs: raw(tc.kwargs)})
			got := strings.Join(argv, "|")
			if err != nil {
				got = err.Error()
				if !fault.Is(err, fault.Invalid) {
					t.Errorf("error of kind %q, want invalid", fault.KindOf(err))
				}
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("command = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestShellWorkerOnHost runs worker.sh under the host's sh, to check the
// escaping of words against a real shell without a container.
func TestShellWorkerOnHost(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no sh")
	}
	words := []string{"", " ", "-n", "-e", "%s", "%%", `\`, `\n`, `\0101`, "'", `"`, "$HOME", "`id`", "a\nb", "tab\there", "é ü 😀", "\x01\x7f\xff", "trailing\n\n", "*"}
	cmd := osexec.Command("/bin/sh", "-c", shellWorker)
	cmd.Env = []string{"TMPDIR=" + t.TempDir(), "PATH=/usr/bin:/bin"}
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	b := &box{rd: bufio.NewReader(outPipe)}
	if err := b.ready(exec.KindShell); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"printf", "[%s]"}, words...)
	if _, err := in.Write(appendCommand(nil, argv)); err != nil {
		t.Fatal(err)
	}
	st, err := readStatus(b.rd)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, st.out)
	if _, err := io.ReadFull(b.rd, got); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, w := range words {
		want.WriteString("[" + w + "]")
	}
	if st.code != 0 || string(got) != want.String() {
		t.Errorf("status %d, got %q\nwant %q", st.code, got, want.String())
	}
}
