package catalog

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// hub is an in-memory flooding network of Topics. Each member may have a
// validator; a message it does not accept is neither delivered to it nor
// forwarded by it, as with gossipsub validators. Links can be cut.
type hub struct {
	mu      sync.Mutex
	members []*member
	links   map[[2]*member]bool
	n       int // deliveries
}

type member struct {
	h        *hub
	ch       chan []byte
	validate func([]byte) Verdict
	seen     map[[32]byte]bool
	verdicts map[Verdict]int
	got      int // messages delivered to it
}

func newHub() *hub { return &hub{links: map[[2]*member]bool{}} }

// join adds a member linked to every existing one.
func (h *hub) join() *member {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := &member{h: h, ch: make(chan []byte, 4096), seen: map[[32]byte]bool{}, verdicts: map[Verdict]int{}}
	for _, o := range h.members {
		h.links[[2]*member{m, o}], h.links[[2]*member{o, m}] = true, true
	}
	h.members = append(h.members, m)
	return m
}

func (h *hub) setLink(a, b *member, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.links[[2]*member{a, b}], h.links[[2]*member{b, a}] = up, up
}

func (h *hub) sent() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (m *member) Publish(_ context.Context, data []byte) error {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	m.seen[sha256.Sum256(data)] = true
	m.forwardLocked(data)
	return nil
}

func (m *member) forwardLocked(data []byte) {
	for _, o := range m.h.members {
		if o != m && m.h.links[[2]*member{m, o}] {
			o.receiveLocked(data)
		}
	}
}

func (m *member) receiveLocked(data []byte) {
	key := sha256.Sum256(data)
	if m.seen[key] {
		return
	}
	m.seen[key] = true
	v := Accept
	if m.validate != nil {
		v = m.validate(data)
	}
	m.verdicts[v]++
	if v != Accept {
		return
	}
	m.h.n++
	m.got++
	m.ch <- data
	m.forwardLocked(data)
}

func (m *member) Next(ctx context.Context) ([]byte, error) {
	select {
	case b := <-m.ch:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// received is how many messages the hub has delivered to m. The hub
// delivers synchronously: once Publish returns, every member it reached
// has received the message.
func (m *member) received() int {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	return m.got
}

func (m *member) verdict(v Verdict) int {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	return m.verdicts[v]
}

// node is a full node on the hub: a store following its topic.
type node struct {
	s *Store
	m *member
}

func startNodes(t *testing.T, h *hub, n int) []*node {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var nodes []*node
	for range n {
		s := memStore(t, Options{})
		m := h.join()
		m.validate = func(b []byte) Verdict { _, err := s.Check(b); return VerdictOf(err) }
		nodes = append(nodes, &node{s, m})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Follow(ctx, m); err != context.Canceled {
				t.Errorf("follow: %v", err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return nodes
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGossipSpreadsAndFilters(t *testing.T) {
	h := newHub()
	nodes := startNodes(t, h, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	h.setLink(a.m, c.m, false) // a line: a - b - c
	alice, mallory := testKey(t, 1), testKey(t, 2)
	owner := alice.ID().String()

	cl := newClient(t, alice)
	v1env := cl.publish(pyFunc("f", "v1"), Access{Public: true})
	if _, err := a.s.Publish(context.Background(), a.m, v1env); err != nil {
		t.Fatal(err)
	}
	eventually(t, "c to learn f", func() bool { _, err := c.s.Resolve(owner + "/f"); return err == nil })

	// Bad records injected at a's side reach b, which rejects them; c never
	// sees them.
	forged := sealUpdate(t, mallory, rawPublish(t, alice, pyFunc("f", "evil"), 1<<62))
	private := sealUpdate(t, alice, func() *Update {
		u := rawPublish(t, alice, pyFunc("secret", ""), 1<<62)
		u.Access = Access{}
		return u
	}())
	// A requirement routing gives no meaning to, signed by the owner.
	unroutable := sealUpdate(t, alice, func() *Update {
		fn := pyFunc("nowhere", "")
		fn.Requirements = []string{"gpus=many"}
		return rawPublish(t, alice, fn, 1<<62)
	}())
	for _, bad := range [][]byte{forged, private, unroutable, []byte("junk")} {
		a.m.Publish(context.Background(), bad)
	}
	// A replay of the first version after the second is ignored.
	if _, err := a.s.Publish(context.Background(), a.m, cl.publish(pyFunc("f", "v2"), Access{Public: true})); err != nil {
		t.Fatal(err)
	}
	eventually(t, "c to learn f v2", func() bool {
		r, err := c.s.Resolve(owner + "/f")
		return err == nil && r.Function.Version == 2
	})
	h.mu.Lock()
	for _, n := range nodes { // let the hub carry it again
		delete(n.m.seen, sha256.Sum256(v1env))
	}
	h.mu.Unlock()
	a.m.Publish(context.Background(), v1env)

	eventually(t, "b to judge everything", func() bool { return b.m.verdict(Reject) == 4 && b.m.verdict(Ignore) >= 1 })
	if got := c.m.verdict(Reject) + c.m.verdict(Ignore); got != 0 {
		t.Fatalf("c saw %d bad messages: b forwarded them", got)
	}
	if r, _ := c.s.Resolve(owner + "/f"); r.Function.Description != "v2" {
		t.Fatalf("c has %q", r.Function.Description)
	}
	if _, err := b.s.Resolve(owner + "/secret"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("private function reached b: %v", err)
	}
	if _, err := b.s.Resolve(owner + "/nowhere"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a function with an unroutable requirement reached b: %v", err)
	}
}

func TestPartitionHealsBySync(t *testing.T) {
	h := newHub()
	nodes := startNodes(t, h, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := testKey(t, 1), testKey(t, 2)
	ca, cb := newClient(t, alice), newClient(t, bob)
	ctx := context.Background()

	if _, err := a.s.Publish(ctx, a.m, ca.publish(pyFunc("f", "v1"), Access{Public: true})); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b to learn f", func() bool { return b.s.Stats().Functions == 1 })

	h.setLink(a.m, b.m, false)
	gotA, gotB := a.m.received(), b.m.received()
	if _, err := a.s.Publish(ctx, a.m, ca.publish(pyFunc("f", "v2"), Access{Public: true})); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.Publish(ctx, b.m, cb.publish(pyFunc("g", ""), Access{Public: true})); err != nil {
		t.Fatal(err)
	}
	// Delivery is synchronous: whatever crossed the cut has arrived by now.
	if a.m.received() != gotA || b.m.received() != gotB {
		t.Fatalf("partition leaked: a received %d messages across it, b %d", a.m.received()-gotA, b.m.received()-gotB)
	}
	if snapshot(a.s) == snapshot(b.s) {
		t.Fatal("partition did not separate the nodes")
	}

	h.setLink(a.m, b.m, true)
	if _, err := b.s.Pull(ctx, direct{a.s}); err != nil {
		t.Fatal(err)
	}
	if snapshot(a.s) != snapshot(b.s) {
		t.Fatalf("not healed:\n%s\n%s", snapshot(a.s), snapshot(b.s))
	}
}
