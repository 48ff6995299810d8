package admission

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fxmesh/fxmesh/batchverify"
	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node/taskstore"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The refusals that have a sentinel of their own, beyond those of
// invoke.Decode (invoke.ErrMalformed, invoke.ErrBadSignature,
// invoke.ErrTooLarge); each comes wrapped with its fault kind.
var (
	ErrWrongTarget = errors.New("admission: invocation is for another endpoint")
	ErrExpired     = errors.New("admission: invocation expired")
	ErrNotYetValid = errors.New("admission: invocation issued in the future")
	ErrDenied      = errors.New("admission: caller not allowed")
	// ErrNoContainerRuntime: the function runs in a container image and
	// the endpoint has no container runtime (fault.Unavailable). Such a
	// function is never run on the host instead.
	ErrNoContainerRuntime = errors.New("admission: no container runtime on this endpoint")
	// ErrImageAbsent: the function's container image is not present on
	// the endpoint's runtime, which does not pull images (fault.NotFound).
	// A runtime that pulls (Containers.Pulls) admits the function, and
	// a failed pull fails its task.
	ErrImageAbsent = errors.New("admission: container image not present")
)

// DefaultSkew is the clock difference tolerated when Policy.Skew is zero.
const DefaultSkew = 30 * time.Second

// DefaultMaxLifetime bounds an invocation's lifetime when
// Policy.MaxLifetime is zero.
const DefaultMaxLifetime = time.Hour

// Policy is what the endpoint's operator allows: who may use the endpoint,
// which functions, and the bounds on what it takes. The zero value of each
// field is documented.
type Policy struct {
	// Self is the endpoint's node ID: an invocation must name it.
	Self peer.ID
	// Callers says who may use the endpoint.
	Callers identity.Policy
	// Functions, when not empty, lists the only functions served: each
	// entry a function ID (that version), OWNER/NAME (every version of
	// it) or an owner's user ID (every function of theirs).
	Functions []string
	// Skew is the clock difference tolerated; zero means DefaultSkew.
	Skew time.Duration
	// MaxLifetime bounds Expires-IssuedAt; zero means DefaultMaxLifetime.
	MaxLifetime time.Duration
	// MaxInvocationBytes bounds a signed invocation; zero means no bound.
	MaxInvocationBytes int
	// MaxQueue bounds the inputs waiting at one executor, those of the
	// invocation included; zero means no bound.
	MaxQueue int
	// RequireMapping denies callers that Mapped does not hold: on a
	// facility that maps users to local accounts, only they run code.
	RequireMapping bool
	// Mapped holds the user IDs mapped to a local account.
	Mapped map[string]bool
	// HostOwnerOnly, when not "", is why the endpoint runs functions on
	// its host (not in a container) for its owner (Callers.Owner) alone,
	// and denies them to every other caller with this reason: its workers
	// could not be kept apart from other users' (an endpoint that cannot
	// change uids). "" runs them for every caller it admits.
	HostOwnerOnly string
}

// EffectiveSkew is the clock difference p tolerates.
func (p *Policy) EffectiveSkew() time.Duration {
	if p.Skew <= 0 {
		return DefaultSkew
	}
	return p.Skew
}

// Catalog is what admission reads of the endpoint's catalog;
// *catalog.Store has it. Each lookup of something not held fails with
// catalog.ErrNotFound.
type Catalog interface {
	// Access returns who may invoke the function with ID id now.
	Access(id catalog.ID) (identity.Policy, error)
	// Get returns the function with ID id.
	Get(id catalog.ID) (*catalog.Function, error)
	// Head returns the current update of OWNER/NAME.
	Head(owner, name string) (*catalog.SignedUpdate, error)
}

var _ Catalog = (*catalog.Store)(nil)

// Tasks is what admission reads of the endpoint's task store;
// *taskstore.Store has it.
type Tasks interface {
	// Seen reports whether a task of this ID was admitted before.
	Seen(taskID string) (bool, error)
	// Horizon is the time before which admissions may have been lost; the
	// zero time if none.
	Horizon() time.Time
}

var _ Tasks = (*taskstore.Store)(nil)

// Executors is what admission reads of the endpoint's executors: whether
// one runs fn (a function with a container goes to the container executor,
// whatever its kind) and, if so, how many inputs wait for it.
type Executors interface {
	Queued(fn exec.Function) (queued int, ok bool)
}

