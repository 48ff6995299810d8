package node

import (
	"testing"
	"time"

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
