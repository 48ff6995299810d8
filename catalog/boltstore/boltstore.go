package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configure Open. The zero value opens the file read-write for a
// full node's store, waiting up to 2 seconds for its lock.
type Options struct {
	// Catalog configures the store. Its ReadOnly also opens the file for
	// lookups only, under a shared lock (see the package doc).
	Catalog catalog.Options
	// LockTimeout is how long to wait for other stores, in this process or
	// others, to release the file, then fail with kind fault.Timeout. Zero
	// means DefaultLockTimeout.
	LockTimeout time.Duration
}

// DefaultLockTimeout is how long Open waits for the file's lock when
// Options.LockTimeout is zero.
const DefaultLockTimeout = 2 * time.Second

// Open opens the catalog store in the bbolt file at path, creating the
// file if need be (unless read-only), and rebuilds its index as
// catalog.New does.
func Open(path string, opts Options) (*catalog.Store, error) {
	be, err := OpenBackend(path, opts)
	if err != nil {
		return nil, err
	}
	s, err := catalog.New(be, opts.Catalog) // closes be if it fails
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	return s, nil
}

// Layout (see the package doc).
var (
	bucketHeads     = []byte("heads")
	bucketFunctions = []byte("functions")
	bucketMeta      = []byte("meta")
	keySchema       = []byte("schema")
	schemaVersion   = []byte("1")
)

// Backend is a catalog.Backend in one bbolt file.
type Backend struct {
	db *bolt.DB // nil: an empty file, opened read-only, that reads as empty
}

var _ catalog.Backend = (*Backend)(nil)

// OpenBackend opens the file at path as Open does, for catalog.New: of
// opts.Catalog it reads only ReadOnly. A read-write one creates the file
// and its buckets if need be.
func OpenBackend(path string, opts Options) (*Backend, error) {
	readOnly, lockTimeout := opts.Catalog.ReadOnly, opts.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	if readOnly {
		// bbolt would initialize an empty file, which a read-only open
		// must not write: one a writer has created but not yet written.
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("catalog: open %s: %w", path, err)
		}
		if fi.Size() == 0 {
			return &Backend{}, nil
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
		err = db.Update(initialize)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	return &Backend{db: db}, nil
}

// initialize creates the buckets a file lacks and writes the schema of a
// new one; it refuses a file of another schema.
func initialize(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketHeads, bucketFunctions, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if tx.Bucket(bucketMeta).Get(keySchema) == nil {
		return tx.Bucket(bucketMeta).Put(keySchema, schemaVersion)
	}
	return checkSchema(tx)
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

// view runs fn in a read transaction; an empty file has nothing to read.
func (b *Backend) view(fn func(*bolt.Tx) error) error {
	if b.db == nil {
		return nil
	}
	return b.db.View(fn)
}

// forEach calls fn for every pair of bucket; a missing bucket (a read-only
// view of a file never written) is empty.
func forEach(tx *bolt.Tx, bucket []byte, fn func(k, v []byte) error) error {
	if bk := tx.Bucket(bucket); bk != nil {
		return bk.ForEach(fn)
	}
	return nil
}

// LoadHeads implements catalog.Backend.
func (b *Backend) LoadHeads(fn func([]byte) error) error {
	return b.view(func(tx *bolt.Tx) error {
		return forEach(tx, bucketHeads, func(_, v []byte) error { return fn(bytes.Clone(v)) })
	})
}

// LoadFunctions implements catalog.Backend.
func (b *Backend) LoadFunctions(fn func([]byte) error) error {
	return b.view(func(tx *bolt.Tx) error {
		return forEach(tx, bucketFunctions, func(_, v []byte) error { return fn(v) })
	})
}

func (b *Backend) get(bucket, key []byte) (v []byte, ok bool, err error) {
	err = b.view(func(tx *bolt.Tx) error {
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

// Head implements catalog.Backend.
func (b *Backend) Head(ref string) ([]byte, bool, error) {
	return b.get(bucketHeads, []byte(ref))
}

// Function implements catalog.Backend.
func (b *Backend) Function(id catalog.ID) ([]byte, bool, error) {
	return b.get(bucketFunctions, id.Bytes())
}

// Commit implements catalog.Backend: one transaction for all of ws.
func (b *Backend) Commit(ws ...*catalog.Batch) error {
	if b.db == nil {
		return berrors.ErrDatabaseReadOnly
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		hb, fb := tx.Bucket(bucketHeads), tx.Bucket(bucketFunctions)
		for _, w := range ws {
			if w.Head != nil {
				if err := hb.Put([]byte(w.Ref), w.Head); err != nil {
					return err
				}
			}
			for id, v := range w.Put {
				if err := fb.Put(id.Bytes(), v); err != nil {
					return err
				}
			}
			for _, id := range w.Delete {
				if err := fb.Delete(id.Bytes()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Close implements catalog.Backend.
func (b *Backend) Close() error {
	if b.db == nil {
		return nil
	}
	return b.db.Close()
}
