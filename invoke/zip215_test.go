package invoke

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"filippo.io/edwards25519"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// envelope writes a signed envelope as libp2p does, with a signature of
// the caller's choosing.
func envelope(t *testing.T, key crypto.PubKey, payload, sig []byte) []byte {
	t.Helper()
	kb, err := crypto.MarshalPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, f := range []struct {
		num byte
		v   []byte
	}{{1, kb}, {2, Codec}, {3, payload}, {5, sig}} {
		b = append(b, f.num<<3|2)
		b = binary.AppendUvarint(b, uint64(len(f.v)))
		b = append(b, f.v...)
	}
	return b
}

func scalar(seed byte) *edwards25519.Scalar {
	s, _ := new(edwards25519.Scalar).SetUniformBytes(bytes.Repeat([]byte{seed}, 64))
	return s
}

// TestTaskIDIgnoresTheSignature: a task's ID is its signer's and its
// payload's, never its signature's. Another valid signature of the same
// invocation is the same task, which the endpoint refuses as a replay; an
// invocation under a key of small order, which the signature rule
// (ZIP-215) accepts and anyone can sign, is a task of that key's own peer
// ID, admitted only where the policy admits that ID.
func TestTaskIDIgnoresTheSignature(t *testing.T) {
	user, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	env := signed(t, user, ep.ID().String(), nil)
	orig, err := Decode(env, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := identity.Unseal(env, identity.DomainInvocation, Codec)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the signer's second signature", func(t *testing.T) {
		// R = [r]B + T with T of order 8: as valid as the first, with
		// other bytes.
		raw, err := user.PrivKey().Raw()
		if err != nil {
			t.Fatal(err)
		}
		h := sha512.Sum512(raw[:32])
		a, err := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
		if err != nil {
			t.Fatal(err)
		}
		tb, _ := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
		torsion, err := new(edwards25519.Point).SetBytes(tb)
		if err != nil {
			t.Fatal(err)
		}
		r := scalar(3)
		R := new(edwards25519.Point).ScalarBaseMult(r)
		R.Add(R, torsion)
		kh := sha512.New()
		kh.Write(R.Bytes())
		kh.Write(raw[32:])
		kh.Write(sealed.Unsigned)
		k, _ := new(edwards25519.Scalar).SetUniformBytes(kh.Sum(nil))
		s := new(edwards25519.Scalar).MultiplyAdd(k, a, r)
		again := envelope(t, sealed.Key, sealed.Payload, append(R.Bytes(), s.Bytes()...))
		if bytes.Equal(again, env) {
			t.Fatal("the second signature is the first")
		}
		d, err := Decode(again, 1<<20)
		if err != nil {
			t.Fatalf("second signature refused: %v", err)
		}
		if d.TaskID != orig.TaskID || d.Caller != orig.Caller {
			t.Fatalf("task %s of %s, want task %s of %s", d.TaskID, d.Caller, orig.TaskID, orig.Caller)
		}
	})

	for _, c := range []struct{ name, key string }{
		{"identity", "0100000000000000000000000000000000000000000000000000000000000000"},
		{"identity with y = p+1", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
		{"order 8", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"},
	} {
		t.Run("forged under the small-order key "+c.name, func(t *testing.T) {
			kb, _ := hex.DecodeString(c.key)
			key, err := crypto.UnmarshalEd25519PublicKey(kb)
			if err != nil {
				t.Fatal(err)
			}
			id, err := peer.IDFromPublicKey(key)
			if err != nil {
				t.Fatal(err)
			}
			// R = [s]B: [8]([s]B - R - [k]A) is the identity for any s
			// and message, A being of small order.
			var tasks []string
			for _, seed := range []byte{5, 6} {
				s := scalar(seed)
				R := new(edwards25519.Point).ScalarBaseMult(s)
				d, err := Decode(envelope(t, key, sealed.Payload, append(R.Bytes(), s.Bytes()...)), 1<<20)
				if err != nil {
					t.Fatalf("forgery refused: %v", err)
				}
				if d.Caller != id || d.Caller == user.ID() {
					t.Fatalf("caller %s, want the small-order key's %s", d.Caller, id)
				}
				// An endpoint's admission (node/admission) lets in whom
				// its policy allows.
				if (identity.Policy{Owner: user.ID()}).Allows(d.Caller) {
					t.Fatalf("allowed by a policy that does not name it: %s", d.Caller)
				}
				tasks = append(tasks, d.TaskID)
			}
			if tasks[0] != tasks[1] {
				t.Fatalf("two signatures of one invocation are two tasks: %s, %s", tasks[0], tasks[1])
			}
			if tasks[0] == orig.TaskID {
				t.Fatal("the forger's task is the user's")
			}
		})
	}
}
