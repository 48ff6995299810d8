package catalog

import (
	"context"
	"fmt"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

// recount counts each owner's records from the index itself, to compare
// with the counts the store keeps as it goes.
func recount(s *Store) map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]int{}
	for _, c := range s.chains {
		out[c.head.Owner] += 1 + len(c.bodies)
	}
	return out
}

// checkCounts fails unless the kept counts match a recount.
func checkCounts(t *testing.T, s *Store) {
	t.Helper()
	want := recount(s)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for owner, n := range s.owners {
		if n != want[owner] {
			t.Fatalf("owner %s: kept count %d, recount %d", owner[:12], n, want[owner])
		}
	}
	if len(s.owners) != len(want) {
		t.Fatalf("kept counts for %d owners, recount %d", len(s.owners), len(want))
	}
}

func TestOwnerQuota(t *testing.T) {
	alice, bob := testKey(t, 1), testKey(t, 2)
	pub := Access{Public: true}
	// Each case applies setup (which must pass) and then last; a record is
	// a name (its current update) or a function body.
	tests := []struct {
		name  string
		quota int
		steps func(t *testing.T) (setup [][]byte, last []byte)
		want  error // nil: last is applied
		after int   // alice's records afterwards
	}{
		{"a new name over the quota", 4, func(t *testing.T) ([][]byte, []byte) {
			f, g, h := newClient(t, alice), newClient(t, alice), newClient(t, alice)
			return [][]byte{f.publish(pyFunc("f", ""), pub), g.publish(pyFunc("g", ""), pub)}, h.publish(pyFunc("h", ""), pub)
		}, ErrQuota, 4},
		{"a name that fits exactly", 4, func(t *testing.T) ([][]byte, []byte) {
			f, g := newClient(t, alice), newClient(t, alice)
			return [][]byte{f.publish(pyFunc("f", ""), pub)}, g.publish(pyFunc("g", ""), pub)
		}, nil, 4},
		{"a new version's body over the quota", 4, func(t *testing.T) ([][]byte, []byte) {
			f := newClient(t, alice)
			return [][]byte{f.publish(pyFunc("f", "1"), pub), f.publish(pyFunc("f", "2"), pub), f.publish(pyFunc("f", "3"), pub)},
				f.publish(pyFunc("f", "4"), pub)
		}, ErrQuota, 4},
		{"replacing a head at the quota", 4, func(t *testing.T) ([][]byte, []byte) {
			f, g := newClient(t, alice), newClient(t, alice)
			return [][]byte{f.publish(pyFunc("f", ""), pub), g.publish(pyFunc("g", ""), pub)},
				f.access(Access{Users: []string{bob.ID().String()}})
		}, nil, 4},
		{"unsharing at the quota drops bodies", 4, func(t *testing.T) ([][]byte, []byte) {
			f, g := newClient(t, alice), newClient(t, alice)
			return [][]byte{f.publish(pyFunc("f", ""), pub), g.publish(pyFunc("g", ""), pub)}, f.access(Access{})
		}, nil, 3},
		{"a delete frees the bodies, the tombstone stays", 5, func(t *testing.T) ([][]byte, []byte) {
			f, g, h := newClient(t, alice), newClient(t, alice), newClient(t, alice)
			return [][]byte{f.publish(pyFunc("f", "1"), pub), f.publish(pyFunc("f", "2"), pub), g.publish(pyFunc("g", ""), pub), f.delete()},
				h.publish(pyFunc("h", ""), pub)
		}, nil, 5},
		{"a tombstone counts", 4, func(t *testing.T) ([][]byte, []byte) {
			f, g, h := newClient(t, alice), newClient(t, alice), newClient(t, alice)
			return [][]byte{f.publish(pyFunc("f", ""), pub), f.delete(), g.publish(pyFunc("g", ""), pub)},
				h.publish(pyFunc("h", ""), pub)
		}, ErrQuota, 3},
		{"other owners are counted apart", 2, func(t *testing.T) ([][]byte, []byte) {
			f, g := newClient(t, alice), newClient(t, bob)
			return [][]byte{f.publish(pyFunc("f", ""), pub)}, g.publish(pyFunc("g", ""), pub)
		}, nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setup, last := tc.steps(t)
			// The same verdict on every path: the owner's Apply, the
			// network's Receive, and the gossip validator's Check.
			for _, path := range []string{"apply", "receive", "check"} {
				t.Run(path, func(t *testing.T) {
					s := memStore(t, Options{OwnerQuota: tc.quota})
					mustApply(t, s, setup...)
					checkCounts(t, s)
					before := snapshot(s)
					var err error
					switch path {
					case "apply":
						_, err = s.Apply(last)
					case "receive":
						_, err = s.Receive(last)
					case "check":
						_, err = s.Check(last)
					}
					if tc.want == nil {
						if err != nil {
							t.Fatalf("%s: %v", path, err)
						}
						if path == "check" {
							return
						}
						if got := recount(s)[alice.ID().String()]; got != tc.after {
							t.Fatalf("alice holds %d records, want %d", got, tc.after)
						}
						checkCounts(t, s)
						return
					}
					wantErr(t, err, tc.want, fault.TooLarge)
					if v := VerdictOf(err); v != Ignore {
						t.Fatalf("verdict %v, want ignore: the quota is this node's own", v)
					}
					if after := snapshot(s); after != before {
						t.Fatalf("a refused record changed the store:\n%s\n%s", before, after)
					}
					checkCounts(t, s)
				})
			}
		})
	}
}

