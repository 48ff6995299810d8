package catalog

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Options configure a Store. The zero value is a full node's store with the
// default limits and no logging.
type Options struct {
	// Limits bound what is accepted; zero fields mean the defaults.
	Limits Limits
	// KeepPrivate makes this the owner's own store (the client's): Apply
	// accepts private updates with code and keeps their bodies. They are still
	// never offered to sync peers, never accepted from gossip or sync
	// (Receive), and Publish does not broadcast them. A full node leaves it
	// false: private updates with code are refused (ErrPrivate), and private
	// functions are hidden (NotFound) with their bodies dropped.
	KeepPrivate bool
	// OwnerQuota bounds the records this store holds for one owner: one per
	// OWNER/NAME (its current update, tombstones included) and one per
	// function body held. An update or body that would put its owner over
	// the quota is refused with ErrQuota; one that replaces a head without
	// adding records is not. It is this node's own setting, not a mesh-wide
	// limit: other nodes may allow more, so gossip ignores such a record
	// rather than rejecting it. Zero means DefaultOwnerQuota (10,000).
	// Records already stored are kept on Open even over a lowered quota.
	OwnerQuota int
	// LockTimeout is how long Open waits for another process to release the
	// bbolt file, then fails with kind Timeout. Zero means 2 seconds.
	LockTimeout time.Duration
	// ReadOnly opens the bbolt file for lookups only, under a shared lock:
	// any number of read-only stores, in this process or others, may hold
	// it at once, and a read-write one waits for them all (and they for it)
	// up to LockTimeout. Nothing is created or repaired: the file must
	// exist (an error wrapping fs.ErrNotExist if not; an empty file, just
	// created by a writer, reads as an empty store), stored records that no
	// longer pass are left out of the index but stay on disk, and every
	// write fails with ErrReadOnly. It has no effect on a store in memory.
	ReadOnly bool
	// Logger receives, at debug level, the records rejected where no caller
	// sees the error (Follow, HandleSync, Pull) and, at warn level, stored
	// records that no longer pass on Open. Nil discards.
	Logger *slog.Logger
}

// DefaultOwnerQuota is the records one owner may have in a store when
// Options.OwnerQuota is zero.
const DefaultOwnerQuota = 10_000

// Store is the catalog of one node or client: for every OWNER/NAME the
// current (highest-Seq) update, and the bodies of the versions it lists.
// It persists in bbolt (or memory only) and keeps an index in memory, rebuilt
// on Open. It is safe for concurrent use.
type Store struct {
	lim         Limits
	keepPrivate bool
	quota       int
	readOnly    bool
	log         *slog.Logger

	// keys caches the sync set by bucket; nil when stale. Readers fill it
	// under mu.RLock; writers clear it under mu.Lock.
	keys atomic.Pointer[syncKeys]

	mu     sync.RWMutex // guards the fields below and serializes backend writes
	be     backend
	closed bool
	chains map[string]*chain // by OWNER/NAME
	heads  map[ID]*chain     // by current update ID
	funcs  map[ID]*held      // function bodies held, by function ID
	owners map[string]int    // records held per owner: chains plus bodies
}

// chain is the state of one OWNER/NAME.
type chain struct {
	ref       string
	head      Update          // the current update, Function stripped
	id        ID              // its ID
	shareable bool            // head.Shareable() before stripping
	policy    identity.Policy // head.Access.Policy(head.Owner), kept for Access
	policyErr error
	bodies    map[ID]*held
}

// held describes a function body in the backend.
type held struct {
	c           *chain
	version     uint64
	kind        Kind
	description string
	created     int64
}

// Change reports what Apply did.
type Change struct {
	// ID is the applied update's ID.
	ID          ID
	Op          Op
	Owner, Name string
	Seq         uint64
	// Access is the access from now on.
	Access Access
	// Latest is the highest version now listed (zero after a delete).
	Latest VersionRef
	// Shareable says whether the update may be gossiped and synced.
	Shareable bool
}

