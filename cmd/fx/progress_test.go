package main

import (
	"testing"

	"github.com/fxmesh/fxmesh/client"
)

// TestProgressLine: the batch bar says how many inputs wait in queued
// tasks and how many are in running ones; done and ended tasks count in
// neither.
func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		ts   []taskProgress
		want string
	}{
		{nil, "sending"},
		{[]taskProgress{{client.StateReceived, 10, 0}, {client.StateQueued, 5, 0}}, "queued 15"},
		{[]taskProgress{{client.StateRunning, 100, 12}}, "running 88"},
		{[]taskProgress{{client.StateRunning, 100, 12}, {client.StateQueued, 500, 0}, {client.StateDone, 7, 7}, {client.StateFailed, 3, 1}}, "running 88, queued 500"},
		{[]taskProgress{{client.StateDone, 4, 4}}, "finishing"},
	} {
		if got := progressLine(c.ts); got != c.want {
			t.Errorf("progressLine(%v) = %q, want %q", c.ts, got, c.want)
		}
	}
}