// Containers is what admission reads of the endpoint's container runtime.
type Containers interface {
	// Runtime names the runtime that runs functions with a container
	// image here ("docker"); "" when there is none.
	Runtime() string
	// HasImage reports whether image is present on the runtime: nil if
	// so, a fault.NotFound error if not, another error (fault.Unavailable)
	// when the runtime cannot tell.
	HasImage(image string) error
	// Pulls reports whether the runtime pulls an image that is absent
	// before the function's first container.
	Pulls() bool
}

// Input is everything a decision reads.
type Input struct {
	// Envelope is the signed invocation as it arrived.
	Envelope []byte
	// Sender is the peer that sent it.
	Sender peer.ID
	// Now is the endpoint's clock reading.
	Now time.Time
	// Policy is the endpoint's.
	Policy *Policy
	// Offers is the endpoint's own record, what requirements are checked
	// against; nil meets none.
	Offers *routing.EndpointRecord
	// Catalog, Tasks and Executors are the endpoint's, read only.
	Catalog   Catalog
	Tasks     Tasks
	Executors Executors
	// Containers is the endpoint's container runtime, read only; nil
	// means it has none.
	Containers Containers
	// Verifier checks the Ed25519 signature together with those of other
	// goroutines deciding at the same time; nil checks it alone. The
	// answer is the same either way.
	Verifier *batchverify.Verifier
	// Proofs keeps the function proofs that verified lately; nil verifies
	// each. The answer is the same either way.
	Proofs *ProofCache
}

// Compiled is a function ready to run here: its catalog record, what its
// executor takes, and its requirements parsed.
type Compiled struct {
	Record  *catalog.Function
	Exec    exec.Function
	Require []routing.Requirement
}

// Compile makes a catalog function, whose ID is id, ready to run. A
// requirement that does not parse is invalid.
func Compile(id string, f *catalog.Function) (*Compiled, error) {
	reqs, err := routing.ParseRequirements(f.Requirements)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "", err)
	}
	return &Compiled{
		Record: f,
		Exec: exec.Function{ID: id, Kind: exec.Kind(f.Kind), Source: f.Source, Entry: f.Entry,
			Command: f.Command, Container: f.Container},
		Require: reqs,
	}, nil
}

// Admitted is an invocation the endpoint takes.
type Admitted struct {
	// Invocation is the invocation, decoded and checked.
	Invocation *invoke.Signed
	// Function is what runs.
	Function *Compiled
	// Task is what the task store is to record (see TaskOf).
	Task taskstore.Task
}

// Decide admits the invocation in in, or refuses it with an error of the
// kind the package documentation gives for each check. It reads in's views
// and changes nothing.
func Decide(in *Input) (*Admitted, error) {
	p := in.Policy
	inv, err := invoke.DecodeWith(in.Verifier, in.Envelope, p.MaxInvocationBytes)
	if err != nil {
		return nil, err
	}
	if inv.Caller != in.Sender {
		// Results go back on the sender's stream: only to the signer.
		return nil, fault.E(fault.Denied, "", "invocation signed by %s was sent by %s; callers send their own", inv.Caller, in.Sender)
	}
	if err := checkInvocation(inv, p, in.Now); err != nil {
		return nil, err
	}
	fn, err := function(inv, in.Catalog, in.Proofs)
	if err != nil {
		return nil, err
	}
	if p.HostOwnerOnly != "" && fn.Exec.Container == "" && inv.Caller != p.Callers.Owner {
		return nil, fault.Wrap(fault.Denied, "", fmt.Errorf("%w: %s may not run functions on this endpoint's host, which runs them for its owner alone: %s", ErrDenied, inv.Caller, p.HostOwnerOnly))
	}
	if !Offered(p.Functions, inv.Function, fn.Record.Owner, fn.Record.Name) {
		return nil, fault.Wrap(fault.Denied, "", fmt.Errorf("%w: function %s (%s) is not offered here", ErrDenied, fn.Record.Ref(), inv.Function))
	}
	if err := meets(in.Offers, fn.Require, inv.Require); err != nil {
		return nil, err
	}
	if img := fn.Exec.Container; img != "" {
		if err := containerReady(in.Containers, img); err != nil {
			return nil, err
		}
	}
	queued, ok := in.Executors.Queued(fn.Exec)
	if !ok {
		return nil, fault.E(fault.Invalid, "", "this endpoint does not run functions of kind %q", fn.Exec.Kind)
	}
	if p.MaxQueue > 0 && queued+len(inv.Inputs) > p.MaxQueue {
		return nil, fault.E(fault.Overloaded, "", "endpoint queue is full (%d waiting)", queued)
	}
	task := TaskOf(inv, p.EffectiveSkew())
	if h := in.Tasks.Horizon(); task.Issued.Before(h) {
		return nil, fault.E(fault.Expired, "",
			"issued before this endpoint's machine restarted at %s without closing its task store, so it may have been seen; sign it again",
			h.Format(time.RFC3339))
	}
	seen, err := in.Tasks.Seen(inv.TaskID)
	switch {
	case err != nil:
		return nil, fault.Wrap(fault.Unavailable, "", fmt.Errorf("the endpoint cannot check task %s for replay now: %w", inv.TaskID, err))
	case seen:
		return nil, &fault.Error{Kind: fault.Replayed, Op: "admission: task " + inv.TaskID, Err: taskstore.ErrReplayed}
	}
	return &Admitted{Invocation: inv, Function: fn, Task: task}, nil
}

