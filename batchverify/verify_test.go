package batchverify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"testing"

	"filippo.io/edwards25519"
)

// signer makes signatures, also ones crypto/ed25519 refuses: with a
// small-order component in R, or R encoded other than canonically.
type signer struct {
	priv ed25519.PrivateKey
	pub  []byte
	a    edwards25519.Scalar // the secret scalar
	pfx  []byte              // the nonce prefix
}

func newSigner(t testing.TB, seed byte) *signer {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	priv := ed25519.NewKeyFromSeed(s)
	h := sha512.Sum512(s)
	sg := &signer{priv: priv, pub: priv.Public().(ed25519.PublicKey), pfx: h[32:]}
	if _, err := sg.a.SetBytesWithClamping(h[:32]); err != nil {
		t.Fatal(err)
	}
	return sg
}

func (sg *signer) sign(msg []byte) Item {
	return Item{PublicKey: sg.pub, Message: msg, Signature: ed25519.Sign(sg.priv, msg)}
}

// signTorsion signs msg with R = [r]B + T, T of order 8: valid under the
// cofactored equation, invalid for crypto/ed25519.
func (sg *signer) signTorsion(t testing.TB, msg []byte) Item {
	t.Helper()
	var r edwards25519.Scalar
	d := sha512.Sum512(append(append([]byte{}, sg.pfx...), msg...))
	r.SetUniformBytes(d[:])
	var R edwards25519.Point
	R.ScalarBaseMult(&r)
	R.Add(&R, point(t, order8Hex))
	return sg.signWithR(msg, R.Bytes(), &r)
}

// signWithR signs msg with the commitment encoded as rEnc, whose point
// must be [r]B plus one of small order.
func (sg *signer) signWithR(msg, rEnc []byte, r *edwards25519.Scalar) Item {
	var k, s edwards25519.Scalar
	h := sha512.New()
	h.Write(rEnc)
	h.Write(sg.pub)
	h.Write(msg)
	k.SetUniformBytes(h.Sum(nil))
	s.MultiplyAdd(&k, &sg.a, r)
	return Item{PublicKey: sg.pub, Message: msg, Signature: append(append([]byte{}, rEnc...), s.Bytes()...)}
}

// forge signs msg under the small-order key pub without any secret:
// R = [s]B for a fixed s, so [s]B - R - [k]A = -[k]A, which the cofactor
// clears.
func forge(pub, msg []byte) Item {
	var s edwards25519.Scalar
	s.SetUniformBytes(bytes.Repeat([]byte{7}, 64))
	var R edwards25519.Point
	R.ScalarBaseMult(&s)
	return Item{PublicKey: pub, Message: msg, Signature: append(R.Bytes(), s.Bytes()...)}
}

// Encodings of points of small order, by the ZIP-215 test vectors.
const (
	identityHex      = "0100000000000000000000000000000000000000000000000000000000000000"
	identityLongHex  = "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" // y = p+1
	identityMinusHex = "0100000000000000000000000000000000000000000000000000000000000080" // x = -0
	order4LongHex    = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" // y = p
	order8Hex        = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
)

// point decodes the point encoded as hx, which must be of small order.
func point(t testing.TB, hx string) *edwards25519.Point {
	t.Helper()
	b, _ := hex.DecodeString(hx)
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	var x edwards25519.Point
	if x.MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatalf("%s is not of small order", hx)
	}
	return p
}

