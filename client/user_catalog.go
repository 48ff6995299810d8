package client

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/catalog/boltstore"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
)

// CatalogPath is the user's own catalog store in $FX_HOME, which keeps
// private functions (they never leave it but inside the owner's invocations).
func (h Home) CatalogPath() string { return filepath.Join(h.Dir, "catalog.db") }

// catalogLockTimeout is how long a UserCatalog waits for the other
// processes of its user to let go of the store. They hold it for
// milliseconds, but a writer waits for every reader, and a hundred fx
// commands at once take turns.
const catalogLockTimeout = 10 * time.Second

// UserCatalog is a user's view of the catalog: their own store (private
// functions) in front of the mesh's.
//
// The own store is one file that all the user's fx commands share, so a
// UserCatalog opens it only for the moment it reads or writes: read-only (a
// lock shared with every other reader) to look something up, read-write
// only to apply an update, and closed at once. No command holds it while it
// talks to the mesh or waits for a function to run.
type UserCatalog struct {
	Key *identity.Key
	// Path is the own store, a bbolt file (Home.CatalogPath). A missing
	// file reads as empty; the first write creates it. Empty means a store
	// in memory, kept as long as the UserCatalog.
	Path string
	// Mesh may be nil: then only the own store is used.
	Mesh *Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	memOnce sync.Once
	mem     *catalog.Store // the own store when Path is ""
}

func (u *UserCatalog) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// view calls f with the own store open for lookups.
func (u *UserCatalog) view(f func(*catalog.Store) error) error { return u.with(true, f) }

// update calls f with the own store open for writing.
func (u *UserCatalog) update(f func(*catalog.Store) error) error { return u.with(false, f) }

