package client

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
)

// testTaskID makes a task ID from n, as invoke.TaskID would.
func testTaskID(t testing.TB, n int) string {
	t.Helper()
	k, _ := identity.GenerateKey()
	sum := sha256.Sum256([]byte(fmt.Sprint(n)))
	return invoke.TaskID(k.ID(), sum[:])
}

// TestTaskRecord: a submitted task is recorded, its state noted only
// forward, listed newest first and by state, and a record in the form of
// earlier versions (endpoint and created) still reads.
func TestTaskRecord(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	ep, _ := identity.GenerateKey()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, b := testTaskID(t, 1), testTaskID(t, 2)
	if err := h.RecordTask(TaskRecord{TaskID: a, Endpoint: ep.ID().String(), Function: "bafyfn", FunctionRef: "me/sq", Count: 3, Submitted: t0}); err != nil {
		t.Fatal(err)
	}
	if err := h.RecordTask(TaskRecord{TaskID: b, Endpoint: ep.ID().String(), Submitted: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	r, err := h.Task(a)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != invoke.StateReceived || r.Function != "bafyfn" || r.FunctionRef != "me/sq" || r.Count != 3 || !r.Submitted.Equal(t0) {
		t.Fatalf("record %+v", r)
	}
	notes := []struct {
		st   invoke.State
		want invoke.State
	}{
		{invoke.StateRunning, invoke.StateRunning},
		{invoke.StateQueued, invoke.StateRunning}, // never back
		{invoke.StateCancelled, invoke.StateCancelled},
		{invoke.StateDone, invoke.StateCancelled}, // a final state stays
		{invoke.StateUnknown, invoke.StateCancelled},
	}
	for i, n := range notes {
		if err := h.NoteTask(a, &invoke.Status{State: n.st, Done: 1}, t0.Add(time.Duration(i+2)*time.Second)); err != nil {
			t.Fatal(err)
		}
		if r, _ := h.Task(a); r.State != n.want {
			t.Fatalf("after noting %s: %s, want %s", n.st, r.State, n.want)
		}
	}
	if err := h.NoteTask(testTaskID(t, 3), &invoke.Status{State: invoke.StateDone}, t0); err != nil {
		t.Fatalf("noting a task without a record: %v", err)
	}
	if _, err := h.Task(testTaskID(t, 3)); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a task never recorded: %v, want not-found", err)
	}
	all, err := h.Tasks("", 0)
	if err != nil || len(all) != 2 || all[0].TaskID != b || all[1].TaskID != a {
		t.Fatalf("Tasks = %+v, %v; want b then a", all, err)
	}
	if c, _ := h.Tasks(invoke.StateCancelled, 0); len(c) != 1 || c[0].TaskID != a {
		t.Fatalf("cancelled tasks = %+v", c)
	}
	if one, _ := h.Tasks("", 1); len(one) != 1 || one[0].TaskID != b {
		t.Fatalf("limit 1 = %+v", one)
	}
	// A record of an earlier version.
	old := testTaskID(t, 4)
	legacy := fmt.Sprintf(`{"endpoint":%q,"created":"2026-01-02T03:04:05Z"}`, ep.ID())
	if err := os.WriteFile(filepath.Join(h.Dir, "tasks", old+".json"), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := h.TaskEndpoint(old); err != nil || got != ep.ID() {
		t.Fatalf("endpoint of an old record: %v, %v", got, err)
	}
	if r, _ := h.Task(old); r.Submitted.Year() != 2026 || r.State != invoke.StateReceived {
		t.Fatalf("old record read as %+v", r)
	}
}

// TestTaskRecordConcurrent: many writers at once (as many fx processes
// would be) leave every record whole and readable.
func TestTaskRecordConcurrent(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	ep, _ := identity.GenerateKey()
	ids := make([]string, 16)
	for i := range ids {
		ids[i] = testTaskID(t, i)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, id := range ids {
				if err := h.RecordTask(TaskRecord{TaskID: id, Endpoint: ep.ID().String(), Submitted: time.Unix(int64(i), 0)}); err != nil {
					t.Error(err)
				}
				if err := h.NoteTask(id, &invoke.Status{State: invoke.StateRunning}, time.Now()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	all, err := h.Tasks("", 0)
	if err != nil || len(all) != len(ids) {
		t.Fatalf("%d records, %v; want %d", len(all), err, len(ids))
	}
	if left, _ := filepath.Glob(filepath.Join(h.Dir, "tasks", ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
