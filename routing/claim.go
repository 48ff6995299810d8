package routing

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// ClaimCodec names the payload type of a signed owner claim.
var ClaimCodec = []byte("/fxmesh/owner-claim/1")

// MaxClaimBytes bounds a signed owner claim, envelope included. An Ed25519
// claim takes about 200 bytes.
const MaxClaimBytes = 1 << 10

// Errors of VerifyOwnerClaim. Each names one way a claim can fail to prove
// ownership; a record carrying such a claim is valid, its owner unverified.
var (
	ErrClaimTooLarge   = errors.New("routing: owner claim too large")
	ErrClaimMalformed  = errors.New("routing: malformed owner claim")
	ErrClaimSignature  = errors.New("routing: owner claim signature invalid")
	ErrClaimOtherNode  = errors.New("routing: owner claim is for another node")
	ErrClaimOtherOwner = errors.New("routing: owner claim signed by another user than the owner")
	ErrClaimExpired    = errors.New("routing: owner claim expired")
	ErrClaimMissing    = errors.New("routing: no owner claim")
	ErrClaimNoOwner    = errors.New("routing: owner claim on a record without owner")
)

// OwnerClaim is what an owner signs to say "this node is mine": the node's
// ID and until when. It travels inside the node's endpoint record, so that
// anyone can check the record's owner without asking the owner.
type OwnerClaim struct {
	// Node is the claimed node's ID.
	Node string `cbor:"1,keyasint"`
	// Expires is when the claim stops holding, in Unix nanoseconds.
	Expires int64 `cbor:"2,keyasint"`
	// Owner is who signed the claim; it is the envelope's signer, not part
	// of the payload.
	Owner peer.ID `cbor:"-"`
}

// DefaultClaimTTL is how long an owner claim holds unless its owner says
// otherwise: a year.
const DefaultClaimTTL = 365 * 24 * time.Hour

// ClaimText writes a signed claim as one line of text: what fx endpoint
// claim prints and a node's owner.claim file holds.
func ClaimText(claim []byte) string { return base64.StdEncoding.EncodeToString(claim) }

// ParseClaimText reads the text ClaimText writes; surrounding white space
// is ignored.
func ParseClaimText(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if max := base64.StdEncoding.EncodedLen(MaxClaimBytes); len(text) > max {
		return nil, fault.Wrap(fault.TooLarge, "", fmt.Errorf("%w: %d characters, limit %d", ErrClaimTooLarge, len(text), max))
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: not base64: %v", ErrClaimMalformed, err))
	}
	return b, nil
}

// ExpiresAt is when the claim stops holding.
func (c *OwnerClaim) ExpiresAt() time.Time { return time.Unix(0, c.Expires).UTC() }

// SignOwnerClaim signs owner's claim on node, valid until expires.
func SignOwnerClaim(owner *identity.Key, node peer.ID, expires time.Time) ([]byte, error) {
	if err := node.Validate(); err != nil {
		return nil, fmt.Errorf("%w: node: %v", ErrClaimMalformed, err)
	}
	b, err := encMode.Marshal(&OwnerClaim{Node: node.String(), Expires: expires.UnixNano()})
	if err != nil {
		return nil, fmt.Errorf("routing: encode owner claim: %w", err)
	}
	env, err := identity.Seal(owner, identity.DomainOwnerClaim, ClaimCodec, b)
	if err != nil {
		return nil, err
	}
	if len(env) > MaxClaimBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrClaimTooLarge, len(env), MaxClaimBytes)
	}
	return env, nil
}