func unhex(hx string) []byte {
	b, err := hex.DecodeString(hx)
	if err != nil {
		panic(err)
	}
	return b
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

// verdict is what three rules say of one signature: the package's
// (ZIP-215), the hand-written rule it had before, and crypto/ed25519's.
type verdict struct{ zip215, handwritten, stdlib bool }

var (
	allValid   = verdict{true, true, true}
	allInvalid = verdict{false, false, false}
	// cofactored: R carries torsion or is not encoded canonically; both
	// cofactored rules accept it, crypto/ed25519 does not.
	cofactored = verdict{true, true, false}
)

// cases are single signatures and what each rule says of them. The rows
// where zip215 and handwritten differ are the whole of the difference:
// signatures under a public key of small order.
func cases(t testing.TB) []struct {
	name string
	item Item
	want verdict
} {
	sg, other := newSigner(t, 1), newSigner(t, 2)
	msg := []byte("an invocation")
	good := sg.sign(msg)
	// s + L: the same signature with a non-canonical s.
	big := make([]byte, 32)
	carry := 0
	l := unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	for i := range big {
		v := int(good.Signature[32+i]) + int(l[i]) + carry
		big[i], carry = byte(v), v>>8
	}
	var zero edwards25519.Scalar
	return []struct {
		name string
		item Item
		want verdict
	}{
		{"valid", good, allValid},
		{"valid, empty message", sg.sign(nil), allValid},
		{"torsion in R", sg.signTorsion(t, msg), cofactored},
		{"R the identity, encoded with y = p+1", sg.signWithR(msg, unhex(identityLongHex), &zero), cofactored},
		{"R the identity, encoded with x = -0", sg.signWithR(msg, unhex(identityMinusHex), &zero), cofactored},
		{"R of order 4, encoded with y = p", sg.signWithR(msg, unhex(order4LongHex), &zero), cofactored},
		// ZIP-215 accepts these, the hand-written rule refused them: the
		// key is of small order, so anyone can sign under it.
		// crypto/ed25519 accepts such a forgery when [k]A is the identity
		// itself: always for the identity, for this message under the key
		// of order 4 (k is a multiple of 4), not under the one of order 8.
		{"identity as key, forged", forge(unhex(identityHex), msg), verdict{true, false, true}},
		{"identity as key with y = p+1, forged", forge(unhex(identityLongHex), msg), verdict{true, false, true}},
		{"identity as key with x = -0, forged", forge(unhex(identityMinusHex), msg), verdict{true, false, true}},
		{"key of order 4 with y = p, forged", forge(unhex(order4LongHex), msg), verdict{true, false, true}},
		{"key of order 8, forged", forge(unhex(order8Hex), msg), verdict{true, false, false}},
		{"tampered message", Item{good.PublicKey, flip(msg, 0), good.Signature}, allInvalid},
		{"tampered R", Item{good.PublicKey, msg, flip(good.Signature, 3)}, allInvalid},
		{"tampered s", Item{good.PublicKey, msg, flip(good.Signature, 40)}, allInvalid},
		{"another key", Item{other.pub, msg, good.Signature}, allInvalid},
		{"s not below L", Item{good.PublicKey, msg, append(append([]byte{}, good.Signature[:32]...), big...)}, allInvalid},
		{"identity as key, another's signature", Item{unhex(identityHex), msg, good.Signature}, allInvalid},
		{"key of order 8, another's signature", Item{unhex(order8Hex), msg, good.Signature}, allInvalid},
		{"key off the curve", Item{flip(good.PublicKey, 0), msg, good.Signature}, allInvalid},
		{"R off the curve", Item{good.PublicKey, msg, append(flip(good.Signature[:32], 0), good.Signature[32:]...)}, allInvalid},
		{"short signature", Item{good.PublicKey, msg, good.Signature[:63]}, allInvalid},
		{"long signature", Item{good.PublicKey, msg, append(append([]byte{}, good.Signature...), 0)}, allInvalid},
		{"short key", Item{good.PublicKey[:31], msg, good.Signature}, allInvalid},
		{"nothing", Item{}, allInvalid},
	}
}

// TestVerify pins the accepted set: each case as the package's rule
// answers it, beside what the hand-written rule it replaced and
// crypto/ed25519 answer.
func TestVerify(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := verdict{
				zip215:      Verify(c.item),
				handwritten: baselineVerify(c.item),
				stdlib:      len(c.item.PublicKey) == ed25519.PublicKeySize && ed25519.Verify(c.item.PublicKey, c.item.Message, c.item.Signature),
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestVerifyBatch: each case among valid signatures, alone or several at
// once, gets its own answer, whatever its neighbours are.
func TestVerifyBatch(t *testing.T) {
	cs := cases(t)
	signers := []*signer{newSigner(t, 3), newSigner(t, 4)}
	for n := 2; n <= 70; n += 17 {
		for _, c := range cs {
			items := make([]Item, n)
			want := make([]bool, n)
			for i := range items {
				items[i] = signers[i%2].sign([]byte{byte(i), byte(n)})
				want[i] = true
			}
			// Put the case at an end and in the middle, twice.
			for _, at := range []int{0, n / 2, n - 1} {
				items[at], want[at] = c.item, c.want.zip215
			}
			got := VerifyBatch(items)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s in a batch of %d: item %d = %v, want %v", c.name, n, i, got[i], want[i])
				}
			}
		}
	}
	if len(VerifyBatch(nil)) != 0 {
		t.Fatal("answers for no items")
	}
}

// TestVerifier: many goroutines at once, valid and invalid signatures
// mixed, each answered as Verify answers it.
func TestVerifier(t *testing.T) {
	cs := cases(t)
	for _, leaders := range []int{1, 3} {
		v := New(leaders)
		var wg sync.WaitGroup
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), 7))
				for range 40 {
					c := cs[rng.IntN(len(cs))]
					if got := v.Verify(c.item); got != c.want.zip215 {
						t.Errorf("leaders=%d: %s: %v, want %v", leaders, c.name, got, c.want.zip215)
						return
					}
				}
			}()
		}
		wg.Wait()
		v.mu.Lock()
		if v.active != 0 || len(v.queue) != 0 {
			t.Errorf("leaders=%d: %d batches under way, %d queued after all returned", leaders, v.active, len(v.queue))
		}
		v.mu.Unlock()
	}
}