// checkInvocation makes the checks of the invocation alone against the
// policy: target, lifetime, freshness, endpoint access, account mapping
// and function allowlist.
//
// The invocation's times are the caller's to choose, anywhere in int64:
// every sum and difference of them saturates instead of wrapping (see
// addNanos), and the lifetime is computed exactly, so no choice of them
// makes an old invocation look fresh or a long one short.
func checkInvocation(s *invoke.Signed, p *Policy, now time.Time) error {
	if s.Endpoint != p.Self.String() {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %s", ErrWrongTarget, s.Endpoint))
	}
	skew := p.EffectiveSkew()
	life := p.MaxLifetime
	if life <= 0 {
		life = DefaultMaxLifetime
	}
	if s.Expires <= s.IssuedAt {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: expires before it was issued", invoke.ErrMalformed))
	}
	// Expires > IssuedAt, so their difference fits in a uint64 exactly.
	if lifetime := uint64(s.Expires) - uint64(s.IssuedAt); lifetime > uint64(life) {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: lifetime %s over the limit of %s", invoke.ErrMalformed, durationText(lifetime), life))
	}
	at := now.UnixNano()
	if s.IssuedAt > addNanos(at, int64(skew)) {
		return fault.Wrap(fault.Expired, "", fmt.Errorf("%w: issued %s ahead of this endpoint's clock", ErrNotYetValid, time.Duration(subNanos(s.IssuedAt, at))))
	}
	if at >= addNanos(s.Expires, int64(skew)) {
		return fault.Wrap(fault.Expired, "", fmt.Errorf("%w: %s ago", ErrExpired, time.Duration(subNanos(at, s.Expires)).Round(time.Millisecond)))
	}
	if !p.Callers.Allows(s.Caller) {
		return fault.Wrap(fault.Denied, "", fmt.Errorf("%w: %s may not use this endpoint", ErrDenied, s.Caller))
	}
	if p.RequireMapping && !p.Mapped[s.Caller.String()] {
		return fault.Wrap(fault.Denied, "", fmt.Errorf("%w: %s has no local account on this endpoint, and one is required", ErrDenied, s.Caller))
	}
	if len(p.Functions) > 0 && onlyIDs(p.Functions) && !slices.Contains(p.Functions, s.Function) {
		// Decided before the function is looked up; with names or owners
		// in the list, Decide decides once it knows whose it is.
		return fault.Wrap(fault.Denied, "", fmt.Errorf("%w: function %s is not offered here", ErrDenied, s.Function))
	}
	return nil
}

// onlyIDs reports whether every entry of an allowlist is a function ID.
func onlyIDs(list []string) bool {
	for _, e := range list {
		if _, err := catalog.ParseID(e); err != nil {
			return false
		}
	}
	return true
}

// Offered reports whether the allowlist list (Policy.Functions) offers the
// function id, of owner, named name: an entry is its ID, OWNER/NAME, or
// its owner's user ID. An empty list offers everything. It is
// routing.Offers, by which clients skip an endpoint whose advertised
// allowlist would refuse the function.
func Offered(list []string, id, owner, name string) bool {
	return routing.Offers(list, id, owner, name)
}

