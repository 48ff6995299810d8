package catalog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
)

// TestPersistenceAcrossReopen: a store built again on the backend of one
// that was closed (a restart) rebuilds the same index from it.
func TestPersistenceAcrossReopen(t *testing.T) {
	be := NewMemoryBackend()
	s, err := New(be, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// 50 updates: 20 names with 2 versions each, 5 shared, 5 deleted.
	applied := 0
	for i := range 20 {
		c := newClient(t, testKey(t, byte(1+i%3)))
		name := fmt.Sprintf("fn-%02d", i)
		mustApply(t, s, c.publish(pyFunc(name, "v1"), Access{Public: true}), c.publish(pyFunc(name, "v2"), Access{Public: true}))
		applied += 2
		switch {
		case i < 5:
			mustApply(t, s, c.access(Access{Users: []string{testKey(t, 9).ID().String()}}))
			applied++
		case i < 10:
			mustApply(t, s, c.delete())
			applied++
		}
	}
	if applied != 50 {
		t.Fatalf("applied %d updates, want 50", applied)
	}
	before := snapshot(s)
	if st := s.Stats(); st.Names != 20 || st.Deleted != 5 || st.Functions != 30 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Resolve("x/y"); !fault.Is(err, fault.Unavailable) {
		t.Fatalf("resolve on closed store: %v", err)
	}

	s2, err := New(be, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if after := snapshot(s2); after != before {
		t.Fatalf("reopened store differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	owner := testKey(t, 1).ID().String()
	r, err := s2.Resolve(owner + "/fn-00@1")
	if err != nil || r.Function.Description != "v1" {
		t.Fatalf("old version after reopen: %+v, %v", r, err)
	}
	// A replay is still stale after the restart.
	c := newClient(t, testKey(t, 1))
	c.now = t0.Add(-1e9 * 3600)
	old := c.publish(pyFunc("fn-00", "from the past"), Access{Public: true})
	if _, err := s2.Receive(old); !fault.Is(err, fault.Replayed) {
		t.Fatalf("replay after reopen: %v", err)
	}
}

// TestReadOnly: a read-only store sees what its backend holds, writes
// nothing, and repairs nothing. (What a read-only store means for a file,
// its shared lock, is package boltstore's, and tested there.)
func TestReadOnly(t *testing.T) {
	ro := Options{KeepPrivate: true, ReadOnly: true, Logger: testLogger(t)}
	rw := Options{KeepPrivate: true, Logger: testLogger(t)}
	alice := newClient(t, testKey(t, 1))
	owner := alice.k.ID().String()
	mine := alice.publish(pyFunc("mine", "private"), Access{})
	shared := newClient(t, testKey(t, 1)).publish(pyFunc("shared", "public"), Access{Public: true})

	// written is a backend holding mine and shared, and the snapshot of a
	// read-write store on it.
	written := func(t *testing.T) (*MemoryBackend, string) {
		be := NewMemoryBackend()
		s, err := New(be, rw)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		mustApply(t, s, mine, shared)
		return be, snapshot(s)
	}
	mustNew := func(t *testing.T, be Backend, opts Options) *Store {
		t.Helper()
		s, err := New(be, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}

	t.Run("it sees what is stored", func(t *testing.T) {
		be, want := written(t)
		r := mustNew(t, be, ro)
		if got := snapshot(r); got != want {
			t.Fatalf("read-only store:\n%s\nwant:\n%s", got, want)
		}
		if _, err := r.Resolve(owner + "/mine"); err != nil {
			t.Fatalf("private function in a read-only owner's store: %v", err)
		}
	})

	t.Run("every write fails", func(t *testing.T) {
		be, want := written(t)
		r := mustNew(t, be, ro)
		next := alice.publish(pyFunc("mine", "v2"), Access{})
		_, err := r.Apply(next)
		wantErr(t, err, ErrReadOnly, fault.Internal)
		_, err = r.Receive(newClient(t, testKey(t, 2)).publish(pyFunc("theirs", ""), Access{Public: true}))
		wantErr(t, err, ErrReadOnly, fault.Internal)
		su, err := DecodeUpdate(shared, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		fb, err := su.Update.Function.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.ApplyFunction(fb)
		wantErr(t, err, ErrReadOnly, fault.Internal)
		r.Close()
		if got := snapshot(mustNew(t, be, rw)); got != want {
			t.Fatalf("backend changed by a read-only store:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("orphans stay stored", func(t *testing.T) {
		be, _ := written(t)
		// A body its head no longer lists: an orphan, which a read-write
		// store drops when it loads.
		c := newClient(t, testKey(t, 3))
		su, err := DecodeUpdate(c.publish(pyFunc("gone", ""), Access{Public: true}), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		fb, err := su.Update.Function.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		w := mustNew(t, be, rw)
		mustApply(t, w, su.Envelope, c.delete())
		if err := be.Commit(&Batch{Put: map[ID][]byte{idOf(fb): fb}}); err != nil {
			t.Fatal(err)
		}
		w.Close()
		held := func() bool {
			_, ok, err := be.Function(idOf(fb))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		mustNew(t, be, ro).Close()
		if !held() {
			t.Fatal("a read-only store dropped an orphan")
		}
		mustNew(t, be, rw)
		if held() {
			t.Fatal("a read-write store kept an orphan")
		}
	})
}

func TestResolve(t *testing.T) {
	alice := testKey(t, 1)
	owner := alice.ID().String()
	c := newClient(t, alice)
	s := memStore(t, Options{})
	for _, d := range []string{"one", "two", "three"} {
		mustApply(t, s, c.publish(pyFunc("triple", d), Access{Public: true}))
	}
	latestID := c.prev.Versions[2].ID
	firstID := c.prev.Versions[0].ID

	tests := []struct {
		name string
		ref  string
		desc string
		ver  uint64
		kind fault.Kind
	}{
		{"highest version", owner + "/triple", "three", 3, ""},
		{"explicit version", owner + "/triple@2", "two", 2, ""},
		{"by ID", firstID.String(), "one", 1, ""},
		{"by latest ID", latestID.String(), "three", 3, ""},
		{"unknown name", owner + "/nope", "", 0, fault.NotFound},
		{"unknown version", owner + "/triple@9", "", 0, fault.NotFound},
		{"bad version", owner + "/triple@x", "", 0, fault.Invalid},
		{"unknown ID", idOf([]byte("nothing")).String(), "", 0, fault.NotFound},
		{"garbage", "not a ref", "", 0, fault.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.Resolve(tc.ref)
			if fault.KindOf(err) != tc.kind {
				t.Fatalf("Resolve(%s) err = %v, want kind %q", tc.ref, err, tc.kind)
			}
			if err != nil {
				return
			}
			if r.Function.Description != tc.desc || r.Function.Version != tc.ver {
				t.Fatalf("Resolve(%s) = %q v%d", tc.ref, r.Function.Description, r.Function.Version)
			}
			if id, _ := r.Function.ID(); id != r.ID {
				t.Fatalf("resolved ID %s does not match the function's %s", r.ID, id)
			}
		})
	}
	vs, err := s.Versions(owner, "triple")
	if err != nil || len(vs) != 3 || vs[0].Version != 1 || !vs[2].Held || vs[2].Kind != KindPython {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
}

func TestDeleteTombstone(t *testing.T) {
	alice := testKey(t, 1)
	owner := alice.ID().String()
	c := newClient(t, alice)
	s := memStore(t, Options{})
	e1 := c.publish(pyFunc("gone", "v1"), Access{Public: true})
	mustApply(t, s, e1)
	oldID := c.prev.Versions[0].ID
	del := c.delete()
	ch, err := s.Apply(del)
	if err != nil || ch.Op != OpDelete || !ch.Shareable {
		t.Fatalf("apply delete: %+v, %v", ch, err)
	}
	if _, err := s.Resolve(owner + "/gone"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("resolve deleted: %v", err)
	}
	if _, err := s.Get(oldID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("get deleted version: %v", err)
	}
	if got := s.List(Filter{}); len(got) != 0 {
		t.Fatalf("list shows deleted: %+v", got)
	}
	if st := s.Stats(); st.Deleted != 1 || st.Functions != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The tombstone is kept and offered to peers, so they learn it.
	su, err := s.Head(owner, "gone")
	if err != nil || su.Update.Op != OpDelete || !s.Has(su.ID) {
		t.Fatalf("head = %+v, %v", su, err)
	}
	if items := s.Items(); len(items) != 1 || items[0] != su.ID {
		t.Fatalf("sync set %v, want the tombstone", items)
	}
	// The publish from before the delete cannot bring it back...
	_, err = s.Receive(e1)
	wantErr(t, err, ErrStale, fault.Replayed)
	// ...but the owner can publish again, numbering afresh.
	mustApply(t, s, c.publish(pyFunc("gone", "back"), Access{Public: true}))
	r, err := s.Resolve(owner + "/gone")
	if err != nil || r.Function.Description != "back" || r.Function.Version != 1 {
		t.Fatalf("resolve republished: %+v, %v", r, err)
	}
}

func TestAccessChanges(t *testing.T) {
	alice, bob, carol := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	owner := alice.ID().String()
	c := newClient(t, alice)
	s := memStore(t, Options{})
	mustApply(t, s, c.publish(pyFunc("f", ""), Access{Users: []string{bob.ID().String()}}))
	id := c.prev.Versions[0].ID

	p, err := s.Access(id)
	if err != nil || !p.Allows(bob.ID()) || p.Allows(carol.ID()) || !p.Allows(alice.ID()) {
		t.Fatalf("shared with bob: %+v, %v", p, err)
	}
	if l := s.List(Filter{User: carol.ID()}); len(l) != 0 {
		t.Fatalf("carol sees %+v", l)
	}
	if l := s.List(Filter{User: bob.ID(), Owner: owner}); len(l) != 1 || l[0].ID != id {
		t.Fatalf("bob sees %+v", l)
	}

	mustApply(t, s, c.access(Access{Public: true}))
	if p, _ := s.Access(id); !p.Allows(carol.ID()) {
		t.Fatal("public function refuses carol")
	}

	// Unshare entirely: the function turns private; a full node hides it and
	// drops its code but keeps (and spreads) the revocation.
	ch, err := s.Apply(c.access(Access{}))
	if err != nil || !ch.Shareable || !ch.Access.Private() {
		t.Fatalf("unshare: %+v, %v", ch, err)
	}
	if _, err := s.Access(id); !fault.Is(err, fault.NotFound) {
		t.Fatalf("access of private function on a full node: %v", err)
	}
	if st := s.Stats(); st.Functions != 0 {
		t.Fatalf("private bodies kept: %+v", st)
	}
	if len(s.Items()) != 1 {
		t.Fatalf("sync set %v, want the revocation", s.Items())
	}
	// Sharing again must carry the code, so the node has it again.
	mustApply(t, s, c.access(Access{Users: []string{carol.ID().String()}}))
	if p, err := s.Access(id); err != nil || !p.Allows(carol.ID()) || p.Allows(bob.ID()) {
		t.Fatalf("re-shared with carol: %+v, %v", p, err)
	}
}

func TestPrivateStaysWithOwner(t *testing.T) {
	alice := testKey(t, 1)
	owner := alice.ID().String()
	c := newClient(t, alice)
	mine := memStore(t, Options{KeepPrivate: true})
	node := memStore(t, Options{})
	hub := newHub()
	topic := hub.join()

	env := c.publish(pyFunc("secret", "mine"), Access{})
	ch, err := mine.Publish(context.Background(), topic, env)
	if err != nil || ch.Shareable {
		t.Fatalf("publish private: %+v, %v", ch, err)
	}
	if hub.sent() != 0 {
		t.Fatal("private update was broadcast")
	}
	if _, err := mine.Resolve(owner + "/secret"); err != nil {
		t.Fatalf("owner cannot resolve own private function: %v", err)
	}
	if len(mine.Items()) != 0 {
		t.Fatalf("private update offered to sync: %v", mine.Items())
	}
	if _, err := mine.Receive(env); !fault.Is(err, fault.Denied) {
		t.Fatalf("owner store received a private update from the network: %v", err)
	}
	if _, err := node.Apply(env); !fault.Is(err, fault.Denied) {
		t.Fatalf("full node took a private update: %v", err)
	}
	st, err := node.Pull(context.Background(), direct{mine})
	if err != nil || st.Received != 0 || node.Stats().Names != 0 {
		t.Fatalf("pull from owner: %+v, %v, %+v", st, err, node.Stats())
	}

	// The owner's invocation carries a proof; the endpoint checks it.
	id := c.prev.Versions[0].ID
	head, fn, err := mine.Proof(id)
	if err != nil {
		t.Fatal(err)
	}
	f, gotID, su, err := VerifyFunction(head, fn, Limits{})
	if err != nil || gotID != id || f.Description != "mine" || su.Signer != alice.ID() {
		t.Fatalf("verify: %v %s %v", f, gotID, err)
	}
	other := newClient(t, alice).publish(pyFunc("other", ""), Access{})
	if _, _, _, err := VerifyFunction(other, fn, Limits{}); !fault.Is(err, fault.Invalid) {
		t.Fatalf("proof with another function's head: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := memStore(t, Options{})
	peer := memStore(t, Options{})
	var envs [][]byte
	for i := range 8 {
		c := newClient(t, testKey(t, byte(i+1)))
		for j := range 5 {
			envs = append(envs, c.publish(pyFunc(fmt.Sprintf("f%d", j%2), fmt.Sprint(j)), Access{Public: true}))
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(envs); i += 4 {
				s.Receive(envs[i])
				peer.Receive(envs[len(envs)-1-i])
				s.List(Filter{})
				s.Resolve(envs2ref(t, envs[i]))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if _, err := s.Pull(context.Background(), direct{peer}); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	if _, err := s.Pull(context.Background(), direct{peer}); err != nil {
		t.Fatal(err)
	}
	if snapshot(s) != snapshot(peer) {
		t.Fatalf("not converged:\n%s\n%s", snapshot(s), snapshot(peer))
	}
}

func envs2ref(t testing.TB, env []byte) string {
	su, err := DecodeUpdate(env, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return su.Update.Ref()
}

func TestListAfterAndLimit(t *testing.T) {
	s := memStore(t, Options{})
	alice, bob := testKey(t, 1), testKey(t, 2)
	var all []string
	for _, k := range []*identity.Key{alice, bob} {
		for _, name := range []string{"a", "b", "c"} {
			mustApply(t, s, newClient(t, k).publish(pyFunc(name, ""), Access{Public: true}))
			all = append(all, k.ID().String()+"/"+name)
		}
	}
	slices.Sort(all)
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"everything", Filter{}, all},
		{"first page", Filter{Limit: 2}, all[:2]},
		{"next page", Filter{After: all[1], Limit: 2}, all[2:4]},
		{"after a name not held", Filter{After: all[1] + "0"}, all[2:]},
		{"after the last", Filter{After: all[5]}, nil},
		{"one owner after its first", Filter{Owner: bob.ID().String(), After: bob.ID().String() + "/a"},
			[]string{bob.ID().String() + "/b", bob.ID().String() + "/c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range s.List(tc.f) {
				got = append(got, e.Owner+"/"+e.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("List(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
}