// Open opens (creating if need be, unless Options.ReadOnly) the store at
// path, a bbolt file, and rebuilds the index, re-verifying every record. An
// empty path gives a store in memory only. Records that no longer pass (say,
// after limits were lowered) are logged and left out.
func Open(path string, opts Options) (*Store, error) {
	s := &Store{
		lim:         opts.Limits.withDefaults(),
		keepPrivate: opts.KeepPrivate,
		quota:       opts.OwnerQuota,
		log:         opts.Logger,
		chains:      map[string]*chain{},
		heads:       map[ID]*chain{},
		funcs:       map[ID]*held{},
		owners:      map[string]int{},
	}
	if s.quota <= 0 {
		s.quota = DefaultOwnerQuota
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		s.be = newMemBackend()
		return s, nil
	}
	be, err := openBolt(path, opts.LockTimeout, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	s.be, s.readOnly = be, opts.ReadOnly
	if err := s.load(); err != nil {
		be.close()
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	return s, nil
}

// load rebuilds the index from the backend.
func (s *Store) load() error {
	err := s.be.loadHeads(func(env []byte) error {
		su, err := DecodeUpdate(env, s.lim)
		if err != nil {
			s.log.Warn("catalog: ignoring stored update", "err", err)
			return nil
		}
		if !su.Update.Shareable() && !s.keepPrivate {
			return nil
		}
		if c := s.chains[su.Update.Ref()]; c != nil && checkSeq(c, su) != nil {
			return nil
		}
		s.installLocked(su)
		return nil
	})
	if err != nil {
		return err
	}
	var orphans []ID
	err = s.be.loadFunctions(func(b []byte) error {
		f, id, err := DecodeFunction(b, s.lim)
		if err != nil {
			s.log.Warn("catalog: dropping stored function", "err", err)
			orphans = append(orphans, idOf(b))
			return nil
		}
		c := s.chains[f.Ref()]
		if c == nil { // perhaps a head left out above: keep it on disk
			return nil
		}
		if !s.keepsLocked(&c.head, id) {
			orphans = append(orphans, id)
			return nil
		}
		s.holdLocked(c, f, id)
		return nil
	})
	if err != nil {
		return err
	}
	if len(orphans) > 0 && !s.readOnly {
		return s.be.commit(&batch{del: orphans})
	}
	return nil
}

// Close closes the store; later calls fail with ErrClosed. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.be.close(); err != nil {
		return fmt.Errorf("catalog: close: %w", err)
	}
	return nil
}

// Apply checks a signed update envelope (DecodeUpdate), refuses it if it is
// stale or a duplicate of the current one, and otherwise makes it the
// current update of its OWNER/NAME: the head and any function body it
// carries are written in one transaction, and bodies of versions it no
// longer lists are dropped. Use it for the owner's own updates; use Receive
// for what comes from the network.
func (s *Store) Apply(env []byte) (Change, error) {
	return s.apply(env, s.keepPrivate)
}

// Receive is Apply for an update that came from gossip or sync: a private
// update with code is refused (ErrPrivate) even by an owner's store.
func (s *Store) Receive(env []byte) (Change, error) {
	return s.apply(env, false)
}

func (s *Store) apply(env []byte, allowPrivate bool) (Change, error) {
	_, ch, err := s.applyEnvelope(env, allowPrivate)
	return ch, err
}

// applyEnvelope is apply that also returns the update's ID when the
// envelope decoded, for sync's bookkeeping.
func (s *Store) applyEnvelope(env []byte, allowPrivate bool) (ID, Change, error) {
	su, err := DecodeUpdate(env, s.lim)
	if err != nil {
		return ID{}, Change{}, fmt.Errorf("catalog: apply: %w", err)
	}
	ch, err := s.applyDecoded(su, allowPrivate)
	if err != nil {
		return su.ID, Change{}, fmt.Errorf("catalog: apply %s %s: %w", su.Update.Ref(), su.ID, err)
	}
	return su.ID, ch, nil
}

func (s *Store) applyDecoded(su *SignedUpdate, allowPrivate bool) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.planUpdateLocked(su, allowPrivate)
	if err != nil {
		return Change{}, err
	}
	if err := s.be.commit(b); err != nil {
		return Change{}, fault.Wrap(fault.Internal, "", fmt.Errorf("write: %w", err))
	}
	return s.installUpdateLocked(su, b), nil
}

