package taskstore

import (
	"context"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

func TestCancel(t *testing.T) {
	c := newClock()
	opts := Options{Now: c.Now, FlushInterval: time.Hour}
	s, path := openTest(t, opts)
	id := taskID(1)
	if err := s.Admit(task(id, 3, c.Now())); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResult(id, result(0)); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	follow, err := s.Follow(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Cancel(id)
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got.State != invoke.StateCancelled || got.Finished.IsZero() || got.Completed != 1 {
		t.Fatalf("Cancel gave %s, finished %v, %d completed; want cancelled, finished, 1", got.State, got.Finished, got.Completed)
	}
	n := 0
	for range follow { // ends once the task is cancelled
		n++
	}
	if n != 1 {
		t.Errorf("Follow gave %d results, want the 1 stored before the cancel", n)
	}
	if _, err := s.Wait(ctx, id); err != nil {
		t.Errorf("Wait of a cancelled task: %v", err)
	}
	if err := s.PutResult(id, result(1)); fault.KindOf(err) != fault.Invalid {
		t.Errorf("PutResult after Cancel = %v, want invalid", err)
	}
	if err := s.SetState(id, invoke.StateRunning); fault.KindOf(err) != fault.Invalid {
		t.Errorf("SetState after Cancel = %v, want invalid", err)
	}
	if again, err := s.Cancel(id); err != nil || again.State != invoke.StateCancelled {
		t.Errorf("second Cancel = %v, %v; want cancelled", again.State, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, path, opts)
	tk, err := s.Get(id)
	if err != nil || tk.State != invoke.StateCancelled || tk.Completed != 1 {
		t.Fatalf("after reopen: %v, %d completed, %v; want cancelled, 1", tk.State, tk.Completed, err)
	}
	if rs, err := s.Results(id, 0, 0); err != nil || len(rs) != 1 {
		t.Errorf("results after reopen: %d, %v; want 1", len(rs), err)
	}
}

func TestCancelFinishedOrUnknown(t *testing.T) {
	c := newClock()
	s, _ := openTest(t, Options{Now: c.Now})
	id := taskID(1)
	if err := s.Admit(task(id, 1, c.Now())); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResult(id, result(0)); err != nil {
		t.Fatal(err)
	}
	if tk, err := s.Cancel(id); err != nil || tk.State != invoke.StateDone {
		t.Errorf("Cancel of a done task = %v, %v; want it left done", tk.State, err)
	}
	if _, err := s.Cancel(taskID(2)); fault.KindOf(err) != fault.NotFound {
		t.Errorf("Cancel of an unknown task = %v, want not-found", err)
	}
}
