package catalog

import (
	"fmt"

	"github.com/fxmesh/fxmesh/fault"
	"slices"
	"time"

	"github.com/fxmesh/fxmesh/identity"
)

// NextSeq returns the sequence number for an update after one with seq prev:
// the current time in unix nanoseconds, or prev+1 if that is not higher. A
// client without the previous update can pass 0 and still (with a sane
// clock) order its updates.
func NextSeq(prev uint64, now time.Time) uint64 {
	n := now.UnixNano()
	if n < 0 || uint64(n) <= prev {
		return prev + 1
	}
	return uint64(n)
}

// NewPublish builds and signs an update that publishes fn as a new version
// of k's function fn.Name, with access (normalized) from then on. prev is
// the current update of that name (Store.Head), or nil for a new name; after
// a delete the version table starts afresh. Zero fields of fn are filled in:
// Owner (k's ID), Version (one above the highest), Created (now).
// Requirements are sorted and de-duplicated. It returns the envelope, ready
// for Store.Apply or Store.Publish. Sizes are not checked here; the stores
// that receive it check them.
func NewPublish(k *identity.Key, prev *Update, fn Function, access Access, now time.Time) ([]byte, error) {
	owner := k.ID().String()
	if fn.Owner == "" {
		fn.Owner = owner
	}
	if fn.Owner != owner {
		return nil, fail(fault.Denied, ErrNotOwner, "function owned by %s, key is %s", fn.Owner, owner)
	}
	if err := checkPrev(prev, owner, fn.Name); err != nil {
		return nil, err
	}
	var versions []VersionRef
	var seq uint64
	if prev != nil {
		seq = prev.Seq
		if prev.Op != OpDelete {
			versions = slices.Clone(prev.Versions)
		}
	}
	var highest uint64
	if len(versions) > 0 {
		highest = versions[len(versions)-1].Version
	}
	if fn.Version == 0 {
		fn.Version = highest + 1
	}
	if fn.Version <= highest {
		return nil, invalid("%s: version %d is not above the highest, %d", fn.Ref(), fn.Version, highest)
	}
	if fn.Created == 0 {
		fn.Created = now.Unix()
	}
	fn.Requirements = normalizeRequirements(fn.Requirements)
	id, err := fn.ID()
	if err != nil {
		return nil, err
	}
	u := Update{
		Op: OpPublish, Owner: owner, Name: fn.Name,
		Seq: NextSeq(seq, now), Time: now.Unix(),
		Access:   access.Normalize(),
		Versions: append(versions, VersionRef{Version: fn.Version, ID: id}),
		Function: &fn,
	}
	return seal(k, &u)
}

// NewAccessChange builds and signs an update that sets the access of k's
// function prev.Ref() (share, unshare, make public or private). prev is its
// current update. Unless access is private, latest must be the body of the
// highest version (Store.Get of prev's latest version ID): every non-private
// update carries it, so nodes that never saw the function (it was private)
// learn its code.
func NewAccessChange(k *identity.Key, prev *Update, latest *Function, access Access, now time.Time) ([]byte, error) {
	if prev == nil || prev.Op == OpDelete {
		return nil, invalid("access change: no current update, or the function is deleted")
	}
	owner := k.ID().String()
	if err := checkPrev(prev, owner, prev.Name); err != nil {
		return nil, err
	}
	access = access.Normalize()
	u := Update{
		Op: OpAccess, Owner: owner, Name: prev.Name,
		Seq: NextSeq(prev.Seq, now), Time: now.Unix(),
		Access:   access,
		Versions: slices.Clone(prev.Versions),
	}
	if !access.Private() {
		if latest == nil {
			return nil, invalid("%s: a non-private access change needs the latest function", prev.Ref())
		}
		f := *latest
		u.Function = &f
	}
	return seal(k, &u)
}

// NewDelete builds and signs a tombstone for k's function prev.Ref(), whose
// current update is prev.
func NewDelete(k *identity.Key, prev *Update, now time.Time) ([]byte, error) {
	if prev == nil {
		return nil, invalid("delete: no current update")
	}
	owner := k.ID().String()
	if err := checkPrev(prev, owner, prev.Name); err != nil {
		return nil, err
	}
	u := Update{Op: OpDelete, Owner: owner, Name: prev.Name, Seq: NextSeq(prev.Seq, now), Time: now.Unix()}
	return seal(k, &u)
}

func checkPrev(prev *Update, owner, name string) error {
	if prev == nil {
		return nil
	}
	if prev.Owner != owner {
		return fail(fault.Denied, ErrNotOwner, "%s belongs to another user", prev.Ref())
	}
	if prev.Name != name {
		return invalid("previous update is of %s, not %s", prev.Ref(), name)
	}
	return nil
}

// seal validates u (structure only) and signs its canonical bytes with k.
func seal(k *identity.Key, u *Update) ([]byte, error) {
	if err := u.Validate(unlimited); err != nil {
		return nil, err
	}
	b, err := marshal(u)
	if err != nil {
		return nil, err
	}
	env, err := identity.Seal(k, identity.DomainFunction, []byte(UpdateCodec), b)
	if err != nil {
		return nil, fmt.Errorf("catalog: sign %s: %w", u.Ref(), err)
	}
	return env, nil
}
