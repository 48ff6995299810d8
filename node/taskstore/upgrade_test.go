package taskstore

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// TestOpenStoreOfTheFirstVersion: an endpoint upgraded in place keeps its
// tasks. testdata/v1-tasks.db was written, and closed cleanly, by the store
// as it was when results and errors were taskstore's own types (before they
// became invoke's); its tasks were admitted at fixtureTime:
//
//   - task-done: 3 inputs, queued and running at +1s; result 0 a value
//     with output, result 1 a ValueError with its traceback, result 2 a
//     command's exit code 3; done at +2s.
//   - task-failed: 2 inputs; result 1 is null; failed as a whole (system)
//     at +2s.
//   - task-running: running at +2s, never finished.
//   - task-received: never ran.
//
// Opened by this version, every task, state, result and error reads as it
// was written; the unfinished ones fail at the restart as they always did;
// and every ID is still refused as a replay.
func TestOpenStoreOfTheFirstVersion(t *testing.T) {
	fixtureTime := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	b, err := os.ReadFile(filepath.Join("testdata", "v1-tasks.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tasks.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	restart := fixtureTime.Add(3 * time.Second)
	s := reopen(t, path, Options{Now: func() time.Time { return restart }})

	at := func(d time.Duration) time.Time { return fixtureTime.Add(d) }
	ns := func(d time.Duration) int64 { return fixtureTime.Add(d).UnixNano() }
	restarted := &invoke.Error{Kind: string(fault.System), Message: restartMessage}
	tasks := []struct {
		id      string
		want    Task
		results []invoke.Result
	}{
		{"task-done", Task{
			Count: 3, State: invoke.StateDone, Received: at(0), Queued: at(time.Second), Started: at(time.Second),
			Finished: at(2 * time.Second), Completed: 3,
		}, []invoke.Result{
			{Index: 0, Value: []byte(`{"sum":3}`), Stdout: "out\n", Stderr: "warn\n", Started: ns(1), Finished: ns(2)},
			{Index: 1, Error: &invoke.Error{Kind: string(fault.User), Type: "ValueError", Message: "bad x",
				Traceback: "Traceback (most recent call last):\nValueError: bad x\n"}, Started: ns(3), Finished: ns(4)},
			{Index: 2, Value: []byte(`{"returncode":3}`), Stderr: "no such file\n", ExitCode: 3, Started: ns(5), Finished: ns(6)},
		}},
		{"task-failed", Task{
			Count: 2, State: invoke.StateFailed, Received: at(0), Started: at(2 * time.Second), Finished: at(2 * time.Second),
			Completed: 1, Error: &invoke.Error{Kind: string(fault.System), Message: "endpoint stopped the task: worker died"},
		}, []invoke.Result{{Index: 1, Value: []byte(`null`)}}},
		{"task-running", Task{
			Count: 1, State: invoke.StateFailed, Received: at(0), Started: at(2 * time.Second), Finished: restart, Error: restarted,
		}, nil},
		{"task-received", Task{
			Count: 1, State: invoke.StateFailed, Received: at(0), Finished: restart, Error: restarted,
		}, nil},
	}
	for _, tt := range tasks {
		t.Run(tt.id, func(t *testing.T) {
			want := tt.want
			want.ID, want.Caller, want.Function, want.Expires = tt.id, "12D3KooWcaller", "bafyfunction", at(time.Hour)
			got, err := s.Get(tt.id)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !taskEqual(got, want) {
				t.Errorf("task\n got  %+v (error %+v)\n want %+v (error %+v)", got, got.Error, want, want.Error)
			}
			rs, err := s.Results(tt.id, 0, 0)
			if err != nil {
				t.Fatalf("Results: %v", err)
			}
			if len(rs) == 0 {
				rs = nil
			}
			if !reflect.DeepEqual(rs, tt.results) {
				t.Errorf("results\n got  %+v\n want %+v", rs, tt.results)
			}
			if err := s.Admit(task(tt.id, 1, restart)); !fault.Is(err, fault.Replayed) {
				t.Errorf("Admit again = %v, want it refused as replayed", err)
			}
		})
	}
}
