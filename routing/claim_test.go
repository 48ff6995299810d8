package routing

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
)

func mustClaim(t testing.TB, owner *identity.Key, node *identity.Key, expires time.Time) []byte {
	t.Helper()
	b, err := SignOwnerClaim(owner, node.ID(), expires)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// claimedRecord is node's test record owned by owner, carrying claim.
func claimedRecord(t testing.TB, node, owner *identity.Key, claim []byte) []byte {
	t.Helper()
	r := testRecord(node, 1)
	r.Owner = owner.ID().String()
	r.OwnerClaim = claim
	return mustSign(t, node, r)
}

// TestOwnerClaim: only the owner's own, fresh, canonical claim on this very
// node verifies the owner; anything else leaves the record valid and its
// owner unverified, with the reason.
func TestOwnerClaim(t *testing.T) {
	node, _ := identity.GenerateKey()
	owner, _ := identity.GenerateKey()
	other, _ := identity.GenerateKey()
	otherNode, _ := identity.GenerateKey()
	until := t0.Add(24 * time.Hour)
	now := t0.Add(time.Minute)

	good := mustClaim(t, owner, node, until)
	payload := func(c OwnerClaim) []byte {
		b, err := encMode.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	seal := func(k *identity.Key, domain string, data []byte) []byte {
		b, err := identity.Seal(k, domain, ClaimCodec, data)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 1 // the signature's last byte
	// The same claim with its map keys in the wrong order.
	node1, _ := encMode.Marshal(node.ID().String())
	exp2, _ := encMode.Marshal(until.UnixNano())
	unsorted := append(append(append([]byte{0xa2, 0x02}, exp2...), 0x01), node1...)
	// An unknown protobuf field after the signature: the signature still
	// holds, the bytes are not libp2p's.
	extraField := append(bytes.Clone(good), 0x3a, 0x01, 'x')
	huge := seal(owner, identity.DomainOwnerClaim, append(payload(OwnerClaim{Node: node.ID().String(), Expires: until.UnixNano()}), make([]byte, MaxClaimBytes)...))

	tests := []struct {
		name   string
		claim  []byte
		want   error      // from VerifyOwnerClaim; nil: verified
		kind   fault.Kind // its kind
		reason string     // OwnerUnverified of the decoded record
	}{
		{"valid", good, nil, "", ""},
		{"signed by the node itself", mustClaim(t, node, node, until), ErrClaimOtherOwner, fault.Denied, "owner claim signed by another user"},
		{"owner mismatch: another user's claim", mustClaim(t, other, node, until), ErrClaimOtherOwner, fault.Denied, "owner claim signed by another user"},
		{"for another node", mustClaim(t, owner, otherNode, until), ErrClaimOtherNode, fault.Denied, "owner claim is for another node"},
		{"expired", mustClaim(t, owner, node, now), ErrClaimExpired, fault.Expired, "owner claim expired"},
		{"tampered", tampered, ErrClaimSignature, fault.Invalid, "owner claim signature invalid"},
		{"under another domain", seal(owner, identity.DomainEndpoint, payload(OwnerClaim{Node: node.ID().String(), Expires: until.UnixNano()})), ErrClaimSignature, fault.Invalid, "owner claim signature invalid"},
		{"payload not canonical", seal(owner, identity.DomainOwnerClaim, unsorted), ErrClaimMalformed, fault.Invalid, "owner claim malformed"},
		{"envelope with an extra field", extraField, ErrClaimMalformed, fault.Invalid, "owner claim malformed"},
		{"node not an ID", seal(owner, identity.DomainOwnerClaim, payload(OwnerClaim{Node: "nobody", Expires: until.UnixNano()})), ErrClaimMalformed, fault.Invalid, "owner claim malformed"},
		{"garbage", []byte("\x0a\x02hi"), ErrClaimMalformed, fault.Invalid, "owner claim malformed"},
		{"too large", huge, ErrClaimTooLarge, fault.TooLarge, "owner claim too large"},
		{"none", nil, ErrClaimMissing, fault.Invalid, "no owner claim"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := VerifyOwnerClaim(tc.claim, node.ID().String(), owner.ID().String(), now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyOwnerClaim: err = %v, want %v", err, tc.want)
			}
			if k := fault.KindOf(err); err != nil && k != tc.kind {
				t.Fatalf("kind = %s, want %s", k, tc.kind)
			}
			if err == nil && (c.Owner != owner.ID() || c.Node != node.ID().String() || !c.ExpiresAt().Equal(until)) {
				t.Fatalf("claim %+v", c)
			}
			// In a record: valid either way, the owner verified or not.
			r, err := DecodeRecord(claimedRecord(t, node, owner, tc.claim), now)
			if err != nil {
				t.Fatalf("record with this claim rejected: %v", err)
			}
			if r.OwnerVerified != (tc.want == nil) || r.OwnerUnverified != tc.reason {
				t.Fatalf("OwnerVerified %v, OwnerUnverified %q; want %v, %q", r.OwnerVerified, r.OwnerUnverified, tc.want == nil, tc.reason)
			}
		})
	}

	t.Run("a record without owner verifies nothing", func(t *testing.T) {
		rec := testRecord(node, 1)
		rec.Owner, rec.OwnerClaim = "", good
		r, err := DecodeRecord(mustSign(t, node, rec), now)
		if err != nil || r.OwnerVerified || r.OwnerUnverified != "no owner" {
			t.Fatalf("%+v, %v", r, err)
		}
	})
	t.Run("the verdict is not serialised", func(t *testing.T) {
		rec := testRecord(node, 1)
		rec.Owner, rec.OwnerClaim = owner.ID().String(), good
		rec.OwnerVerified, rec.OwnerUnverified = true, "x"
		b, _ := encMode.Marshal(rec)
		rec.OwnerVerified, rec.OwnerUnverified = false, ""
		plain, _ := encMode.Marshal(rec)
		if !bytes.Equal(b, plain) {
			t.Fatal("OwnerVerified or OwnerUnverified changed the encoding")
		}
	})
	t.Run("no clock, no expiry", func(t *testing.T) {
		if _, err := VerifyOwnerClaim(mustClaim(t, owner, node, t0), node.ID().String(), owner.ID().String(), time.Time{}); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeOwnerClaim(f *testing.F) {
	node, _ := identity.GenerateKey()
	owner, _ := identity.GenerateKey()
	f.Add(mustClaim(f, owner, node, t0.Add(time.Hour)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeOwnerClaim(data)
		if err != nil {
			if fault.KindOf(err) == fault.Internal {
				t.Fatalf("rejection without a kind: %v", err)
			}
			return
		}
		if c.Owner == "" || c.Node == "" || len(data) > MaxClaimBytes {
			t.Fatalf("accepted %+v from %d bytes", c, len(data))
		}
	})
}
