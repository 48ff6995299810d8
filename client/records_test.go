package client

import (
	"log/slog"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// TestRecordBehind: records and notes queued behind the calls reach the
// files on flush, merged (a task noted done before its record was written
// is recorded done, never back), in the form Home writes; a note for a
// task without a record makes none; a record left queued is written by
// itself within a moment, and close writes what is queued.
func TestRecordBehind(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	w := newRecordWriter(h, slog.New(slog.DiscardHandler))
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, b, c, d := testTaskID(t, 1), testTaskID(t, 2), testTaskID(t, 3), testTaskID(t, 4)

	w.record(TaskRecord{TaskID: a, Endpoint: "ep", Function: "bafyfn", Count: 1, Submitted: t0})
	w.note(a, &invoke.Status{State: invoke.StateRunning}, t0.Add(time.Second))
	w.note(a, &invoke.Status{State: invoke.StateDone, Done: 1}, t0.Add(2*time.Second))
	w.note(a, &invoke.Status{State: invoke.StateQueued}, t0.Add(3*time.Second)) // late: ignored
	w.note(b, &invoke.Status{State: invoke.StateDone}, t0)                      // no record: none made
	w.flush()
	r, err := h.Task(a)
	if err != nil {
		t.Fatalf("after flush: %v", err)
	}
	if r.State != invoke.StateDone || r.Done != 1 || !r.Seen.Equal(t0.Add(2*time.Second)) || r.Function != "bafyfn" || !r.Submitted.Equal(t0) {
		t.Fatalf("merged record %+v", r)
	}
	if _, err := h.Task(b); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a note without a record made one: %v", err)
	}

	// Notes for a record already on disk are applied to it.
	w.note(a, &invoke.Status{State: invoke.StateFailed}, t0.Add(4*time.Second)) // a final state stays
	w.record(TaskRecord{TaskID: c, Endpoint: "ep", Submitted: t0})
	w.flush()
	w.note(c, &invoke.Status{State: invoke.StateRunning, Count: 5}, t0.Add(time.Second))
	w.flush()
	if r, _ := h.Task(a); r.State != invoke.StateDone {
		t.Fatalf("a final state was replaced: %+v", r)
	}
	if r, _ := h.Task(c); r.State != invoke.StateRunning || r.Count != 5 {
		t.Fatalf("note on a written record: %+v", r)
	}

	// Unflushed, a record is written within a moment.
	w.record(TaskRecord{TaskID: d, Endpoint: "ep", Submitted: t0})
	for by := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := h.Task(d); err == nil {
			break
		}
		if time.Now().After(by) {
			t.Fatal("a queued record was not written by itself")
		}
	}

	// Close writes what is queued; after it, writes happen at once.
	w.note(d, &invoke.Status{State: invoke.StateDone}, t0.Add(time.Second))
	w.close()
	if r, _ := h.Task(d); r.State != invoke.StateDone {
		t.Fatalf("close left a note unwritten: %+v", r)
	}
	w.record(TaskRecord{TaskID: b, Endpoint: "ep", Submitted: t0})
	if r, err := h.Task(b); err != nil || r.State != invoke.StateReceived {
		t.Fatalf("record after close: %+v, %v", r, err)
	}
}

// TestRecordBehindOneAppendARound: a round of the writer appends the lines
// of every task due with one write.
func TestRecordBehindOneAppendARound(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	w := newRecordWriter(h, slog.New(slog.DiscardHandler))
	defer w.close()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const n = 50
	ids := make([]string, n)
	for i := range ids {
		ids[i] = testTaskID(t, i)
	}
	before := journalAppends.Load()
	for _, id := range ids {
		w.record(TaskRecord{TaskID: id, Endpoint: "ep", Submitted: t0})
	}
	w.flush()
	// One round, or two if the first record came due while the others
	// were queued.
	if got := journalAppends.Load() - before; got > 2 {
		t.Fatalf("%d appends for %d records queued at once", got, n)
	}
	for _, id := range ids {
		w.note(id, &invoke.Status{State: invoke.StateDone}, t0.Add(time.Second))
	}
	before = journalAppends.Load()
	w.flush()
	if got := journalAppends.Load() - before; got > 2 {
		t.Fatalf("%d appends for %d notes queued at once", got, n)
	}
	if all, err := h.Tasks(invoke.StateDone, 0); err != nil || len(all) != n {
		t.Fatalf("%d done, %v; want %d", len(all), err, n)
	}
}
