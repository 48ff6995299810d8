package catalog

import (
	"bytes"
	"sync"
)

// Backend is where a Store keeps its records: one head (the current
// update's envelope) per OWNER/NAME, and function bodies by ID. Package
// catalog/boltstore keeps them in a file (a node's store, and a user's
// own); MemoryBackend keeps them in memory. A Backend stores bytes;
// checking them is the Store's job, which re-verifies everything it loads.
//
// The Store calls Commit, LoadHeads and LoadFunctions one at a time, never
// beside another call; Head and Function may run concurrently with each
// other, never with Commit. It owns the Backend it is built on (see New)
// and closes it on Close.
type Backend interface {
	// LoadHeads calls fn with every stored head, in any order, and stops
	// at fn's first error, which it returns. fn may keep env.
	LoadHeads(fn func(env []byte) error) error
	// LoadFunctions calls fn with every stored function body, in any
	// order, and stops at fn's first error, which it returns. b is valid
	// only until fn returns.
	LoadFunctions(fn func(b []byte) error) error
	// Head returns the head of ref (OWNER/NAME), and whether there is one.
	// The caller must not modify the bytes.
	Head(ref string) ([]byte, bool, error)
	// Function returns the body of the function with ID id, and whether
	// there is one. The caller must not modify the bytes.
	Function(id ID) ([]byte, bool, error)
	// Commit applies the batches, in order, all or none. The Store does
	// not modify their bytes afterwards.
	Commit(bs ...*Batch) error
	// Close releases what the Backend holds. The Store calls it once.
	Close() error
}

// Batch is one atomic write of a Store: an update's head with the bodies
// it brings and drops, or bodies alone.
type Batch struct {
	// Ref is the OWNER/NAME whose head Head replaces.
	Ref string
	// Head is the new head envelope; nil leaves the heads as they are.
	Head []byte
	// Put holds function bodies to store, by ID.
	Put map[ID][]byte
	// Delete lists function bodies to remove; a missing one is no error.
	Delete []ID
}

// MemoryBackend keeps a Store's records in maps, for clients that keep
// nothing on disk and for tests. The zero value is empty and ready to use.
// Its Close does nothing, so a Store built on it again (New) finds what an
// earlier one left: a restart, in memory. It is safe for concurrent use.
type MemoryBackend struct {
	mu    sync.RWMutex // guards the maps
	heads map[string][]byte
	funcs map[ID][]byte
}

var _ Backend = (*MemoryBackend)(nil)

// NewMemoryBackend returns an empty MemoryBackend.
func NewMemoryBackend() *MemoryBackend { return &MemoryBackend{} }

// LoadHeads implements Backend.
func (m *MemoryBackend) LoadHeads(fn func([]byte) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, v := range m.heads {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// LoadFunctions implements Backend.
func (m *MemoryBackend) LoadFunctions(fn func([]byte) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, v := range m.funcs {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// Head implements Backend.
func (m *MemoryBackend) Head(ref string) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.heads[ref]
	return b, ok, nil
}

// Function implements Backend.
func (m *MemoryBackend) Function(id ID) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.funcs[id]
	return b, ok, nil
}

// Commit implements Backend. It keeps copies of the bytes, as a disk
// would, so a caller that reuses its buffers changes nothing stored.
func (m *MemoryBackend) Commit(bs ...*Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.heads == nil {
		m.heads, m.funcs = map[string][]byte{}, map[ID][]byte{}
	}
	for _, b := range bs {
		if b.Head != nil {
			m.heads[b.Ref] = bytes.Clone(b.Head)
		}
		for id, v := range b.Put {
			m.funcs[id] = bytes.Clone(v)
		}
		for _, id := range b.Delete {
			delete(m.funcs, id)
		}
	}
	return nil
}

// Close implements Backend; it does nothing.
func (m *MemoryBackend) Close() error { return nil }