func TestOwnerQuotaDefault(t *testing.T) {
	if s := memStore(t, Options{}); s.quota != DefaultOwnerQuota {
		t.Fatalf("zero OwnerQuota gives %d, want %d", s.quota, DefaultOwnerQuota)
	}
}

// TestOwnerQuotaBodies: a body that comes on its own (sync's ApplyFunction)
// is one more record of its owner.
func TestOwnerQuotaBodies(t *testing.T) {
	alice := testKey(t, 1)
	f := newClient(t, alice)
	v1 := f.publish(pyFunc("f", "1"), Access{Public: true})
	v2 := f.publish(pyFunc("f", "2"), Access{Public: true})
	full := memStore(t, Options{})
	mustApply(t, full, v1, v2)
	body, ok, err := full.be.Function(f.prev.Versions[0].ID)
	if err != nil || !ok {
		t.Fatalf("body of version 1: %v, %v", ok, err)
	}
	tests := []struct {
		name  string
		quota int
		want  error
	}{
		{"at the quota", 2, ErrQuota},
		{"room for one", 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := memStore(t, Options{OwnerQuota: tc.quota})
			mustApply(t, s, v2) // the name and version 2's body
			_, err := s.ApplyFunction(body)
			if tc.want == nil {
				if err != nil || !s.Has(f.prev.Versions[0].ID) {
					t.Fatalf("body not stored: %v", err)
				}
			} else {
				wantErr(t, err, tc.want, fault.TooLarge)
			}
			checkCounts(t, s)
		})
	}
}

// TestOwnerQuotaOverSync: a node that allows fewer records than its peer
// takes what fits, ignores the rest without blaming the peer, and its counts
// stay exact, also across a reopen.
func TestOwnerQuotaOverSync(t *testing.T) {
	alice, bob := testKey(t, 1), testKey(t, 2)
	pub := Access{Public: true}
	a := memStore(t, Options{})
	f := newClient(t, alice)
	for v := range 3 { // f with 3 versions: 4 records
		mustApply(t, a, f.publish(pyFunc("f", fmt.Sprint(v)), pub))
	}
	for i := range 3 { // 3 names of one version: 6 records
		mustApply(t, a, newClient(t, alice).publish(pyFunc(fmt.Sprintf("g%d", i), ""), pub))
	}
	mustApply(t, a, newClient(t, bob).publish(pyFunc("b", ""), pub))

	be := NewMemoryBackend()
	b, err := New(be, Options{OwnerQuota: 5, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Pull(context.Background(), direct{a})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pull: %+v", st)
	if st.Rejected != 0 || st.Ignored == 0 {
		t.Fatalf("records over the quota must be ignored, not rejected: %+v", st)
	}
	checkCounts(t, b)
	// Two of alice's names with their bodies fit (4 records), perhaps one
	// older body of f besides; bob is counted apart.
	if got := recount(b); got[alice.ID().String()] < 4 || got[alice.ID().String()] > 5 || got[bob.ID().String()] != 2 {
		t.Fatalf("records held: %v", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// The counts are rebuilt by New: a new name (2 records) does not fit.
	b, err = New(be, Options{OwnerQuota: 5, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkCounts(t, b)
	_, err = b.Receive(newClient(t, alice).publish(pyFunc("late", ""), pub))
	wantErr(t, err, ErrQuota, fault.TooLarge)
	if _, err := b.Receive(newClient(t, bob).publish(pyFunc("late", ""), pub)); err != nil {
		t.Fatalf("bob is not over the quota: %v", err)
	}
	checkCounts(t, b)
}

// TestOwnerQuotaGossip: a node at the quota for an owner ignores their
// gossip (does not store or forward it, does not blame the sender); a node
// with room stores it.
func TestOwnerQuotaGossip(t *testing.T) {
	h := newHub()
	roomy := startNodes(t, h, 1)[0]
	small := memStore(t, Options{OwnerQuota: 2})
	m := h.join()
	m.validate = func(b []byte) Verdict { _, err := small.Check(b); return VerdictOf(err) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- small.Follow(ctx, m) }()
	t.Cleanup(func() { cancel(); <-done })

	alice := testKey(t, 1)
	owner := alice.ID().String()
	publish := func(name string) {
		t.Helper()
		if _, err := roomy.s.Publish(ctx, roomy.m, newClient(t, alice).publish(pyFunc(name, ""), Access{Public: true})); err != nil {
			t.Fatal(err)
		}
	}
	publish("f") // fits the small node: 2 records
	eventually(t, "the small node to store f", func() bool { _, err := small.Resolve(owner + "/f"); return err == nil })
	publish("g") // does not
	eventually(t, "the small node to judge g", func() bool { return m.verdict(Ignore) == 1 })
	if m.verdict(Accept) != 1 || m.verdict(Reject) != 0 {
		t.Fatalf("verdicts: accept %d ignore %d reject %d", m.verdict(Accept), m.verdict(Ignore), m.verdict(Reject))
	}
	if _, err := small.Resolve(owner + "/g"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("g on the small node: %v", err)
	}
	if _, err := roomy.s.Resolve(owner + "/g"); err != nil {
		t.Fatalf("the roomy node lacks g: %v", err)
	}
}
