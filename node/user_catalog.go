package node

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
)

// OpenCatalog opens the user's own catalog store in $FX_HOME, which keeps
// private functions (they never leave it but inside the owner's invocations).
func (h Home) OpenCatalog() (*catalog.Store, error) {
	return catalog.Open(filepath.Join(h.Dir, "catalog.db"), catalog.Options{KeepPrivate: true})
}

// UserCatalog is a user's view of the catalog: their own store (private
// functions) in front of the mesh's.
type UserCatalog struct {
	Key   *identity.Key
	Local *catalog.Store
	// Mesh may be nil: then only the local store is used.
	Mesh *Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (u *UserCatalog) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// head returns the newest known update of the user's OWNER/NAME, from the
// local store or the mesh, or nil if there is none.
func (u *UserCatalog) head(ctx context.Context, name string) (*catalog.Update, error) {
	owner := u.Key.ID().String()
	var best *catalog.SignedUpdate
	if su, err := u.Local.Head(owner, name); err == nil {
		best = su
	} else if !fault.Is(err, fault.NotFound) {
		return nil, err
	}
	if u.Mesh != nil {
		su, err := u.Mesh.Head(ctx, owner, name)
		switch {
		case err == nil:
			if best == nil || su.Update.Seq > best.Update.Seq {
				best = su
			}
			_, _ = u.Local.Apply(su.Envelope) // remember what the mesh knows
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
// private one stays in the local store.
func (u *UserCatalog) Register(ctx context.Context, fn catalog.Function, access catalog.Access) (*Registered, error) {
	prev, err := u.head(ctx, fn.Name)
	if err != nil {
		return nil, err
	}
	env, err := catalog.NewPublish(u.Key, prev, fn, access, u.now())
	if err != nil {
		return nil, err
	}
	return u.apply(ctx, env)
}

func (u *UserCatalog) apply(ctx context.Context, env []byte) (*Registered, error) {
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
			return nil, fault.E(fault.Unavailable, "", "%s is shared, but no mesh is reachable: pass --bootstrap or set FX_BOOTSTRAP", up.Ref())
		}
		if err := u.Mesh.PublishUpdate(ctx, env); err != nil {
			return nil, err
		}
	}
	if _, err := u.Local.Apply(env); err != nil {
		return nil, err
	}
	return r, nil
}

// splitRef turns NAME, OWNER/NAME or an ID into what Resolve takes.
func (u *UserCatalog) ref(ref string) string {
	if _, err := catalog.ParseID(ref); err == nil || strings.Contains(ref, "/") {
		return ref
	}
	return u.Key.ID().String() + "/" + ref
}

// Resolve finds a function: in the local store first (private functions),
// then in the mesh. What the mesh answers must be the function asked for
// (Client.ResolveFunction) and its update no older than the one the local
// store knows for that name: a node that is behind, or replays an unshared
// or deleted record, is refused (invalid, wrapping catalog.ErrStale).
func (u *UserCatalog) Resolve(ctx context.Context, ref string) (*Function, error) {
	ref = u.ref(ref)
	if r, err := u.Local.Resolve(ref); err == nil {
		head, fn, perr := u.Local.Proof(r.ID)
		if perr == nil {
			su, derr := catalog.DecodeUpdate(head, catalog.Limits{})
			if derr == nil && (u.Mesh == nil || su.Update.Access.Private()) {
				return &Function{ID: r.ID, Function: r.Function, Update: su, Proof: &invoke.Proof{Head: head, Function: fn}}, nil
			}
		}
	}
	if u.Mesh == nil {
		return nil, fault.E(fault.NotFound, "", "no function %s here, and no mesh to ask", ref)
	}
	f, err := u.Mesh.ResolveFunction(ctx, ref)
	if err != nil {
		return nil, err
	}
	known, err := u.Local.Head(f.Function.Owner, f.Function.Name)
	switch {
	case fault.Is(err, fault.NotFound):
	case err != nil:
		return nil, err
	case known.Update.Seq > f.Update.Update.Seq:
		u.Mesh.log.Warn("catalog: a node answered with an out-of-date record", "peer", f.From, "ref", ref,
			"seq", f.Update.Update.Seq, "known", known.Update.Seq)
		return nil, fault.E(fault.Invalid, "node: resolve", "%s: node %s answered with seq %d of %s, older than seq %d known here: %w",
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
	prev, err := u.head(ctx, f.Function.Name)
	if err != nil {
		return nil, err
	}
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
	env, err := catalog.NewAccessChange(u.Key, prev, latest, change(prev.Access), u.now())
	if err != nil {
		return nil, err
	}
	return u.apply(ctx, env)
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
	_, err = u.Local.Apply(env)
	if errors.Is(err, catalog.ErrStale) || errors.Is(err, catalog.ErrDuplicate) {
		err = nil
	}
	return err
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
	for _, e := range u.Local.List(catalog.Filter{Owner: owner}) {
		if !seen[e.Owner+"/"+e.Name] && (e.Access.Private() || u.Mesh == nil) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b catalog.Entry) int { return strings.Compare(a.Owner+"/"+a.Name, b.Owner+"/"+b.Name) })
	return out, nil
}