// planUpdateLocked checks su against the store and returns the write that
// applies it; it changes nothing.
func (s *Store) planUpdateLocked(su *SignedUpdate, allowPrivate bool) (*batch, error) {
	u := &su.Update
	if !u.Shareable() && !allowPrivate {
		return nil, fail(fault.Denied, ErrPrivate, "private %s carries code", u.Op)
	}
	if s.closed {
		return nil, fail(fault.Unavailable, ErrClosed, "apply")
	}
	if s.readOnly {
		return nil, fail(fault.Internal, ErrReadOnly, "apply")
	}
	old := s.chains[u.Ref()]
	if err := checkSeq(old, su); err != nil {
		return nil, err
	}
	if err := s.checkQuotaLocked(u.Owner, s.growthLocked(u, old)); err != nil {
		return nil, err
	}
	b := &batch{ref: u.Ref(), head: su.Envelope, put: map[ID][]byte{}}
	if f := u.Function; f != nil && s.keepsBodies(u) {
		fb, err := f.Marshal()
		if err != nil {
			return nil, fault.Wrap(fault.Internal, "", err)
		}
		if id := idOf(fb); s.funcs[id] == nil {
			b.put[id] = fb
		}
	}
	if old != nil {
		for id := range old.bodies {
			if !s.keepsLocked(u, id) {
				b.del = append(b.del, id)
			}
		}
	}
	return b, nil
}

// installUpdateLocked makes the index match a planned write.
func (s *Store) installUpdateLocked(su *SignedUpdate, b *batch) Change {
	u := &su.Update
	c := s.installLocked(su)
	for id := range b.put { // at most the function u carries
		s.holdLocked(c, u.Function, id)
	}
	latest, _ := u.Latest()
	return Change{
		ID: su.ID, Op: u.Op, Owner: u.Owner, Name: u.Name, Seq: u.Seq,
		Access: u.Access, Latest: latest, Shareable: u.Shareable(),
	}
}

// checkSeq decides whether su may replace c's head: a higher Seq wins; at an
// equal Seq (an owner who signed two different updates with one Seq) the
// higher ID wins, so that every node picks the same one.
func checkSeq(c *chain, su *SignedUpdate) error {
	if c == nil {
		return nil
	}
	seq := su.Update.Seq
	switch {
	case seq > c.head.Seq:
		return nil
	case seq == c.head.Seq && su.ID == c.id:
		return fail(fault.Replayed, ErrDuplicate, "update %s", su.ID)
	case seq == c.head.Seq && su.ID.compare(c.id) > 0:
		return nil
	default:
		return fail(fault.Replayed, ErrStale, "seq %d, have %d", seq, c.head.Seq)
	}
}

// growthLocked is by how many records u would change its owner's count if
// it replaced old (nil: a new OWNER/NAME): one for a new OWNER/NAME, one for
// the body it carries if this store keeps it and does not hold it yet, less
// one for each body of old that u no longer lists.
func (s *Store) growthLocked(u *Update, old *chain) int {
	n := 0
	if old == nil {
		n++
	}
	if v, ok := u.Latest(); ok && u.Function != nil && s.keepsBodies(u) && s.funcs[v.ID] == nil {
		n++ // Validate made v.ID the ID of u.Function
	}
	if old != nil {
		for id := range old.bodies {
			if !s.keepsLocked(u, id) {
				n--
			}
		}
	}
	return n
}

// checkQuotaLocked refuses growth that would put owner over the quota.
// Growth of zero or less (a replaced head, dropped bodies) always passes,
// even for an owner over a quota that was lowered.
func (s *Store) checkQuotaLocked(owner string, growth int) error {
	if have := s.owners[owner]; growth > 0 && have+growth > s.quota {
		return fail(fault.TooLarge, ErrQuota, "%s holds %d records here, quota %d", owner, have, s.quota)
	}
	return nil
}

// keepsBodies reports whether this store keeps function bodies under u.
func (s *Store) keepsBodies(u *Update) bool {
	return u.Op != OpDelete && (!u.Access.Private() || s.keepPrivate)
}

// keepsLocked reports whether the body id is kept under u.
func (s *Store) keepsLocked(u *Update, id ID) bool {
	if !s.keepsBodies(u) {
		return false
	}
	for _, v := range u.Versions {
		if v.ID == id {
			return true
		}
	}
	return false
}

// hidden reports whether c is invisible to lookups: deleted, or private on a
// store that does not keep private functions.
func (s *Store) hidden(c *chain) bool {
	return c.head.Op == OpDelete || (c.head.Access.Private() && !s.keepPrivate)
}

// sharesBodies reports whether c's bodies are in the sync set.
func sharesBodies(c *chain) bool {
	return c.head.Op != OpDelete && !c.head.Access.Private()
}

