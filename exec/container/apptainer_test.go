package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// The Apptainer tests run testdata/apptainer-standin.sh, a stand-in, not
// Apptainer (which is not packaged here): it records its argv and runs the
// worker on the host. They check the commands the runtime builds and the
// executor's handling of its processes; real runs need Apptainer.

// TestApptainerArgs: the exec command a container runs with.
func TestApptainerArgs(t *testing.T) {
	a := NewApptainer("", "/images")
	base := Spec{Name: "c1", Image: "fxmesh/python:1", Command: []string{"python3", "-u", "-c", "W"}}
	full := base
	full.User, full.Network, full.CPUs, full.Memory, full.PIDs, full.TmpSize = "65534:65534", "none", 1.5, 1<<20, 64, 1<<20
	full.Mounts = []Mount{{Host: "/data"}, {Host: "/out", Container: "/o", Writable: true}}
	full.GPUs, full.Labels = "device=0,1", map[string]string{"k": "v"}
	abs := base
	abs.Image = "/sif/py.sif"
	tests := []struct {
		name string
		s    Spec
		want string
	}{
		{"minimal", base, "apptainer exec --containall --cleanenv --no-home --no-privs -- /images/fxmesh_python_1.sif python3 -u -c W"},
		{"full", full, "apptainer exec --containall --cleanenv --no-home --no-privs --security=uid:65534,gid:65534 --net --network=none --cpus=1.5 --memory=1048576 --memory-swap=1048576 --pids-limit=64 --bind=/data:/data:ro --bind=/out:/o:rw --nv --env=CUDA_VISIBLE_DEVICES=0,1 -- /images/fxmesh_python_1.sif python3 -u -c W"},
		{"path", abs, "-- /sif/py.sif python3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(a.Command(tc.s).Args, " ")
			if !strings.Contains(got, tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	a.Remove(context.Background(), "c1")
	for _, bad := range []string{"", "-x", "../etc/x", "a/../../b"} {
		if _, err := a.Path(bad); !fault.Is(err, fault.Invalid) {
			t.Errorf("Path(%q): %v, want invalid", bad, err)
		}
	}
	if _, err := NewApptainer("", "").Path("fxmesh/python:1"); !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "absolute paths") {
		t.Errorf("a name with no image directory: %v", err)
	}
}

// standIn returns the Apptainer runtime on the stand-in, with an image
// directory holding fxmesh-test/python:1, and the file the stand-in logs
// its argv to.
func standIn(t *testing.T) (*Apptainer, string) {
	prog, err := filepath.Abs("testdata/apptainer-standin.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fxmesh-test_python_1.sif"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "argv")
	t.Setenv("FXMESH_STANDIN_LOG", log)
	return NewApptainer(prog, dir), log
}

// standInCalls returns the argv of each call the stand-in logged.
func standInCalls(t *testing.T, log string) [][]string {
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][]string
	for _, c := range strings.Split(strings.TrimSuffix(string(b), "\x00\x1e"), "\x00\x1e") {
		calls = append(calls, strings.Split(c, "\x00"))
	}
	return calls
}

// TestApptainerStandIn: the executor runs functions through the runtime's
// commands, a timeout kills the container's process group, a kill is
// reported, and absent images are not found or pulled.
func TestApptainerStandIn(t *testing.T) {
	a, log := standIn(t)
	e := newExec(t, Config{Runtime: a, Pull: true, Workers: 1, PerImage: 1})
	defer e.Close()
	fn := pyFn("pid", "import os, subprocess, time\ndef f(s=0, child=False):\n    if child:\n        subprocess.Popen(['sleep', '60'])\n    time.sleep(s)\n    return os.getpgrp()\n")
	pgid, err := strconv.Atoi(value(t, e, fn, "[]"))
	if err != nil {
		t.Fatal(err)
	}
	calls := standInCalls(t, log)
	run := strings.Join(calls[len(calls)-1], " ")
	want := "exec --containall --cleanenv --no-home --no-privs --security=uid:65534,gid:65534 --net --network=none --cpus=1 --memory=536870912 --memory-swap=536870912 --pids-limit=256 -- " +
		filepath.Join(a.Images, "fxmesh-test_python_1.sif") + " python3 -u -B -c "
	if !strings.HasPrefix(run, want) {
		t.Errorf("the stand-in ran %.300s\nwant %s...", run, want)
	}

	// A timeout removes the container: its process group is killed, the
	// worker's children with it.
	r := run2(t, e, exec.Task{Function: fn, Args: raw("[30, true]"), Timeout: 500 * time.Millisecond})
	if r.Error == nil || r.Error.Kind != fault.Timeout {
		t.Fatalf("Result.Error = %+v, want timeout", r.Error)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still there 10s after the timeout", pgid)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A container killed mid-task: the task fails, saying so.
	pgid, _ = strconv.Atoi(value(t, e, fn, "[]"))
	done := make(chan exec.Result, 1)
	go func() { done <- run2(t, e, exec.Task{Function: fn, Args: raw("[30]")}) }()
	for e.Stats().Running != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r = <-done
	if r.Error == nil || r.Error.Kind != fault.System || !strings.Contains(r.Error.Message, "exit status 137") {
		t.Fatalf("Result.Error = %+v, want system, exit status 137", r.Error)
	}
	t.Logf("killed: %v", r.Error)

	// Pulls: a name the registry has becomes a SIF file; one it lacks is
	// not found; a path is not pulled.
	pulled := fn
	pulled.Container = "fxmesh-test/pulled:2"
	if got := value(t, e, pulled, "[]"); got == "" {
		t.Error("no value from the pulled image")
	}
	calls = standInCalls(t, log)
	var pulls []string
	for _, c := range calls {
		if c[0] == "pull" {
			pulls = append(pulls, strings.Join(c, " "))
		}
	}
	if want := "pull -- " + filepath.Join(a.Images, "fxmesh-test_pulled_2.sif") + " docker://fxmesh-test/pulled:2"; len(pulls) != 1 || pulls[0] != want {
		t.Errorf("pulls %q, want [%s]", pulls, want)
	}
	for _, image := range []string{"fxmesh-test/absent:1", "/no/such.sif"} {
		fn := fn
		fn.Container = image
		_, err := e.Execute(context.Background(), exec.Task{Function: fn})
		if !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), image) {
			t.Errorf("image %s: %v (kind %q), want not-found naming it", image, err, fault.KindOf(err))
		}
		t.Logf("%s: %v", image, err)
	}
}

// run2 is run for goroutines: it reports an executor error with Errorf.
func run2(t *testing.T, e exec.Executor, task exec.Task) exec.Result {
	r, err := e.Execute(context.Background(), task)
	if err != nil {
		t.Errorf("Execute: %v", err)
		return exec.Result{Error: &exec.TaskError{Kind: fault.Internal, Message: err.Error()}}
	}
	return r
}

// TestApptainerMissing: no program, or one that fails, is unavailable.
func TestApptainerMissing(t *testing.T) {
	_, err := New(Config{Runtime: NewApptainer("/no/such/apptainer", "")})
	if !fault.Is(err, fault.Unavailable) || !strings.Contains(err.Error(), "runtime apptainer") {
		t.Errorf("New: %v, want unavailable naming apptainer", err)
	}
	_, err = New(Config{Runtime: NewApptainer("false", "")})
	if !fault.Is(err, fault.Unavailable) || !errors.Is(err, err) {
		t.Errorf("New with a failing program: %v, want unavailable", err)
	}
}
