package catalog

import (
	"errors"
	"slices"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
)

// UpdateCodec is the payload type of the signed envelopes that carry updates
// (their domain is identity.DomainFunction). A future, incompatible Update
// gets a new codec.
const UpdateCodec = "/fxmesh/catalog/update/1"

// maxUsers bounds an access list.
const maxUsers = 4096

// Op says what an update does.
type Op string

// The operations.
const (
	// OpPublish adds a version: Function is the new highest version.
	OpPublish Op = "publish"
	// OpAccess changes who may use the function (share, unshare, public,
	// private); Function repeats the highest version unless the result is
	// private.
	OpAccess Op = "access"
	// OpDelete is a tombstone: the name is hidden and its versions dropped
	// until a later publish. Tombstones are kept and spread like any update.
	OpDelete Op = "delete"
)

// Access says who may use a function besides its owner. The zero Access is
// private: only the owner.
type Access struct {
	// Public admits everybody. Users must then be empty.
	Public bool `cbor:"1,keyasint,omitempty" json:"public,omitempty"`
	// Users lists admitted user IDs, sorted, without duplicates.
	Users []string `cbor:"2,keyasint,omitempty" json:"users,omitempty"`
}

// Private reports whether only the owner may use the function.
func (a Access) Private() bool { return !a.Public && len(a.Users) == 0 }

// Normalize returns a with Users sorted and de-duplicated (and dropped when
// Public), the one form validation accepts.
func (a Access) Normalize() Access {
	if a.Public {
		return Access{Public: true}
	}
	return Access{Users: sortedUnique(a.Users)}
}

// Policy returns the identity.Policy that a with owner stands for.
func (a Access) Policy(owner string) (identity.Policy, error) {
	o, err := peer.Decode(owner)
	if err != nil {
		return identity.Policy{}, invalid("owner %q is not a user ID", owner)
	}
	p := identity.Policy{Owner: o, Public: a.Public}
	for _, u := range a.Users {
		id, err := peer.Decode(u)
		if err != nil {
			return identity.Policy{}, invalid("user %q is not a user ID", u)
		}
		p.Allowed = append(p.Allowed, id)
	}
	return p, nil
}

func (a Access) validate() error {
	if a.Public && len(a.Users) > 0 {
		return invalid("access is public and also lists users")
	}
	if len(a.Users) > maxUsers {
		return invalid("access lists %d users, limit %d", len(a.Users), maxUsers)
	}
	for i, u := range a.Users {
		if err := validateOwner(u); err != nil {
			return err
		}
		if i > 0 && a.Users[i-1] >= u {
			return invalid("access users not sorted or duplicated at %s", u)
		}
	}
	return nil
}

// VersionRef names one published version of a function.
type VersionRef struct {
	Version uint64 `cbor:"1,keyasint" json:"version"`
	ID      ID     `cbor:"2,keyasint" json:"id"`
}

// Update is one signed change to the state of OWNER/NAME. Each update
// carries the whole current state: the access list and the table of every
// version published so far, so the update with the highest Seq alone says
// what OWNER/NAME is, and older updates can be dropped. Function carries the
// body of the highest version (publish, and access changes to a non-private
// state) so that a node learning the name also learns its latest code; older
// bodies are fetched by their IDs over sync.
type Update struct {
	Op    Op     `cbor:"1,keyasint" json:"op"`
	Owner string `cbor:"2,keyasint" json:"owner"`
	Name  string `cbor:"3,keyasint" json:"name"`
	// Seq orders the updates of OWNER/NAME; each must be higher than the
	// last. Clients use NextSeq.
	Seq uint64 `cbor:"4,keyasint" json:"seq"`
	// Time is when the update was signed, in unix seconds from 0 to the end
	// of the year 9999 (informational).
	Time int64 `cbor:"5,keyasint" json:"time"`
	// Access is the access list from this update on.
	Access Access `cbor:"6,keyasint" json:"access"`
	// Versions lists every version, ascending; empty only in a delete.
	Versions []VersionRef `cbor:"7,keyasint,omitempty" json:"versions,omitempty"`
	// Function is the highest version's body, or nil (see Update).
	Function *Function `cbor:"8,keyasint,omitempty" json:"function,omitempty"`
}

// Ref returns "OWNER/NAME".
func (u *Update) Ref() string { return u.Owner + "/" + u.Name }

// Latest returns the highest version, if any.
func (u *Update) Latest() (VersionRef, bool) {
	if len(u.Versions) == 0 {
		return VersionRef{}, false
	}
	return u.Versions[len(u.Versions)-1], true
}

// Shareable reports whether the update may travel beyond its owner's own
// store: everything but a private update that carries code. (A private
// access change carries no code and does travel: it revokes.)
func (u *Update) Shareable() bool { return !(u.Access.Private() && u.Function != nil) }