// DecodeOwnerClaim checks a claim's size, canonical form and signature and
// returns it, its Owner set to the signer. It checks neither the node, nor
// the owner, nor the expiry: VerifyOwnerClaim does. Every rejection wraps
// one of the ErrClaim* values and carries a fault kind.
func DecodeOwnerClaim(b []byte) (*OwnerClaim, error) {
	if len(b) > MaxClaimBytes {
		return nil, fault.Wrap(fault.TooLarge, "", fmt.Errorf("%w: %d bytes, limit %d", ErrClaimTooLarge, len(b), MaxClaimBytes))
	}
	if len(b) == 0 {
		return nil, fault.Wrap(fault.Invalid, "", ErrClaimMissing)
	}
	s, err := identity.Open(b, identity.DomainOwnerClaim, ClaimCodec)
	if err != nil {
		if errors.Is(err, identity.ErrBadSignature) {
			return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrClaimSignature, err))
		}
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrClaimMalformed, err))
	}
	// One byte form only: the envelope as libp2p writes it, around the
	// payload as CBOR's core deterministic encoding writes it.
	if env, err := record.UnmarshalEnvelope(b); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrClaimMalformed, err))
	} else if again, err := env.Marshal(); err != nil || !bytes.Equal(again, b) {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: envelope not in canonical form", ErrClaimMalformed))
	}
	var c OwnerClaim
	if err := decMode.Unmarshal(s.Payload, &c); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrClaimMalformed, err))
	}
	if again, err := encMode.Marshal(&c); err != nil || !bytes.Equal(again, s.Payload) {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: not in canonical form", ErrClaimMalformed))
	}
	if _, err := peer.Decode(c.Node); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: node: %v", ErrClaimMalformed, err))
	}
	c.Owner = s.Signer
	return &c, nil
}

// VerifyOwnerClaim checks that b is owner's valid claim on node at now (no
// expiry check when now is zero) and returns it. Every rejection wraps one
// of the ErrClaim* values and carries a fault kind.
func VerifyOwnerClaim(b []byte, node, owner string, now time.Time) (*OwnerClaim, error) {
	if owner == "" {
		return nil, fault.Wrap(fault.Invalid, "", ErrClaimNoOwner)
	}
	c, err := DecodeOwnerClaim(b)
	if err != nil {
		return nil, err
	}
	if c.Node != node {
		return nil, fault.Wrap(fault.Denied, "", fmt.Errorf("%w: claims %s, record of %s", ErrClaimOtherNode, c.Node, node))
	}
	if c.Owner.String() != owner {
		return nil, fault.Wrap(fault.Denied, "", fmt.Errorf("%w: signed by %s, owner %s", ErrClaimOtherOwner, c.Owner, owner))
	}
	if !now.IsZero() && !now.Before(time.Unix(0, c.Expires)) { // as times: UnixNano wraps outside 1678-2262
		return nil, fault.Wrap(fault.Expired, "", fmt.Errorf("%w: at %s", ErrClaimExpired, c.ExpiresAt().Format(time.RFC3339)))
	}
	return c, nil
}

// verifyOwner sets r.OwnerVerified, or r.OwnerUnverified to why not.
func (r *EndpointRecord) verifyOwner(now time.Time) {
	r.OwnerVerified, r.OwnerUnverified = false, ""
	switch {
	case r.Owner == "":
		r.OwnerUnverified = "no owner"
		return
	case len(r.OwnerClaim) == 0:
		r.OwnerUnverified = "no owner claim"
		return
	}
	if _, err := VerifyOwnerClaim(r.OwnerClaim, r.ID, r.Owner, now); err != nil {
		r.OwnerUnverified = claimProblem(err)
		return
	}
	r.OwnerVerified = true
}

// claimProblem says in a few words what is wrong with a claim.
func claimProblem(err error) string {
	for _, e := range []struct {
		err  error
		says string
	}{
		{ErrClaimExpired, "owner claim expired"},
		{ErrClaimOtherNode, "owner claim is for another node"},
		{ErrClaimOtherOwner, "owner claim signed by another user"},
		{ErrClaimSignature, "owner claim signature invalid"},
		{ErrClaimTooLarge, "owner claim too large"},
	} {
		if errors.Is(err, e.err) {
			return e.says
		}
	}
	return "owner claim malformed"
}
