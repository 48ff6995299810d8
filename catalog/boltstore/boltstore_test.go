package boltstore_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/catalog/boltstore"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/require"
	"github.com/fxmesh/fxmesh/wire"
	bolt "go.etcd.io/bbolt"
)

// wait is the lock timeout of the tests that expect to wait in vain.
const wait = 50 * time.Millisecond

func TestPersistenceAcrossOpen(t *testing.T) {
	path := dbPath(t)
	opts := boltstore.Options{Catalog: catalog.Options{Logger: testLogger(t)}}
	s, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	// 12 names of 2 versions each; 3 then shared with one user, 3 deleted.
	for i := range 12 {
		o := newOwner(t, testKey(t, byte(1+i%3)))
		name := fmt.Sprintf("fn-%02d", i)
		mustApply(t, s, o.publish(pyFunc(name, "v1"), catalog.Access{Public: true}), o.publish(pyFunc(name, "v2"), catalog.Access{Public: true}))
		switch {
		case i < 3:
			mustApply(t, s, o.access(catalog.Access{Users: []string{testKey(t, 9).ID().String()}}))
		case i < 6:
			mustApply(t, s, o.delete())
		}
	}
	if st := s.Stats(); st != (catalog.Stats{Names: 12, Deleted: 3, Functions: 18}) {
		t.Fatalf("stats %+v", st)
	}
	before := snapshot(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := mustOpen(t, path, opts)
	if after := snapshot(s2); after != before {
		t.Fatalf("reopened store differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	r, err := s2.Resolve(testKey(t, 1).ID().String() + "/fn-00@1")
	if err != nil || r.Function.Description != "v1" {
		t.Fatalf("old version after reopen: %+v, %v", r, err)
	}
	// A replay is still stale after the restart.
	o := newOwner(t, testKey(t, 1))
	o.now = t0.Add(-time.Hour)
	if _, err := s2.Receive(o.publish(pyFunc("fn-00", "from the past"), catalog.Access{Public: true})); !errors.Is(err, catalog.ErrStale) {
		t.Fatalf("replay after reopen: %v", err)
	}
}

func TestOpenLockedFile(t *testing.T) {
	path := dbPath(t)
	mustOpen(t, path, boltstore.Options{})
	s, err := boltstore.Open(path, boltstore.Options{LockTimeout: wait})
	if err == nil {
		s.Close()
		t.Fatal("opened a store another holds")
	}
	if !fault.Is(err, fault.Timeout) || !strings.Contains(err.Error(), "another store holds it") {
		t.Fatalf("open of a store another holds: %v, want kind timeout saying so", err)
	}
}

// TestOpenReadOnly: read-only stores share the file with each other, not
// with a writer; they see what the writer wrote, write nothing, and repair
// nothing.
func TestOpenReadOnly(t *testing.T) {
	ro := boltstore.Options{Catalog: catalog.Options{KeepPrivate: true, ReadOnly: true, Logger: testLogger(t)}, LockTimeout: wait}
	rw := boltstore.Options{Catalog: catalog.Options{KeepPrivate: true, Logger: testLogger(t)}, LockTimeout: wait}
	alice := newOwner(t, testKey(t, 1))
	mine := alice.publish(pyFunc("mine", "private"), catalog.Access{})
	shared := newOwner(t, testKey(t, 1)).publish(pyFunc("shared", "public"), catalog.Access{Public: true})

	// written is a catalog file holding mine and shared, and the snapshot
	// of a read-write store over it.
	written := func(t *testing.T) (string, string) {
		path := dbPath(t)
		s, err := boltstore.Open(path, rw)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		mustApply(t, s, mine, shared)
		return path, snapshot(s)
	}

	t.Run("readers share the file, a writer waits for them", func(t *testing.T) {
		path, want := written(t)
		r1, r2 := mustOpen(t, path, ro), mustOpen(t, path, ro)
		for _, r := range []*catalog.Store{r1, r2} {
			if got := snapshot(r); got != want {
				t.Fatalf("read-only store:\n%s\nwant:\n%s", got, want)
			}
		}
		if _, err := r2.Resolve(alice.k.ID().String() + "/mine"); err != nil {
			t.Fatalf("private function in a read-only owner's store: %v", err)
		}
		if w, err := boltstore.Open(path, rw); !fault.Is(err, fault.Timeout) {
			if w != nil {
				w.Close()
			}
			t.Fatalf("opened for writing a file readers hold: %v", err)
		}
		r1.Close()
		r2.Close()
		w := mustOpen(t, path, rw)
		if r, err := boltstore.Open(path, ro); !fault.Is(err, fault.Timeout) {
			if r != nil {
				r.Close()
			}
			t.Fatalf("opened for reading a file a writer holds: %v", err)
		}
		w.Close()
		mustOpen(t, path, ro)
	})

	t.Run("every write fails and the file stays as it was", func(t *testing.T) {
		path, want := written(t)
		r := mustOpen(t, path, ro)
		if _, err := r.Apply(alice.publish(pyFunc("mine", "v2"), catalog.Access{})); !errors.Is(err, catalog.ErrReadOnly) {
			t.Fatalf("apply: %v", err)
		}
		if _, err := r.Receive(newOwner(t, testKey(t, 2)).publish(pyFunc("theirs", ""), catalog.Access{Public: true})); !errors.Is(err, catalog.ErrReadOnly) {
			t.Fatalf("receive: %v", err)
		}
		r.Close()
		if got := snapshot(mustOpen(t, path, rw)); got != want {
			t.Fatalf("file changed by a read-only store:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("orphans stay on disk", func(t *testing.T) {
		path, _ := written(t)
		// A body its head no longer lists: an orphan, which a read-write
		// Open deletes.
		o := newOwner(t, testKey(t, 3))
		env := o.publish(pyFunc("gone", ""), catalog.Access{Public: true})
		fb, id := marshal(t, o.fn)
		del := o.delete()
		withStore(t, path, rw, func(s *catalog.Store) { mustApply(t, s, env, del) })
		withBackend(t, path, false, func(be *boltstore.Backend) error {
			return be.Commit(&catalog.Batch{Put: map[catalog.ID][]byte{id: fb}})
		})
		held := func() (ok bool) {
			withBackend(t, path, true, func(be *boltstore.Backend) (err error) {
				_, ok, err = be.Function(id)
				return err
			})
			return ok
		}
		withStore(t, path, ro, nil)
		if !held() {
			t.Fatal("a read-only Open deleted an orphan")
		}
		withStore(t, path, rw, nil)
		if held() {
			t.Fatal("a read-write Open kept an orphan")
		}
	})

	t.Run("a missing file is an error and stays missing", func(t *testing.T) {
		path := dbPath(t)
		if _, err := boltstore.Open(path, ro); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("read-only open of a missing file: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a read-only open created the file: %v", err)
		}
	})

	t.Run("an empty file reads as empty and stays empty", func(t *testing.T) {
		path := dbPath(t)
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, path, ro)
		if st := r.Stats(); st != (catalog.Stats{}) {
			t.Fatalf("stats %+v", st)
		}
		if _, err := r.Resolve(alice.k.ID().String() + "/mine"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("resolve in an empty file: %v", err)
		}
		if _, err := r.Apply(mine); !errors.Is(err, catalog.ErrReadOnly) {
			t.Fatalf("apply: %v", err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
			t.Fatalf("a read-only open wrote the file: %v %v", fi, err)
		}
	})

	t.Run("a file with buckets missing reads as empty", func(t *testing.T) {
		path := dbPath(t)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if st := mustOpen(t, path, ro).Stats(); st != (catalog.Stats{}) {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestSchema: a file of another schema is refused, read-only or not.
func TestSchema(t *testing.T) {
	path := dbPath(t)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema"), []byte("0"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, readOnly := range []bool{true, false} {
		opts := boltstore.Options{Catalog: catalog.Options{ReadOnly: readOnly}}
		if s, err := boltstore.Open(path, opts); err == nil || !strings.Contains(err.Error(), `schema "0", this build reads "1"`) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("open (read-only %v) of another schema: %v", readOnly, err)
		}
	}
}

// TestStoredRecordsTheRuleRefuses opens a catalog file that an older
// release wrote, holding a function whose requirement (gpus=many) the
// grammar now refuses, beside a good one. Both Opens leave the refused
// records out, each with a warning that says why; a read-only one leaves
// the file as it is, a read-write one deletes the refused body and keeps
// its head until the owner publishes the name again.
func TestStoredRecordsTheRuleRefuses(t *testing.T) {
	const bad = "gpus=many"
	alice := testKey(t, 1)
	path := dbPath(t)

	// The file, as an older release wrote it: the good function through
	// today's Apply, the refused one straight into the backend.
	good := newOwner(t, alice).publish(pyFunc("good", ""), catalog.Access{Public: true})
	fn := pyFunc("old", "")
	fn.Requirements, fn.Owner, fn.Version, fn.Created = []string{bad}, alice.ID().String(), 1, t0.Unix()
	fid, err := fn.ID()
	if err != nil {
		t.Fatal(err)
	}
	body, err := fn.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	u := catalog.Update{
		Op: catalog.OpPublish, Owner: fn.Owner, Name: fn.Name, Seq: 1, Time: t0.Unix(),
		Access: catalog.Access{Public: true}, Versions: []catalog.VersionRef{{Version: 1, ID: fid}}, Function: &fn,
	}
	payload, err := wire.Canonical.Marshal(&u)
	if err != nil {
		t.Fatal(err)
	}
	head, err := identity.Seal(alice, identity.DomainFunction, []byte(catalog.UpdateCodec), payload)
	if err != nil {
		t.Fatal(err)
	}
	withStore(t, path, boltstore.Options{}, func(s *catalog.Store) { mustApply(t, s, good) })
	withBackend(t, path, false, func(be *boltstore.Backend) error {
		return be.Commit(&catalog.Batch{Ref: u.Ref(), Head: head, Put: map[catalog.ID][]byte{fid: body}})
	})
	stored := func() (head, body bool) {
		withBackend(t, path, true, func(be *boltstore.Backend) (err error) {
			if _, head, err = be.Head(u.Ref()); err != nil {
				return err
			}
			_, body, err = be.Function(fid)
			return err
		})
		return head, body
	}
	_, perr := require.Parse(bad)
	leftOut := func(t *testing.T, readOnly bool) {
		t.Helper()
		logs := &logRecorder{t: t}
		opts := boltstore.Options{Catalog: catalog.Options{ReadOnly: readOnly, Logger: slog.New(logs)}}
		withStore(t, path, opts, func(s *catalog.Store) {
			if r, err := s.Resolve(u.Ref()); !fault.Is(err, fault.NotFound) {
				t.Errorf("the refused function resolves: %+v, %v", r, err)
			}
			if _, err := s.Get(fid); !fault.Is(err, fault.NotFound) {
				t.Errorf("the refused body is held: %v", err)
			}
			if r, err := s.Resolve(fn.Owner + "/good"); err != nil || r.Function.Name != "good" {
				t.Errorf("the good function: %+v, %v", r, err)
			}
			if st := s.Stats(); st != (catalog.Stats{Names: 1, Functions: 1}) {
				t.Errorf("stats %+v", st)
			}
		})
		for _, msg := range []string{"catalog: ignoring stored update", "catalog: dropping stored function"} {
			if !logs.said(slog.LevelWarn, msg, perr.Error()) {
				t.Errorf("no warning %q saying %q", msg, perr)
			}
		}
	}

	t.Run("read-only: left out, logged, nothing removed", func(t *testing.T) {
		leftOut(t, true)
		if head, body := stored(); !head || !body {
			t.Fatalf("on disk: head %v, body %v; a read-only store removes nothing", head, body)
		}
	})

	t.Run("read-write: left out, logged, the body deleted until published again", func(t *testing.T) {
		leftOut(t, false)
		if head, body := stored(); !head || body {
			t.Fatalf("on disk: head %v, body %v; want the head kept until replaced, the body deleted", head, body)
		}
		fixed := pyFunc("old", "fixed")
		fixed.Requirements = []string{"gpus>=1"}
		withStore(t, path, boltstore.Options{}, func(s *catalog.Store) {
			mustApply(t, s, newOwner(t, alice).publish(fixed, catalog.Access{Public: true}))
		})
		withStore(t, path, boltstore.Options{}, func(s *catalog.Store) {
			if r, err := s.Resolve(u.Ref()); err != nil || r.Function.Description != "fixed" {
				t.Fatalf("republished: %+v, %v", r, err)
			}
		})
	})
}

// marshal returns f's bytes and ID.
func marshal(t testing.TB, f *catalog.Function) ([]byte, catalog.ID) {
	t.Helper()
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.ID()
	if err != nil {
		t.Fatal(err)
	}
	return b, id
}

// withStore opens the store at path, calls f with it (if f is not nil),
// and closes it.
func withStore(t testing.TB, path string, opts boltstore.Options, f func(*catalog.Store)) {
	t.Helper()
	s, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f != nil {
		f(s)
	}
}

// withBackend opens the file at path as a Backend, read-only or not,
// calls f with it, and closes it: how the tests reach past the store to
// the file.
func withBackend(t testing.TB, path string, readOnly bool, f func(*boltstore.Backend) error) {
	t.Helper()
	be, err := boltstore.OpenBackend(path, boltstore.Options{Catalog: catalog.Options{ReadOnly: readOnly}})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if err := f(be); err != nil {
		t.Fatal(err)
	}
}