// Validate checks the update's fields and their consistency (see the
// package doc for the rules). It does not check the signature.
func (u *Update) Validate(lim Limits) error {
	if err := validateOwner(u.Owner); err != nil {
		return err
	}
	if err := validateName(u.Name); err != nil {
		return err
	}
	if u.Seq < 1 {
		return invalid("%s: seq must be at least 1", u.Ref())
	}
	if u.Time < 0 || u.Time > maxUnixSeconds {
		return invalid("%s: time %d outside 0 to %d (unix seconds, up to the year 9999)", u.Ref(), u.Time, int64(maxUnixSeconds))
	}
	if err := u.Access.validate(); err != nil {
		return err
	}
	for i, v := range u.Versions {
		if v.Version < 1 || v.ID.IsZero() {
			return invalid("%s: version entry %d is empty", u.Ref(), i)
		}
		if i > 0 && u.Versions[i-1].Version >= v.Version {
			return invalid("%s: versions not ascending at %d", u.Ref(), v.Version)
		}
	}
	switch u.Op {
	case OpDelete:
		if !u.Access.Private() || len(u.Versions) > 0 || u.Function != nil {
			return invalid("%s: a delete carries no access, versions or function", u.Ref())
		}
		return nil
	case OpPublish:
		if u.Function == nil {
			return invalid("%s: publish without a function", u.Ref())
		}
	case OpAccess:
		if u.Access.Private() && u.Function != nil {
			return invalid("%s: a private access change carries no function", u.Ref())
		}
		if !u.Access.Private() && u.Function == nil {
			return invalid("%s: a non-private access change must carry the latest function", u.Ref())
		}
	default:
		return invalid("%s: unknown op %q", u.Ref(), u.Op)
	}
	if len(u.Versions) == 0 {
		return invalid("%s: %s without versions", u.Ref(), u.Op)
	}
	if f := u.Function; f != nil {
		if err := f.Validate(lim); err != nil {
			return err
		}
		if f.Owner != u.Owner || f.Name != u.Name {
			return invalid("%s: carries function %s", u.Ref(), f.Ref())
		}
		id, err := f.ID()
		if err != nil {
			return invalid("%s: %v", u.Ref(), err)
		}
		if last, _ := u.Latest(); last.Version != f.Version || last.ID != id {
			return invalid("%s: function is not the highest version listed", u.Ref())
		}
	}
	return nil
}

// SignedUpdate is an update opened from its envelope and checked.
type SignedUpdate struct {
	// ID is the update's ID: the CID over its canonical payload. Two
	// envelopes with the same signed content have the same ID.
	ID     ID
	Update Update
	// Signer is who signed; DecodeUpdate guarantees it is Update.Owner.
	Signer peer.ID
	// Envelope is the envelope's bytes, as received; what gossip and sync carry.
	Envelope []byte
}

// DecodeUpdate opens and checks a signed update envelope, in this order: the
// size (before decoding anything), the envelope and its signature under
// identity.DomainFunction and UpdateCodec, strict canonical CBOR, the schema,
// and that the signer is the owner. It is a pure function of its inputs; it
// does not know what a store holds (stale and duplicate updates, and private
// ones, are the store's checks).
func DecodeUpdate(env []byte, lim Limits) (*SignedUpdate, error) {
	lim = lim.withDefaults()
	if len(env) > lim.MaxRecordBytes {
		return nil, fail(fault.TooLarge, ErrTooLarge, "envelope of %d bytes, limit %d", len(env), lim.MaxRecordBytes)
	}
	s, err := identity.Open(env, identity.DomainFunction, []byte(UpdateCodec))
	switch {
	case errors.Is(err, identity.ErrBadSignature):
		return nil, fault.E(fault.Invalid, "", "%w: %w", ErrBadSignature, err)
	case err != nil:
		return nil, fail(fault.Invalid, ErrMalformed, "%v", err)
	}
	u, err := decodePayload(s.Payload, lim)
	if err != nil {
		return nil, err
	}
	owner, _ := peer.Decode(u.Owner) // valid: decodePayload checked it
	if s.Signer != owner {
		return nil, fail(fault.Denied, ErrNotOwner, "%s signed by %s", u.Ref(), s.Signer)
	}
	return &SignedUpdate{ID: idOf(s.Payload), Update: *u, Signer: s.Signer, Envelope: env}, nil
}

// decodePayload decodes and validates an update's CBOR payload.
func decodePayload(b []byte, lim Limits) (*Update, error) {
	var u Update
	if err := decodeCanonical(b, &u); err != nil {
		return nil, err
	}
	if err := u.Validate(lim); err != nil {
		return nil, err
	}
	return &u, nil
}

// sortedUnique returns a sorted copy of ss without duplicates, nil if empty.
func sortedUnique(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