// installLocked makes su the head of its chain in memory and drops the
// bodies it no longer lists.
func (s *Store) installLocked(su *SignedUpdate) *chain {
	u := su.Update
	u.Function = nil
	ref := u.Ref()
	c := s.chains[ref]
	if c == nil {
		c = &chain{ref: ref, bodies: map[ID]*held{}}
		s.chains[ref] = c
		s.owners[u.Owner]++
	} else {
		delete(s.heads, c.id)
	}
	c.head, c.id, c.shareable = u, su.ID, su.Update.Shareable()
	c.policy, c.policyErr = u.Access.Policy(u.Owner)
	s.heads[c.id] = c
	for id := range c.bodies {
		if !s.keepsLocked(&c.head, id) {
			delete(c.bodies, id)
			delete(s.funcs, id)
			s.owners[u.Owner]--
		}
	}
	s.keys.Store(nil)
	return c
}

func (s *Store) holdLocked(c *chain, f *Function, id ID) {
	h := &held{c: c, version: f.Version, kind: f.Kind, description: f.Description, created: f.Created}
	if c.bodies[id] == nil {
		s.owners[c.head.Owner]++
	}
	c.bodies[id] = h
	s.funcs[id] = h
	s.keys.Store(nil)
}

// ApplyFunction stores a function body received over sync, if the current
// update of its OWNER/NAME lists it (at its version, with its ID) and this
// store keeps that function's bodies; otherwise ErrUnreferenced.
func (s *Store) ApplyFunction(b []byte) (ID, error) {
	f, id, err := DecodeFunction(b, s.lim)
	if err != nil {
		return ID{}, fmt.Errorf("catalog: apply function: %w", err)
	}
	if err := s.applyFunction(f, id, b); err != nil {
		return id, fmt.Errorf("catalog: apply function %s %s: %w", f.Ref(), id, err)
	}
	return id, nil
}

func (s *Store) applyFunction(f *Function, id ID, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, err := s.planFunctionLocked(f, id, b)
	if err != nil {
		return err
	}
	if err := s.be.commit(w); err != nil {
		return fault.Wrap(fault.Internal, "", fmt.Errorf("write: %w", err))
	}
	s.holdLocked(s.chains[f.Ref()], f, id)
	return nil
}

func (s *Store) planFunctionLocked(f *Function, id ID, b []byte) (*batch, error) {
	if s.closed {
		return nil, fail(fault.Unavailable, ErrClosed, "apply function")
	}
	if s.readOnly {
		return nil, fail(fault.Internal, ErrReadOnly, "apply function")
	}
	c := s.chains[f.Ref()]
	if c == nil || !s.keepsLocked(&c.head, id) {
		return nil, fail(fault.Invalid, ErrUnreferenced, "version %d", f.Version)
	}
	if s.funcs[id] != nil {
		return nil, fail(fault.Replayed, ErrDuplicate, "function %s", id)
	}
	if err := s.checkQuotaLocked(f.Owner, 1); err != nil {
		return nil, err
	}
	return &batch{put: map[ID][]byte{id: b}}, nil
}

