package node

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node/admission"
	"github.com/fxmesh/fxmesh/routing"
)

// TestResultOf: an executor's result becomes the form the task store keeps
// and the wire carries in one step, whole: every field, its error's kind,
// and its times in Unix nanoseconds, 0 for a time the executor did not set.
func TestResultOf(t *testing.T) {
	at := time.Unix(1_770_000_000, 5)
	tests := []struct {
		name string
		in   exec.Result
		want invoke.Result
	}{
		{"a value",
			exec.Result{Value: []byte(`{"sum":3}`), Stdout: "out", Stderr: "err", Started: at, Finished: at.Add(time.Second)},
			invoke.Result{Index: 2, Value: []byte(`{"sum":3}`), Stdout: "out", Stderr: "err", Started: at.UnixNano(), Finished: at.Add(time.Second).UnixNano()}},
		{"an exception",
			exec.Result{Error: &exec.TaskError{Kind: fault.User, Type: "ValueError", Message: "bad x", Traceback: "tb"}, Started: at, Finished: at},
			invoke.Result{Index: 2, Error: &invoke.Error{Kind: "user", Type: "ValueError", Message: "bad x", Traceback: "tb"}, Started: at.UnixNano(), Finished: at.UnixNano()}},
		{"a command's exit code",
			exec.Result{Value: []byte(`{"returncode":3}`), ExitCode: 3, Started: at, Finished: at},
			invoke.Result{Index: 2, Value: []byte(`{"returncode":3}`), ExitCode: 3, Started: at.UnixNano(), Finished: at.UnixNano()}},
		{"no times",
			exec.Result{Error: &exec.TaskError{Kind: fault.System, Message: "worker died"}},
			invoke.Result{Index: 2, Error: &invoke.Error{Kind: "system", Message: "worker died"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := resultOf(2, tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("resultOf\n got  %+v (error %+v)\n want %+v (error %+v)", got, got.Error, tc.want, tc.want.Error)
			}
		})
	}
}

// idleExecutor runs nothing and reports no load.
type idleExecutor struct{}

func (idleExecutor) Execute(context.Context, exec.Task) (exec.Result, error) {
	return exec.Result{}, exec.ErrClosed
}
func (idleExecutor) Close() error { return nil }

// loadedExecutor reports the load it holds.
type loadedExecutor struct {
	idleExecutor
	stats exec.Stats
}

func (x loadedExecutor) Stats() exec.Stats { return x.stats }

// TestExecutors: the registry answers admission's questions (which
// executor runs this function, how many calls wait for it) and the
// heartbeat's, for executors that report their load and for those that do
// not. A function with a container goes to the container executor whatever
// its kind, and to none when there is none: never to the host's.
func TestExecutors(t *testing.T) {
	xs := executors{
		exec.KindPython: loadedExecutor{stats: exec.Stats{Workers: 4, Idle: 1, Running: 3, Queued: 2}},
		exec.KindShell:  loadedExecutor{stats: exec.Stats{Workers: 8, Idle: 8, Queued: 5}},
		kindContainer:   idleExecutor{},
	}
	boxed := func(kind exec.Kind) exec.Function { return exec.Function{Kind: kind, Container: "example/box:1"} }
	tests := []struct {
		fn     exec.Function
		queued int
		runs   bool
	}{
		{exec.Function{Kind: exec.KindPython}, 2, true},
		{exec.Function{Kind: exec.KindShell}, 5, true},
		{boxed(exec.KindPython), 0, true},
		{boxed(exec.KindShell), 0, true},
		{exec.Function{Kind: "slurm"}, 0, false},
	}
	for _, tc := range tests {
		if queued, runs := xs.Queued(tc.fn); queued != tc.queued || runs != tc.runs {
			t.Errorf("Queued(%+v) = %d, %v; want %d, %v", tc.fn, queued, runs, tc.queued, tc.runs)
		}
	}
	delete(xs, kindContainer)
	if _, runs := xs.Queued(boxed(exec.KindPython)); runs {
		t.Errorf("a python function with a container runs on an endpoint without a container executor")
	}
	if got, want := xs.load(), (exec.Stats{Workers: 4, Idle: 1, Running: 3, Queued: 7}); got != want {
		t.Errorf("load = %+v, want %+v: the python pool's workers, every executor's queue", got, want)
	}
	if got := (executors{exec.KindShell: idleExecutor{}}).load(); got != (exec.Stats{}) {
		t.Errorf("load without a python executor = %+v, want nothing", got)
	}
}

// TestGPUFunctions: a function with a container gets GPUs when it, or an
// invocation of it, was admitted with a requirement of GPUs; a function
// on the host, or one that asks for none, does not.
func TestGPUFunctions(t *testing.T) {
	reqs := func(ss ...string) []routing.Requirement {
		rs, err := routing.ParseRequirements(ss)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	adm := func(id, image string, fnReqs []routing.Requirement, invReqs ...string) *admission.Admitted {
		return &admission.Admitted{
			Invocation: &invoke.Signed{Invocation: invoke.Invocation{Require: invReqs}},
			Function:   &admission.Compiled{Exec: exec.Function{ID: id, Container: image}, Require: fnReqs},
		}
	}
	var g gpuFunctions
	for _, a := range []*admission.Admitted{
		adm("own", "img", reqs("gpus>=1")),
		adm("asked", "img", nil, "gpus>=2"),
		adm("none", "img", reqs("cpus>=1"), "gpus>=0"),
		adm("host", "", reqs("gpus>=1")),
	} {
		g.note(a)
	}
	for id, want := range map[string]bool{"own": true, "asked": true, "none": false, "host": false, "unseen": false} {
		if got := g.needs(exec.Function{ID: id}); got != want {
			t.Errorf("needs(%s) = %v, want %v", id, got, want)
		}
	}
}
