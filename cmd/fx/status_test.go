package main

import (
	"testing"

	"github.com/fxmesh/fxmesh/client"
)

func TestStatusLine(t *testing.T) {
	tests := []struct {
		name string
		st   client.Status
		want string
	}{
		{"running", client.Status{State: client.StateRunning, Count: 1}, "running"},
		{"a batch under way", client.Status{State: client.StateRunning, Count: 10, Done: 3}, "running: 3 of 10 inputs done"},
		{"a batch done", client.Status{State: client.StateDone, Count: 10, Done: 10}, "done: 10 of 10 inputs done"},
		{"a failure says why", client.Status{State: client.StateFailed, Count: 1, Error: &client.ResultError{Kind: "system", Message: "endpoint shut down while the task ran"}},
			"failed (endpoint shut down while the task ran)"},
		{"a failed batch", client.Status{State: client.StateFailed, Count: 4, Done: 2, Error: &client.ResultError{Kind: "timeout", Type: "Timeout", Message: "task timed out after 1s"}},
			"failed: 2 of 4 inputs done (Timeout: task timed out after 1s)"},
	}
	for _, tc := range tests {
		if got := statusLine(&tc.st); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
