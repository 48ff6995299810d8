package node

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/node/admission"
	"github.com/fxmesh/fxmesh/node/taskstore"
)

// TestObserverStates: the web view's list follows a task from received
// through queued (waiting for a worker) and running to its end; a task
// that never got a worker ends without having been running.
func TestObserverStates(t *testing.T) {
	o := &observer{log: slog.New(slog.DiscardHandler), metrics: newMetrics(RoleEndpoint), now: time.Now}
	state := func(id string) string {
		for _, s := range o.recentTasks() {
			if s.ID == id {
				return s.State
			}
		}
		return "(not listed)"
	}
	task := taskstore.Task{ID: "t1", Function: "f", Caller: "c", Count: 1, Received: time.Now()}
	o.admitted(&task)
	if got := state("t1"); got != "received" {
		t.Fatalf("admitted: %s, want received", got)
	}
	o.queued("t1")
	if got := state("t1"); got != "queued" {
		t.Fatalf("waiting for a worker: %s, want queued", got)
	}
	o.started(&admission.Admitted{Task: task}, time.Now())
	if got := state("t1"); got != "running" {
		t.Fatalf("started: %s, want running", got)
	}
	o.queued("t1") // late: never moves a task back
	if got := state("t1"); got != "running" {
		t.Fatalf("queued after started: %s, want running still", got)
	}

	// Past recentTasks the oldest go, and a late event of a task gone
	// changes none listed (the one now in its place, say).
	for i := range recentTasks {
		o.admitted(&taskstore.Task{ID: fmt.Sprint("n", i), Function: "f", Caller: "c", Count: 1, Received: time.Now()})
	}
	if got := state("t1"); got != "(not listed)" {
		t.Fatalf("t1 after %d more tasks: %s", recentTasks, got)
	}
	o.queued("t1")
	for _, s := range o.recentTasks() {
		if s.State != "received" {
			t.Fatalf("an event of a task no longer listed changed %s to %s", s.ID, s.State)
		}
	}
	o.queued("n5")
	if got := state("n5"); got != "queued" {
		t.Fatalf("n5 queued: %s", got)
	}
}
