package batchverify

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"testing"

	"filippo.io/edwards25519"
)

// signer makes signatures, also ones crypto/ed25519 cannot: with a
// small-order component in R.
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
	var r, k, s edwards25519.Scalar
	d := sha512.Sum512(append(append([]byte{}, sg.pfx...), msg...))
	r.SetUniformBytes(d[:])
	var R edwards25519.Point
	R.ScalarBaseMult(&r)
	R.Add(&R, order8(t))
	h := sha512.New()
	h.Write(R.Bytes())
	h.Write(sg.pub)
	h.Write(msg)
	k.SetUniformBytes(h.Sum(nil))
	s.MultiplyAdd(&k, &sg.a, &r)
	return Item{PublicKey: sg.pub, Message: msg, Signature: append(R.Bytes(), s.Bytes()...)}
}

// order8 is a point of order 8.
func order8(t testing.TB) *edwards25519.Point {
	t.Helper()
	b, _ := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	var x edwards25519.Point
	if x.MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 || p.Equal(edwards25519.NewIdentityPoint()) == 1 {
		t.Fatal("not a small-order point")
	}
	return p
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

// cases are single signatures and what the rule says of each.
func cases(t *testing.T) []struct {
	name  string
	item  Item
	valid bool
} {
	sg, other := newSigner(t, 1), newSigner(t, 2)
	msg := []byte("an invocation")
	good := sg.sign(msg)
	// s + L: the same signature with a non-canonical s.
	var s edwards25519.Scalar
	s.SetCanonicalBytes(good.Signature[32:])
	big := make([]byte, 32)
	carry := 0
	l, _ := hex.DecodeString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	for i := range big {
		v := int(good.Signature[32+i]) + int(l[i]) + carry
		big[i], carry = byte(v), v>>8
	}
	identityKey := make([]byte, 32)
	identityKey[0] = 1
	torsionKey := order8(t).Bytes()
	return []struct {
		name  string
		item  Item
		valid bool
	}{
		{"valid", good, true},
		{"valid, empty message", sg.sign(nil), true},
		{"torsion in R", sg.signTorsion(t, msg), true},
		{"tampered message", Item{good.PublicKey, flip(msg, 0), good.Signature}, false},
		{"tampered R", Item{good.PublicKey, msg, flip(good.Signature, 3)}, false},
		{"tampered s", Item{good.PublicKey, msg, flip(good.Signature, 40)}, false},
		{"another key", Item{other.pub, msg, good.Signature}, false},
		{"s not below L", Item{good.PublicKey, msg, append(append([]byte{}, good.Signature[:32]...), big...)}, false},
		{"identity as key", Item{identityKey, msg, good.Signature}, false},
		{"small-order key", Item{torsionKey, msg, good.Signature}, false},
		{"key off the curve", Item{flip(good.PublicKey, 0), msg, good.Signature}, false},
		{"short signature", Item{good.PublicKey, msg, good.Signature[:63]}, false},
		{"short key", Item{good.PublicKey[:31], msg, good.Signature}, false},
		{"nothing", Item{}, false},
	}
}

func TestVerify(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			if got := Verify(c.item); got != c.valid {
				t.Fatalf("Verify = %v, want %v", got, c.valid)
			}
			if len(c.item.PublicKey) == ed25519.PublicKeySize && ed25519.Verify(c.item.PublicKey, c.item.Message, c.item.Signature) && !c.valid {
				t.Fatal("crypto/ed25519 accepts what the rule refuses")
			}
			if c.name == "torsion in R" && ed25519.Verify(c.item.PublicKey, c.item.Message, c.item.Signature) {
				t.Fatal("crypto/ed25519 accepts the torsion case: the case tests nothing")
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
				items[at], want[at] = c.item, c.valid
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
					if got := v.Verify(c.item); got != c.valid {
						t.Errorf("leaders=%d: %s: %v, want %v", leaders, c.name, got, c.valid)
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

// FuzzVerify: any bytes, no panic; whatever crypto/ed25519 accepts the
// rule accepts; alone and in a batch the answer is the same.
func FuzzVerify(f *testing.F) {
	sg := newSigner(f, 9)
	g := sg.sign([]byte("seed"))
	f.Add(g.PublicKey, g.Message, g.Signature)
	f.Add([]byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		it := Item{PublicKey: pub, Message: msg, Signature: sig}
		alone := Verify(it)
		if len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig) && !alone {
			t.Fatal("crypto/ed25519 accepts, the rule refuses")
		}
		batch := VerifyBatch([]Item{sg.sign([]byte("x")), it})
		if !batch[0] || batch[1] != alone {
			t.Fatalf("batch %v, alone %v", batch, alone)
		}
	})
}
