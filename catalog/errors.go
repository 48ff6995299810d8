package catalog

import (
	"errors"

	"github.com/fxmesh/fxmesh/fault"
)

// Errors. Every rejection wraps exactly one of these (test with errors.Is) in
// a *fault.Error whose kind is noted beside it (test with fault.KindOf).
var (
	// ErrTooLarge: an envelope, function or sync message over its byte limit.
	// Kind TooLarge. Checked before anything is decoded.
	ErrTooLarge = errors.New("catalog: record too large")
	// ErrSourceTooLarge: a function whose source is over Limits.MaxSourceBytes.
	// Kind TooLarge.
	ErrSourceTooLarge = errors.New("catalog: source too large")
	// ErrMalformed: not a signed envelope of ours, not strict canonical CBOR,
	// or a field of the wrong type. Kind Invalid.
	ErrMalformed = errors.New("catalog: malformed record")
	// ErrBadSignature: the envelope's signature does not verify (tampered,
	// or signed for another domain). It also matches identity.ErrBadSignature.
	// Kind Invalid.
	ErrBadSignature = errors.New("catalog: bad signature")
	// ErrInvalidField: well-formed CBOR whose content breaks the schema (bad
	// name, missing source, unsorted users, ...). Kind Invalid.
	ErrInvalidField = errors.New("catalog: invalid field")
	// ErrNotOwner: validly signed, but not by the owner the record names.
	// Kind Denied.
	ErrNotOwner = errors.New("catalog: not signed by the owner")
	// ErrPrivate: a private record carrying code offered to a store that
	// shares (gossip, sync, a full node). Kind Denied.
	ErrPrivate = errors.New("catalog: private record may not be shared")
	// ErrStale: an update whose sequence number is not above the one this
	// store holds for that OWNER/NAME (a replayed older version or ACL).
	// Kind Replayed. Never stored, never forwarded.
	ErrStale = errors.New("catalog: stale update")
	// ErrDuplicate: exactly the update or function already held. Normal in
	// gossip; callers ignore it and do not forward. Kind Replayed.
	ErrDuplicate = errors.New("catalog: already have it")
	// ErrUnreferenced: a function body that its owner's current update does
	// not list (or lists for a deleted or private function). Kind Invalid.
	ErrUnreferenced = errors.New("catalog: function not listed by its owner's current update")
	// ErrQuota: an update or function body that would put its owner over
	// this store's Options.OwnerQuota. Kind TooLarge. A node's own setting,
	// so gossip ignores it (another node may allow more) and never rejects.
	ErrQuota = errors.New("catalog: owner over quota")
	// ErrNotFound: no such function, version or name here. Kind NotFound.
	ErrNotFound = errors.New("catalog: not found")
	// ErrClosed: the store was closed. Kind Unavailable.
	ErrClosed = errors.New("catalog: store closed")
	// ErrReadOnly: a write to a store built with Options.ReadOnly. Kind
	// Internal: the caller should have opened it read-write.
	ErrReadOnly = errors.New("catalog: store is read-only")
)

// fail builds a kinded error that wraps sentinel, with detail after a colon.
func fail(kind fault.Kind, sentinel error, format string, args ...any) error {
	return fault.E(kind, "", "%w: "+format, append([]any{sentinel}, args...)...)
}

// invalid is fail(fault.Invalid, ErrInvalidField, ...), the commonest case.
func invalid(format string, args ...any) error {
	return fail(fault.Invalid, ErrInvalidField, format, args...)
}
