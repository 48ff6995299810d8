package gate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
)

// TestGate: one slot; a second call waits, counted as queued, until its
// context ends or the gate closes; Begin after Close is refused; Wait
// returns once every admitted call has ended.
func TestGate(t *testing.T) {
	g := New(1)
	if err := g.Begin(); err != nil {
		t.Fatal(err)
	}
	if err := g.Acquire(t.Context(), "test"); err != nil || g.Running() != 1 {
		t.Fatalf("first Acquire: %v, running %d", err, g.Running())
	}
	ctx, cancel := context.WithCancel(t.Context())
	waited := make(chan error, 1)
	go func() { waited <- g.Acquire(ctx, "test: wait") }()
	for g.Queued() != 1 {
		time.Sleep(time.Millisecond) // until the waiter is counted
	}
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) || g.Queued() != 0 {
		t.Fatalf("a waiter whose context ends: %v, queued %d", err, g.Queued())
	}
	go func() { waited <- g.Acquire(t.Context(), "test: wait") }()
	for g.Queued() != 1 {
		time.Sleep(time.Millisecond)
	}
	g.Close()
	g.Close() // again: nothing
	if err := <-waited; !errors.Is(err, exec.ErrClosed) || !g.Closed() {
		t.Fatalf("a waiter when the gate closes: %v", err)
	}
	if err := g.Begin(); !errors.Is(err, exec.ErrClosed) {
		t.Fatalf("Begin after Close: %v", err)
	}
	ended := make(chan struct{})
	go func() { g.Wait(); close(ended) }()
	select {
	case <-ended:
		t.Fatal("Wait returned while a call was admitted")
	default:
	}
	g.Release()
	g.End()
	<-ended
}