// applyBatch applies many received items in one transaction (one fsync for
// a whole sync message): updates first, then bodies. It decodes outside the
// lock, then plans and installs each item in turn, so later items see
// earlier ones, and commits at the end. If the commit fails the index is
// rebuilt from disk and every item is reported failed. errs[i] is the
// result of updates[i] and then of functions[i-len(updates)]; ids likewise
// (zero when the item did not decode).
func (s *Store) applyBatch(updates, functions [][]byte) (ids []ID, errs []error) {
	n := len(updates) + len(functions)
	ids, errs = make([]ID, n), make([]error, n)
	sus := make([]*SignedUpdate, len(updates))
	for i, env := range updates {
		su, err := DecodeUpdate(env, s.lim)
		if err != nil {
			errs[i] = fmt.Errorf("catalog: apply: %w", err)
			continue
		}
		sus[i], ids[i] = su, su.ID
	}
	fns := make([]*Function, len(functions))
	for i, b := range functions {
		j := len(updates) + i
		f, id, err := DecodeFunction(b, s.lim)
		if err != nil {
			errs[j] = fmt.Errorf("catalog: apply function: %w", err)
			continue
		}
		fns[i], ids[j] = f, id
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var writes []*batch
	for i, su := range sus {
		if su == nil {
			continue
		}
		w, err := s.planUpdateLocked(su, false)
		if err != nil {
			errs[i] = fmt.Errorf("catalog: apply %s %s: %w", su.Update.Ref(), su.ID, err)
			continue
		}
		s.installUpdateLocked(su, w)
		writes = append(writes, w)
	}
	for i, f := range fns {
		j := len(updates) + i
		if f == nil {
			continue
		}
		w, err := s.planFunctionLocked(f, ids[j], functions[i])
		if err != nil {
			errs[j] = fmt.Errorf("catalog: apply function %s %s: %w", f.Ref(), ids[j], err)
			continue
		}
		s.holdLocked(s.chains[f.Ref()], f, ids[j])
		writes = append(writes, w)
	}
	if len(writes) == 0 {
		return ids, errs
	}
	if err := s.be.commit(writes...); err != nil {
		err = fault.Wrap(fault.Internal, "catalog: apply", fmt.Errorf("write: %w", err))
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		if rerr := s.reloadLocked(); rerr != nil {
			s.log.Error("catalog: rebuild index after a failed write", "err", rerr)
		}
	}
	return ids, errs
}

// reloadLocked rebuilds the index from the backend.
func (s *Store) reloadLocked() error {
	s.chains, s.heads, s.funcs, s.owners = map[string]*chain{}, map[ID]*chain{}, map[ID]*held{}, map[string]int{}
	s.keys.Store(nil)
	return s.load()
}

// Check is the gossip validator's core: DecodeUpdate, then refuse private
// updates with code (ErrPrivate), then compare with the current update
// (ErrStale, ErrDuplicate), then refuse what would put the owner over this
// store's quota (ErrQuota). It stores nothing. See VerdictOf.
func (s *Store) Check(env []byte) (*SignedUpdate, error) {
	su, err := DecodeUpdate(env, s.lim)
	if err != nil {
		return nil, fmt.Errorf("catalog: check: %w", err)
	}
	if !su.Update.Shareable() {
		return nil, fmt.Errorf("catalog: check %s: %w", su.ID,
			fail(fault.Denied, ErrPrivate, "private %s carries code", su.Update.Op))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := &su.Update
	old := s.chains[u.Ref()]
	err = checkSeq(old, su)
	if err == nil {
		err = s.checkQuotaLocked(u.Owner, s.growthLocked(u, old))
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: check %s %s: %w", u.Ref(), su.ID, err)
	}
	return su, nil
}

// Resolved is a function found by Resolve.
type Resolved struct {
	// ID is the function version's ID.
	ID       ID
	Function *Function
	// Access is its OWNER/NAME's current access (it applies to every version).
	Access Access
	// Update is the ID of the current update of OWNER/NAME, Seq its Seq.
	Update ID
	Seq    uint64
}

// Policy returns the identity.Policy of the resolved function.
func (r *Resolved) Policy() (identity.Policy, error) { return r.Access.Policy(r.Function.Owner) }

// Resolve finds a function by "OWNER/NAME" (its highest version),
// "OWNER/NAME@VERSION", or a bare function ID. Deleted, unknown and (on a
// full node) private functions, and versions whose body is not held here,
// are ErrNotFound.
func (s *Store) Resolve(ref string) (*Resolved, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.resolveLocked(ref)
	if err != nil {
		return nil, fmt.Errorf("catalog: resolve %s: %w", ref, err)
	}
	return r, nil
}

func (s *Store) resolveLocked(ref string) (*Resolved, error) {
	if s.closed {
		return nil, fail(fault.Unavailable, ErrClosed, "resolve")
	}
	owner, rest, ok := SplitRef(ref)
	if !ok {
		id, err := ParseID(ref)
		if err != nil {
			return nil, invalid("want OWNER/NAME, OWNER/NAME@VERSION or a function ID")
		}
		return s.getLocked(id)
	}
	name, ver, hasVer := strings.Cut(rest, "@")
	c := s.chains[owner+"/"+name]
	if c == nil || s.hidden(c) {
		return nil, fail(fault.NotFound, ErrNotFound, "no function %s/%s", owner, name)
	}
	v, _ := c.head.Latest()
	if hasVer {
		n, err := strconv.ParseUint(ver, 10, 64)
		if err != nil {
			return nil, invalid("version %q is not a number", ver)
		}
		i := slices.IndexFunc(c.head.Versions, func(r VersionRef) bool { return r.Version == n })
		if i < 0 {
			return nil, fail(fault.NotFound, ErrNotFound, "no version %d", n)
		}
		v = c.head.Versions[i]
	}
	return s.getLocked(v.ID)
}

func (s *Store) getLocked(id ID) (*Resolved, error) {
	if s.closed {
		return nil, fail(fault.Unavailable, ErrClosed, "get")
	}
	h := s.funcs[id]
	if h == nil || s.hidden(h.c) {
		return nil, fail(fault.NotFound, ErrNotFound, "function %s is not held here", id)
	}
	b, ok, err := s.be.function(id)
	if err != nil || !ok {
		return nil, fault.E(fault.Internal, "", "read function %s: %v", id, err)
	}
	var f Function
	if err := decMode.Unmarshal(b, &f); err != nil {
		return nil, fault.E(fault.Internal, "", "decode stored function %s: %v", id, err)
	}
	return &Resolved{ID: id, Function: &f, Access: h.c.head.Access, Update: h.c.id, Seq: h.c.head.Seq}, nil
}

// Get returns the function with ID id (ErrNotFound as for Resolve).
func (s *Store) Get(id ID) (*Function, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.getLocked(id)
	if err != nil {
		return nil, fmt.Errorf("catalog: get %s: %w", id, err)
	}
	return r.Function, nil
}

// Access returns who may invoke the function with ID id: its OWNER/NAME's
// current access as an identity.Policy.
func (s *Store) Access(id ID) (identity.Policy, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return identity.Policy{}, fail(fault.Unavailable, ErrClosed, "access")
	}
	h := s.funcs[id]
	if h == nil || s.hidden(h.c) {
		return identity.Policy{}, fmt.Errorf("catalog: access %s: %w", id,
			fail(fault.NotFound, ErrNotFound, "function is not held here"))
	}
	return h.c.policy, h.c.policyErr
}

// Entry is one function (or one version) as List and Versions show it.
type Entry struct {
	ID          ID     `json:"id"`
	Owner       string `json:"owner"`
	Name        string `json:"name"`
	Version     uint64 `json:"version"`
	Kind        Kind   `json:"kind,omitempty"`
	Description string `json:"description,omitempty"`
	Access      Access `json:"access"`
	Created     int64  `json:"created,omitempty"`
	// Seq is the Seq of OWNER/NAME's current update.
	Seq uint64 `json:"seq"`
	// Held says whether the body is here; if not, Kind, Description and
	// Created are unknown (zero).
	Held bool `json:"held"`
}

// Filter narrows List.
type Filter struct {
	// Owner keeps only this owner's functions; "" keeps all.
	Owner string
	// User keeps only the functions User may invoke; "" skips the check.
	User peer.ID
	// After keeps only the OWNER/NAMEs that sort after it: where a page
	// that ended with After goes on. "" keeps all.
	After string
	// Limit keeps only the first Limit entries; zero keeps all.
	Limit int
}

// List returns the highest version of every visible function matching f,
// sorted by OWNER/NAME.
func (s *Store) List(f Filter) []Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var cs []*chain
	for _, c := range s.chains {
		if s.hidden(c) || f.Owner != "" && c.head.Owner != f.Owner || c.ref <= f.After {
			continue
		}
		if f.User != "" {
			p, err := c.head.Access.Policy(c.head.Owner)
			if err != nil || !p.Allows(f.User) {
				continue
			}
		}
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *chain) int { return strings.Compare(a.ref, b.ref) })
	if f.Limit > 0 && len(cs) > f.Limit {
		cs = cs[:f.Limit]
	}
	var out []Entry
	for _, c := range cs {
		v, _ := c.head.Latest()
		out = append(out, s.entryLocked(c, v))
	}
	return out
}