func (u *UserCatalog) with(readOnly bool, f func(*catalog.Store) error) error {
	opts := catalog.Options{KeepPrivate: true}
	if u.Path == "" {
		u.memOnce.Do(func() { u.mem = catalog.NewMemory(opts) })
		return f(u.mem)
	}
	opts.ReadOnly = readOnly
	st, err := boltstore.Open(u.Path, boltstore.Options{Catalog: opts, LockTimeout: catalogLockTimeout})
	if readOnly && errors.Is(err, fs.ErrNotExist) { // nothing written yet
		st, err = catalog.NewMemory(opts), nil
	}
	if err != nil {
		return err
	}
	err = f(st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

// head returns the newest known update of the user's OWNER/NAME, from the
// own store or the mesh, or nil if there is none.
func (u *UserCatalog) head(ctx context.Context, name string) (*catalog.Update, error) {
	owner := u.Key.ID().String()
	var best *catalog.SignedUpdate
	err := u.view(func(st *catalog.Store) error {
		su, err := st.Head(owner, name)
		switch {
		case err == nil:
			best = su
		case !fault.Is(err, fault.NotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if u.Mesh != nil {
		su, err := u.Mesh.Head(ctx, owner, name)
		switch {
		case err == nil:
			if best == nil || su.Update.Seq > best.Update.Seq { // newer: remember it
				best = su
				_ = u.update(func(st *catalog.Store) error { _, err := st.Apply(su.Envelope); return err })
			}
		case !fault.Is(err, fault.NotFound):
			return nil, err
		}
	}
	if best == nil {
		return nil, nil
	}
	return &best.Update, nil
}

// Registered is what Register did.
type Registered struct {
	ID      catalog.ID
	Owner   string
	Name    string
	Version uint64
	Access  catalog.Access
	// Shared is true when the record went to the mesh (public or shared).
	Shared bool
}

// Register publishes fn as the next version of the user's function
// fn.Name. A public or shared record returns once a full node stored it; a
// private one stays in the own store.
func (u *UserCatalog) Register(ctx context.Context, fn catalog.Function, access catalog.Access) (*Registered, error) {
	return u.next(ctx, fn.Name, func(prev *catalog.Update) ([]byte, error) {
		return catalog.NewPublish(u.Key, prev, fn, access, u.now())
	})
}

// nextTries is how many times next builds an update that other commands
// of the user keep overtaking.
const nextTries = 16

// errMoved: the own store's current update of a name changed between the
// read that the next update was built on and its write.
var errMoved = errors.New("client: changed meanwhile")

// next builds the user's next update of name on the current one (build's
// prev, nil if none) and applies it. When another command of the user wrote
// name in between, an update that nothing has published yet is built again
// on what that command wrote; one already published fails.
func (u *UserCatalog) next(ctx context.Context, name string, build func(prev *catalog.Update) ([]byte, error)) (*Registered, error) {
	for try := 1; ; try++ {
		prev, err := u.head(ctx, name)
		if err != nil {
			return nil, err
		}
		env, err := build(prev)
		if err != nil {
			return nil, err
		}
		r, err := u.apply(ctx, env, prev)
		if errors.Is(err, errMoved) && !r.Shared && try < nextTries {
			continue
		}
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

// apply publishes env, built on prev, to the mesh when it is shared and
// writes it to the own store, unless the own store has moved past prev
// (errMoved). What it did is returned with any error after env decoded.
func (u *UserCatalog) apply(ctx context.Context, env []byte, prev *catalog.Update) (*Registered, error) {
	su, err := catalog.DecodeUpdate(env, catalog.Limits{})
	if err != nil {
		return nil, err
	}
	up := su.Update
	r := &Registered{Owner: up.Owner, Name: up.Name, Access: up.Access, Shared: up.Shareable()}
	if v, ok := up.Latest(); ok {
		r.ID, r.Version = v.ID, v.Version
	}
	if r.Shared {
		if u.Mesh == nil {
			return r, fault.E(fault.Unavailable, "", "%s is shared, but no mesh is reachable: pass --bootstrap or set FX_BOOTSTRAP", up.Ref())
		}
		if err := u.Mesh.PublishUpdate(ctx, env); err != nil {
			return r, err
		}
	}
	err = u.update(func(st *catalog.Store) error {
		cur, err := st.Head(up.Owner, up.Name)
		switch {
		case err == nil && (prev == nil || cur.Update.Seq > prev.Seq):
			return fault.E(fault.Replayed, "", "%s changed while this command ran (another fx command?); run it again: %w", up.Ref(), errMoved)
		case err != nil && !fault.Is(err, fault.NotFound):
			return err
		}
		_, err = st.Apply(env)
		return err
	})
	return r, err
}

// splitRef turns NAME, OWNER/NAME or an ID into what Resolve takes.
func (u *UserCatalog) ref(ref string) string {
	if _, err := catalog.ParseID(ref); err == nil || strings.Contains(ref, "/") {
		return ref
	}
	return u.Key.ID().String() + "/" + ref
}

// Resolve finds a function: in the own store first (private functions),
// then in the mesh. What the mesh answers must be the function asked for
// (Client.ResolveFunction) and its update no older than the one the own
// store knows for that name: a node that is behind, or replays an unshared
// or deleted record, is refused (invalid, wrapping catalog.ErrStale).
func (u *UserCatalog) Resolve(ctx context.Context, ref string) (*ResolvedFunction, error) {
	ref = u.ref(ref)
	var found *ResolvedFunction
	err := u.view(func(st *catalog.Store) error {
		r, err := st.Resolve(ref)
		if err != nil {
			return nil // the mesh may know it
		}
		head, fn, err := st.Proof(r.ID)
		if err != nil {
			return nil
		}
		su, err := catalog.DecodeUpdate(head, catalog.Limits{})
		if err == nil && (u.Mesh == nil || su.Update.Access.Private()) {
			found = &ResolvedFunction{ID: r.ID, Function: r.Function, Update: su, Proof: &invoke.Proof{Head: head, Function: fn}}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case found != nil:
		return found, nil
	case u.Mesh == nil:
		return nil, u.functionNotFound(ctx, ref, fault.E(fault.NotFound, "", "no mesh to ask"))
	}
	f, err := u.Mesh.ResolveFunction(ctx, ref)
	if fault.Is(err, fault.NotFound) {
		return nil, u.functionNotFound(ctx, ref, err)
	}
	if err != nil {
		return nil, err
	}
	var known *catalog.SignedUpdate
	err = u.view(func(st *catalog.Store) error {
		var herr error
		known, herr = st.Head(f.Function.Owner, f.Function.Name)
		return herr
	})
	switch {
	case fault.Is(err, fault.NotFound):
	case err != nil:
		return nil, err
	case known.Update.Seq > f.Update.Update.Seq:
		u.Mesh.log.Warn("catalog: a node answered with an out-of-date record", "peer", f.From, "ref", ref,
			"seq", f.Update.Update.Seq, "known", known.Update.Seq)
		return nil, fault.E(fault.Invalid, "client: resolve", "%s: node %s answered with seq %d of %s, older than seq %d known here: %w",
			ref, f.From, f.Update.Update.Seq, f.Function.Ref(), known.Update.Seq, catalog.ErrStale)
	}
	return f, nil
}

// SetAccess changes the access of one of the user's functions.
func (u *UserCatalog) SetAccess(ctx context.Context, ref string, change func(catalog.Access) catalog.Access) (*Registered, error) {
	f, err := u.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if f.Function.Owner != u.Key.ID().String() {
		return nil, fault.E(fault.Denied, "", "%s belongs to %s; only its owner can change it", f.Function.Ref(), f.Function.Owner)
	}
	return u.next(ctx, f.Function.Name, func(prev *catalog.Update) ([]byte, error) {
		if prev == nil {
			return nil, fault.E(fault.NotFound, "", "no current record of %s", f.Function.Ref())
		}
		latest := f.Function
		if v, ok := prev.Latest(); ok && v.ID != f.ID {
			lf, err := u.Resolve(ctx, v.ID.String())
			if err != nil {
				return nil, err
			}
			latest = lf.Function
		}
		return catalog.NewAccessChange(u.Key, prev, latest, change(prev.Access), u.now())
	})
}

// Delete publishes a tombstone for one of the user's functions.
func (u *UserCatalog) Delete(ctx context.Context, ref string) error {
	f, err := u.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	if f.Function.Owner != u.Key.ID().String() {
		return fault.E(fault.Denied, "", "%s belongs to %s; only its owner can delete it", f.Function.Ref(), f.Function.Owner)
	}
	prev, err := u.head(ctx, f.Function.Name)
	if err != nil {
		return err
	}
	env, err := catalog.NewDelete(u.Key, prev, u.now())
	if err != nil {
		return err
	}
	if u.Mesh == nil {
		return fault.E(fault.Unavailable, "", "no mesh is reachable to delete %s", f.Function.Ref())
	}
	if err := u.Mesh.PublishUpdate(ctx, env); err != nil {
		return err
	}
	return u.update(func(st *catalog.Store) error {
		_, err := st.Apply(env)
		if errors.Is(err, catalog.ErrStale) || errors.Is(err, catalog.ErrDuplicate) {
			err = nil
		}
		return err
	})
}

// List merges the mesh's functions with the user's private ones.
func (u *UserCatalog) List(ctx context.Context, owner string) ([]catalog.Entry, error) {
	var out []catalog.Entry
	seen := map[string]bool{}
	if u.Mesh != nil {
		es, err := u.Mesh.ListFunctions(ctx, owner)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			seen[e.Owner+"/"+e.Name] = true
			out = append(out, e)
		}
	}
	err := u.view(func(st *catalog.Store) error {
		for _, e := range st.List(catalog.Filter{Owner: owner}) {
			if !seen[e.Owner+"/"+e.Name] && (e.Access.Private() || u.Mesh == nil) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b catalog.Entry) int { return strings.Compare(a.Owner+"/"+a.Name, b.Owner+"/"+b.Name) })
	return out, nil
}