// TestBatchNamesTheBadOne: one bad signature among good ones, wherever it
// sits, is reported bad, and only it.
func TestBatchNamesTheBadOne(t *testing.T) {
	signers := []*signer{newSigner(t, 5), newSigner(t, 6), newSigner(t, 7)}
	for _, n := range []int{2, 3, 16, 64} {
		for _, bad := range []int{0, 1, n / 2, n - 1} {
			items := make([]Item, n)
			for i := range items {
				items[i] = signers[i%len(signers)].sign([]byte{byte(i), byte(n), byte(bad)})
			}
			items[bad].Message = flip(items[bad].Message, 0)
			for i, ok := range VerifyBatch(items) {
				if ok != (i != bad) {
					t.Fatalf("batch of %d, item %d tampered: item %d = %v", n, bad, i, ok)
				}
			}
		}
	}
}

// smallOrder reports whether pub encodes a point of small order.
func smallOrder(pub []byte) bool {
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return false
	}
	return new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1
}

// FuzzVerify: any bytes, no panic; whatever crypto/ed25519 accepts the
// rule accepts; the rule differs from the hand-written one it replaced
// only in accepting signatures under keys of small order; alone and in a
// batch the answer is the same.
func FuzzVerify(f *testing.F) {
	for _, c := range cases(f) {
		f.Add(c.item.PublicKey, c.item.Message, c.item.Signature)
	}
	sg := newSigner(f, 9)
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		it := Item{PublicKey: pub, Message: msg, Signature: sig}
		alone := Verify(it)
		if len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig) && !alone {
			t.Fatal("crypto/ed25519 accepts, the rule refuses")
		}
		if was := baselineVerify(it); was != alone && (was || !smallOrder(pub)) {
			t.Fatalf("ZIP-215 says %v, the hand-written rule %v, for a key not of small order", alone, was)
		}
		batch := VerifyBatch([]Item{sg.sign([]byte("x")), it, sg.sign([]byte("y"))})
		if !batch[0] || batch[1] != alone || !batch[2] {
			t.Fatalf("batch %v, alone %v", batch, alone)
		}
	})
}