// Versions returns every version of OWNER/NAME, ascending.
func (s *Store) Versions(owner, name string) ([]Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.chains[owner+"/"+name]
	if c == nil || s.hidden(c) {
		return nil, fmt.Errorf("catalog: versions %s/%s: %w", owner, name,
			fail(fault.NotFound, ErrNotFound, "no such function"))
	}
	out := make([]Entry, 0, len(c.head.Versions))
	for _, v := range c.head.Versions {
		out = append(out, s.entryLocked(c, v))
	}
	return out, nil
}

func (s *Store) entryLocked(c *chain, v VersionRef) Entry {
	e := Entry{ID: v.ID, Owner: c.head.Owner, Name: c.head.Name, Version: v.Version, Access: c.head.Access, Seq: c.head.Seq}
	if h := c.bodies[v.ID]; h != nil {
		e.Kind, e.Description, e.Created, e.Held = h.kind, h.description, h.created, true
	}
	return e
}

// Head returns the current update of OWNER/NAME, whatever it is (tombstones
// and private ones included): what a client passes as prev to NewPublish,
// NewAccessChange and NewDelete.
func (s *Store) Head(owner, name string) (*SignedUpdate, error) {
	s.mu.RLock()
	env, err := s.headEnvLocked(owner + "/" + name)
	s.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("catalog: head %s/%s: %w", owner, name, err)
	}
	su, err := DecodeUpdate(env, s.lim)
	if err != nil {
		return nil, fmt.Errorf("catalog: head %s/%s: %w", owner, name, err)
	}
	return su, nil
}

