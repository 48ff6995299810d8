package admission

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/invoke"
)

// maxProofs bounds the proofs a ProofCache keeps; past it, it is emptied.
const maxProofs = 1024

// ProofCache keeps the proofs (invoke.Proof) that verified lately, by a
// digest of their bytes, so that the calls of a private function, each of
// which carries the same proof, verify its signature and decode it once:
// about a tenth of a millisecond each time otherwise. What a proof says
// depends on its bytes alone, so a proof found here is what verifying it
// again would give; whether it is still current (a later record of the
// function known here) is checked on every call all the same. Only proofs
// that verified are kept. The zero value is ready; it is safe for
// concurrent use.
type ProofCache struct {
	mu sync.Mutex // guards m
	m  map[[sha256.Size]byte]verifiedProof
}

type verifiedProof struct {
	fn *catalog.Function
	id catalog.ID
	su *catalog.SignedUpdate
}

// proofKey digests both of a proof's parts, each with its length, so that
// no two proofs share a key.
func proofKey(p *invoke.Proof) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(p.Head)))
	h.Write(n[:])
	h.Write(p.Head)
	h.Write(p.Function)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// verify is catalog.VerifyFunction of p, from the cache when it holds p;
// a nil cache verifies every time.
func (c *ProofCache) verify(p *invoke.Proof) (*catalog.Function, catalog.ID, *catalog.SignedUpdate, error) {
	if c == nil {
		return catalog.VerifyFunction(p.Head, p.Function, catalog.Limits{})
	}
	k := proofKey(p)
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return v.fn, v.id, v.su, nil
	}
	f, id, su, err := catalog.VerifyFunction(p.Head, p.Function, catalog.Limits{})
	if err != nil {
		return nil, catalog.ID{}, nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxProofs {
		c.m = map[[sha256.Size]byte]verifiedProof{}
	}
	c.m[k] = verifiedProof{f, id, su}
	c.mu.Unlock()
	return f, id, su, nil
}
