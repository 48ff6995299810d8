package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// backend persists heads (one envelope per OWNER/NAME) and function bodies.
// The Store serializes writes and holds its lock across every call.
type backend interface {
	loadHeads(fn func(env []byte) error) error
	loadFunctions(fn func(b []byte) error) error
	head(ref string) ([]byte, bool, error)
	function(id ID) ([]byte, bool, error)
	// commit applies batches, in order, in one transaction.
	commit(bs ...*batch) error
	close() error
}

// batch is one atomic write.
type batch struct {
	ref  string // OWNER/NAME whose head is set
	head []byte // the new head envelope
	put  map[ID][]byte
	del  []ID
}

// memBackend keeps everything in maps: for clients and tests (Open with "").
type memBackend struct {
	heads map[string][]byte
	funcs map[ID][]byte
}

func newMemBackend() *memBackend {
	return &memBackend{heads: map[string][]byte{}, funcs: map[ID][]byte{}}
}

func (m *memBackend) loadHeads(fn func([]byte) error) error {
	for _, v := range m.heads {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func (m *memBackend) loadFunctions(fn func([]byte) error) error {
	for _, v := range m.funcs {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func (m *memBackend) head(ref string) ([]byte, bool, error) {
	b, ok := m.heads[ref]
	return b, ok, nil
}

func (m *memBackend) function(id ID) ([]byte, bool, error) {
	b, ok := m.funcs[id]
	return b, ok, nil
}

func (m *memBackend) commit(bs ...*batch) error {
	for _, b := range bs {
		if b.head != nil {
			m.heads[b.ref] = b.head
		}
		for id, v := range b.put {
			m.funcs[id] = v
		}
		for _, id := range b.del {
			delete(m.funcs, id)
		}
	}
	return nil
}

func (m *memBackend) close() error { return nil }

// Bolt layout: bucket "heads" maps OWNER/NAME to the head update's envelope;
// "functions" maps a function ID's binary form to the function's canonical
// bytes; "meta" holds "schema" = "1".
var (
	bucketHeads     = []byte("heads")
	bucketFunctions = []byte("functions")
	bucketMeta      = []byte("meta")
	keySchema       = []byte("schema")
	schemaVersion   = []byte("1")
)

type boltBackend struct{ db *bolt.DB }

// openBolt opens the file at path, read-write (creating it and its buckets)
// or read-only (a shared lock; the file must exist). A read-only open of an
// empty file, one a writer has created but not yet initialized, gives an
// empty memory backend: bbolt would try to initialize it.
func openBolt(path string, lockTimeout time.Duration, readOnly bool) (backend, error) {
	if lockTimeout <= 0 {
		lockTimeout = 2 * time.Second
	}
	if readOnly {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("catalog: open %s: %w", path, err)
		}
		if fi.Size() == 0 {
			return newMemBackend(), nil
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fault.E(fault.Timeout, "", "catalog: open %s: another store holds it; waited %s: %w", path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	if readOnly {
		err = db.View(checkSchema)
	} else {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketHeads, bucketFunctions, bucketMeta} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			if tx.Bucket(bucketMeta).Get(keySchema) == nil {
				return tx.Bucket(bucketMeta).Put(keySchema, schemaVersion)
			}
			return checkSchema(tx)
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	return &boltBackend{db: db}, nil
}

// checkSchema refuses a file of another schema. A file without one (no meta
// bucket yet) passes: read-only, it reads as empty.
func checkSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return nil
	}
	if v := meta.Get(keySchema); v != nil && !bytes.Equal(v, schemaVersion) {
		return fmt.Errorf("schema %q, this build reads %q", v, schemaVersion)
	}
	return nil
}

// forEach calls fn for every pair of bucket; a missing bucket (a read-only
// view of a file never written) is empty.
func forEach(tx *bolt.Tx, bucket []byte, fn func(k, v []byte) error) error {
	if bk := tx.Bucket(bucket); bk != nil {
		return bk.ForEach(fn)
	}
	return nil
}

func (b *boltBackend) loadHeads(fn func([]byte) error) error {
	return b.db.View(func(tx *bolt.Tx) error {
		return forEach(tx, bucketHeads, func(_, v []byte) error { return fn(bytes.Clone(v)) })
	})
}

func (b *boltBackend) loadFunctions(fn func([]byte) error) error {
	return b.db.View(func(tx *bolt.Tx) error {
		return forEach(tx, bucketFunctions, func(_, v []byte) error { return fn(v) })
	})
}

func (b *boltBackend) get(bucket, key []byte) (v []byte, ok bool, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		if bk == nil {
			return nil
		}
		if x := bk.Get(key); x != nil {
			v, ok = bytes.Clone(x), true
		}
		return nil
	})
	return v, ok, err
}

func (b *boltBackend) head(ref string) ([]byte, bool, error) {
	return b.get(bucketHeads, []byte(ref))
}

func (b *boltBackend) function(id ID) ([]byte, bool, error) {
	return b.get(bucketFunctions, id.Bytes())
}

func (b *boltBackend) commit(ws ...*batch) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		hb, fb := tx.Bucket(bucketHeads), tx.Bucket(bucketFunctions)
		for _, w := range ws {
			if w.head != nil {
				if err := hb.Put([]byte(w.ref), w.head); err != nil {
					return err
				}
			}
			for id, v := range w.put {
				if err := fb.Put(id.Bytes(), v); err != nil {
					return err
				}
			}
			for _, id := range w.del {
				if err := fb.Delete(id.Bytes()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (b *boltBackend) close() error { return b.db.Close() }
