package gate

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/fxmesh/fxmesh/exec"
)

// Gate admits an executor's calls and bounds those that run at once.
type Gate struct {
	mu     sync.Mutex // orders closed with calls.Add
	closed atomic.Bool
	calls  sync.WaitGroup
	slots  chan struct{} // one token per running call
	queued atomic.Int64
	done   chan struct{} // closed by Close
	once   sync.Once
}

// New returns a gate that lets n calls run at once.
func New(n int) *Gate {
	return &Gate{slots: make(chan struct{}, n), done: make(chan struct{})}
}

// Begin admits a call, unless the gate is closed (exec.ErrClosed); an
// admitted call ends with End.
func (g *Gate) Begin() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return exec.ErrClosed
	}
	g.calls.Add(1)
	return nil
}

// End ends a call that Begin admitted.
func (g *Gate) End() { g.calls.Done() }

// Acquire takes a slot to run in, waiting for one, and reports the call
// started (exec.Started); it fails with the context's error (op says what
// waited) or exec.ErrClosed. Release gives it back.
func (g *Gate) Acquire(ctx context.Context, op string) error {
	select {
	case g.slots <- struct{}{}:
		exec.Started(ctx)
		return nil
	default:
	}
	g.queued.Add(1)
	defer g.queued.Add(-1)
	select {
	case g.slots <- struct{}{}:
		exec.Started(ctx)
		return nil
	case <-ctx.Done():
		return exec.ContextError(op, ctx.Err())
	case <-g.done:
		return exec.ErrClosed
	}
}

// Release gives back a slot that Acquire took.
func (g *Gate) Release() { <-g.slots }

// Running is how many slots are taken.
func (g *Gate) Running() int { return len(g.slots) }

// Queued is how many calls wait for a slot.
func (g *Gate) Queued() int { return int(g.queued.Load()) }

// Closed reports whether Close has been called.
func (g *Gate) Closed() bool { return g.closed.Load() }

// Done is closed by Close.
func (g *Gate) Done() <-chan struct{} { return g.done }

// Close admits no more calls and wakes those waiting for a slot, which
// fail with exec.ErrClosed; it does not wait (Wait does). Calling it again
// does nothing.
func (g *Gate) Close() {
	g.once.Do(func() {
		g.mu.Lock()
		g.closed.Store(true)
		g.mu.Unlock()
		close(g.done)
	})
}

// Wait waits until every call admitted has ended.
func (g *Gate) Wait() { g.calls.Wait() }
