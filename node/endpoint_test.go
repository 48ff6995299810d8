package node

import (
	"reflect"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// TestStoreTask: the store is told the earliest moment an invocation could
// have been admitted (so that a horizon refuses it), and keeps its replay
// entry past the latest.
func TestStoreTask(t *testing.T) {
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inv := &invoke.Signed{
		Invocation: invoke.Invocation{Function: "bafyfn", Inputs: make([]invoke.Input, 3),
			IssuedAt: issued.UnixNano(), Expires: issued.Add(time.Minute).UnixNano()},
		TaskID: "bafytask",
	}
	got := storeTask(inv, 30*time.Second)
	if !got.Issued.Equal(issued.Add(-30 * time.Second)) {
		t.Errorf("Issued = %v, want the issue time less the skew", got.Issued)
	}
	if !got.Expires.After(issued.Add(time.Minute + 30*time.Second)) {
		t.Errorf("Expires = %v, want after the expiry plus the skew", got.Expires)
	}
	if got.ID != "bafytask" || got.Function != "bafyfn" || got.Count != 3 {
		t.Errorf("task = %+v", got)
	}
}

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
