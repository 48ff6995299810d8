package batchverify

import (
	"crypto/rand"
	"crypto/sha512"
	"sync"

	"filippo.io/edwards25519"
)

// The hand-written verifier the package had before it took its rule and
// its batch equation from ed25519consensus, kept here as a baseline: the
// benchmarks run it beside the library, and the tests pin where the two
// rules differ. Its rule is ZIP-215's less the signatures under a public
// key of small order, which it refuses whatever the signature.

// baselineVerify is the old Verify.
func baselineVerify(item Item) bool {
	var p baselineParsed
	return p.parse(item, nil) && p.check()
}

// baselineVerifyBatch is the old VerifyBatch, with keys as the Verifier
// kept them: decoded public keys are cached across calls.
func baselineVerifyBatch(items []Item, keys *baselineKeys) []bool {
	ok := make([]bool, len(items))
	ps := make([]baselineParsed, len(items))
	valid := make([]*baselineParsed, 0, len(items))
	for i := range items {
		if ok[i] = ps[i].parse(items[i], keys); ok[i] {
			valid = append(valid, &ps[i])
		}
	}
	if len(valid) > 1 && baselineBatchHolds(valid) {
		return ok
	}
	for i := range items {
		ok[i] = ok[i] && ps[i].check()
	}
	return ok
}

// baselineParsed is a signature decoded for checking.
type baselineParsed struct {
	key [PublicKeySize]byte
	a   edwards25519.Point  // the public key
	r   edwards25519.Point  // the signature's commitment
	s   edwards25519.Scalar // the signature's response
	k   edwards25519.Scalar // SHA-512(R || A || M) mod L
}

var baselineIdentity = edwards25519.NewIdentityPoint()

// parse decodes item into p, through keys when not nil; false means the
// signature is invalid whatever the equation says.
func (p *baselineParsed) parse(item Item, keys *baselineKeys) bool {
	if len(item.PublicKey) != PublicKeySize || len(item.Signature) != SignatureSize {
		return false
	}
	copy(p.key[:], item.PublicKey)
	if !keys.decode(&p.a, p.key) {
		return false
	}
	if _, err := p.r.SetBytes(item.Signature[:32]); err != nil {
		return false
	}
	if _, err := p.s.SetCanonicalBytes(item.Signature[32:]); err != nil {
		return false
	}
	h := sha512.New()
	h.Write(item.Signature[:32])
	h.Write(item.PublicKey)
	h.Write(item.Message)
	var d [sha512.Size]byte
	if _, err := p.k.SetUniformBytes(h.Sum(d[:0])); err != nil {
		return false // cannot happen: d is 64 bytes
	}
	return true
}

// check evaluates p's equation alone: [8]([s]B - [k]A - R) = 0.
func (p *baselineParsed) check() bool {
	var minusA, x edwards25519.Point
	minusA.Negate(&p.a)
	x.VarTimeDoubleScalarBaseMult(&p.k, &minusA, &p.s)
	x.Subtract(&x, &p.r)
	x.MultByCofactor(&x)
	return x.Equal(baselineIdentity) == 1
}

// baselineBatchHolds evaluates the random linear combination of ps's
// equations: [8](Σ z_i R_i + Σ z_i k_i A_i - (Σ z_i s_i) B) = 0.
// Signatures under the same key share one term for it.
func baselineBatchHolds(ps []*baselineParsed) bool {
	n := len(ps)
	zs := make([]byte, 16*n)
	if _, err := rand.Read(zs); err != nil {
		return false // the caller checks each alone
	}
	scalars := make([]*edwards25519.Scalar, 0, 2*n+1)
	points := make([]*edwards25519.Point, 0, 2*n+1)
	terms := make([]edwards25519.Scalar, 2*n)
	byKey := make(map[[PublicKeySize]byte]*edwards25519.Scalar, 1)
	var sumS edwards25519.Scalar // Σ z_i s_i
	for i, p := range ps {
		var zb [32]byte
		copy(zb[:16], zs[16*i:])
		z := &terms[2*i]
		if _, err := z.SetCanonicalBytes(zb[:]); err != nil {
			return false // cannot happen: below 2^128 < L
		}
		scalars = append(scalars, z)
		points = append(points, &p.r)
		sumS.MultiplyAdd(z, &p.s, &sumS)
		zk := &terms[2*i+1]
		zk.Multiply(z, &p.k)
		if acc, ok := byKey[p.key]; ok {
			acc.Add(acc, zk)
			continue
		}
		byKey[p.key] = zk
		scalars = append(scalars, zk)
		points = append(points, &p.a)
	}
	sumS.Negate(&sumS)
	scalars = append(scalars, &sumS)
	points = append(points, edwards25519.NewGeneratorPoint())
	var x edwards25519.Point
	x.VarTimeMultiScalarMult(scalars, points)
	x.MultByCofactor(&x)
	return x.Equal(baselineIdentity) == 1
}

// baselineKeys keeps decoded public keys, as the old Verifier did. The
// zero value is ready; a nil cache decodes every time.
type baselineKeys struct {
	mu sync.Mutex // guards m
	m  map[[PublicKeySize]byte]*baselineKey
}

type baselineKey struct {
	a  edwards25519.Point
	ok bool // a decoded, and is not of small order
}

// baselineKeysSize bounds a baselineKeys; it is emptied when full.
const baselineKeysSize = 4096

// decode sets a to the public key k and reports whether k is acceptable:
// a valid encoding of a point not of small order.
func (c *baselineKeys) decode(a *edwards25519.Point, k [PublicKeySize]byte) bool {
	if c != nil {
		c.mu.Lock()
		e := c.m[k]
		c.mu.Unlock()
		if e != nil {
			a.Set(&e.a)
			return e.ok
		}
	}
	e := &baselineKey{}
	if _, err := e.a.SetBytes(k[:]); err == nil {
		var small edwards25519.Point
		e.ok = small.MultByCofactor(&e.a).Equal(baselineIdentity) != 1
	}
	if c != nil {
		c.mu.Lock()
		if c.m == nil || len(c.m) >= baselineKeysSize {
			c.m = make(map[[PublicKeySize]byte]*baselineKey)
		}
		c.m[k] = e
		c.mu.Unlock()
	}
	a.Set(&e.a)
	return e.ok
}