func (s *Store) headEnvLocked(ref string) ([]byte, error) {
	if s.closed {
		return nil, fail(fault.Unavailable, ErrClosed, "head")
	}
	if s.chains[ref] == nil {
		return nil, fail(fault.NotFound, ErrNotFound, "no update of %s", ref)
	}
	env, ok, err := s.be.head(ref)
	if err != nil || !ok {
		return nil, fault.E(fault.Internal, "", "read head of %s: %v", ref, err)
	}
	return env, nil
}

// Envelope returns the envelope of a current update by its ID (superseded
// updates are not kept).
func (s *Store) Envelope(id ID) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.heads[id]
	if c == nil {
		return nil, fmt.Errorf("catalog: envelope %s: %w", id, fail(fault.NotFound, ErrNotFound, "not a current update"))
	}
	return s.headEnvLocked(c.ref)
}

// Has reports whether id is a current update or a function body held here.
func (s *Store) Has(id ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.heads[id] != nil || s.funcs[id] != nil
}

// Proof returns what lets an endpoint run a function it cannot look up (a
// private one, carried in its owner's invocation): the current update of the
// function's OWNER/NAME and the function's bytes. VerifyFunction checks them.
func (s *Store) Proof(id ID) (head, function []byte, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.funcs[id]
	if h == nil {
		return nil, nil, fmt.Errorf("catalog: proof %s: %w", id, fail(fault.NotFound, ErrNotFound, "function is not held here"))
	}
	if head, err = s.headEnvLocked(h.c.ref); err != nil {
		return nil, nil, fmt.Errorf("catalog: proof %s: %w", id, err)
	}
	function, ok, err := s.be.function(id)
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("catalog: proof %s: %w", id, fault.E(fault.Internal, "", "read: %v", err))
	}
	return head, function, nil
}

// VerifyFunction checks a Proof: head is a valid update of the function's
// OWNER/NAME, not a delete, that lists the function at its version. It
// returns the function, its ID and the update, whose Access says who may
// invoke it. It is pure; the caller decides whether head is recent enough.
func VerifyFunction(head, function []byte, lim Limits) (*Function, ID, *SignedUpdate, error) {
	su, err := DecodeUpdate(head, lim)
	if err != nil {
		return nil, ID{}, nil, fmt.Errorf("catalog: verify function: %w", err)
	}
	f, id, err := DecodeFunction(function, lim)
	if err != nil {
		return nil, ID{}, nil, fmt.Errorf("catalog: verify function: %w", err)
	}
	u := &su.Update
	listed := slices.ContainsFunc(u.Versions, func(v VersionRef) bool { return v.Version == f.Version && v.ID == id })
	if u.Op == OpDelete || f.Ref() != u.Ref() || !listed {
		return nil, ID{}, nil, fmt.Errorf("catalog: verify function %s: %w", id,
			fail(fault.Invalid, ErrUnreferenced, "update %s of %s does not list it", su.ID, u.Ref()))
	}
	return f, id, su, nil
}

// Stats counts what a store holds.
type Stats struct {
	Names     int // OWNER/NAMEs with a current update, tombstones included
	Deleted   int // of which deleted
	Functions int // function bodies held
}

// Stats returns the store's counts.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Names: len(s.chains), Functions: len(s.funcs)}
	for _, c := range s.chains {
		if c.head.Op == OpDelete {
			st.Deleted++
		}
	}
	return st
}

// ignorable reports whether err is a duplicate or stale record, or one over
// this store's owner quota: normal in gossip and sync, not the sender's
// fault.
func ignorable(err error) bool {
	return errors.Is(err, ErrDuplicate) || errors.Is(err, ErrStale) || errors.Is(err, ErrQuota)
}
