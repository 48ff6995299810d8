package client

import (
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/invoke"
)

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientCallQueueBounded: replies for a call whose caller does not read
// queue only up to callQueue; the session then waits for the caller.
func TestClientCallQueueBounded(t *testing.T) {
	c := &Client{done: make(chan struct{})}
	defer close(c.done)
	s := &session{c: c, calls: map[uint64]*sessionCall{}}
	cl := &sessionCall{sess: s, id: 1, wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	s.calls[1] = cl
	const n = 3 * callQueue
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		for i := range n {
			cl.push(invoke.Reply{Type: invoke.ReplyResult, Call: 1, Count: i})
		}
	}()
	queued := func() int {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return len(cl.q)
	}
	waitUntil(t, 5*time.Second, "replies queued", func() bool { return queued() >= callQueue })
	for i := range n {
		if q := queued(); q > callQueue {
			t.Fatalf("%d replies queued for a caller that reads slowly, bound %d", q, callQueue)
		}
		rep, err := cl.next()
		if err != nil || rep.Count != i {
			t.Fatalf("reply %d: %+v %v", i, rep, err)
		}
	}
	<-pushed
}