// function finds the invoked function and checks that the caller may use
// it. A function the catalog holds is checked against its current access;
// one that only a proof carries (a private function) against the proof's.
func function(inv *invoke.Signed, cat Catalog, proofs *ProofCache) (*Compiled, error) {
	id, err := catalog.ParseID(inv.Function)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "", err)
	}
	// Only "not found" lets a proof stand in for the catalog: a catalog
	// that cannot answer (closed, failing) might know a later record that
	// withdraws the proof, so the invocation is refused, never run blind.
	cannotCheck := func(err error) error {
		return fault.E(fault.Unavailable, "", "the endpoint cannot check the record of function %s now: %w", id, err)
	}
	var (
		fn  *Compiled
		pol identity.Policy
	)
	p, aerr := cat.Access(id)
	switch {
	case aerr == nil:
		pol = p
		f, err := cat.Get(id)
		if err != nil {
			return nil, err
		}
		if fn, err = Compile(inv.Function, f); err != nil {
			return nil, err
		}
	case !errors.Is(aerr, catalog.ErrNotFound):
		return nil, cannotCheck(aerr)
	case inv.Proof != nil:
		f, fid, su, err := proofs.verify(inv.Proof)
		if err != nil {
			return nil, err
		}
		if fid != id {
			return nil, fault.E(fault.Invalid, "", "proof is for function %s, not %s", fid, id)
		}
		// A proof is only as good as it is recent: if this node knows a
		// later record of the function (unshared, made private, deleted),
		// the proof is stale.
		head, herr := cat.Head(f.Owner, f.Name)
		switch {
		case herr == nil:
			cur := head.Update
			if cur.Seq > su.Update.Seq || cur.Seq == su.Update.Seq && head.ID != su.ID || cur.Op == catalog.OpDelete {
				return nil, fault.E(fault.Denied, "", "the record of %s that came with the invocation is out of date", f.Ref())
			}
		case !errors.Is(herr, catalog.ErrNotFound):
			return nil, cannotCheck(herr)
		}
		if pol, err = su.Update.Access.Policy(f.Owner); err != nil {
			return nil, err
		}
		if fn, err = Compile(inv.Function, f); err != nil {
			return nil, err
		}
	default:
		return nil, fault.E(fault.NotFound, "", "function %s is not known here", inv.Function)
	}
	if !pol.Allows(inv.Caller) {
		return nil, fault.E(fault.Denied, "", "%s may not use function %s", inv.Caller, fn.Record.Ref())
	}
	return fn, nil
}

// meets checks requirements against the endpoint's own record: work the
// endpoint cannot do is refused before it runs. extra are the invocation's,
// unparsed.
func meets(rec *routing.EndpointRecord, reqs []routing.Requirement, extra []string) error {
	if len(extra) > 0 {
		more, err := routing.ParseRequirements(extra)
		if err != nil {
			return fault.Wrap(fault.Invalid, "", err)
		}
		reqs = append(slices.Clip(reqs), more...)
	}
	for _, r := range reqs {
		if ok, why := r.Met(rec); !ok {
			return fault.E(fault.Invalid, "", "this endpoint does not meet %s: %s", r, why)
		}
	}
	return nil
}

// containerReady checks that the endpoint can run a function in image: it
// has a container runtime, and the image is present on it.
func containerReady(cs Containers, image string) error {
	if cs == nil || cs.Runtime() == "" {
		return fault.Wrap(fault.Unavailable, "", fmt.Errorf("%w: the function runs in container image %q, and is never run on the host instead", ErrNoContainerRuntime, image))
	}
	err := cs.HasImage(image)
	switch {
	case err == nil:
		return nil
	case fault.KindOf(err) == fault.NotFound && cs.Pulls():
		return nil // the executor pulls it; its failure fails the task
	case fault.KindOf(err) == fault.NotFound:
		return fault.Wrap(fault.NotFound, "", fmt.Errorf("%w: image %q is not present on runtime %s, and this endpoint does not pull images", ErrImageAbsent, image, cs.Runtime()))
	case fault.KindOf(err) == fault.Invalid:
		return err
	}
	return fault.Wrap(fault.Unavailable, "", fmt.Errorf("the endpoint cannot check container image %q now: %w", image, err))
}
