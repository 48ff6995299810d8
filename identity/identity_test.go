package identity

import (
	"bytes"
	"errors"
	"github.com/libp2p/go-libp2p/core/record"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestKeySaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "user.key")
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Save(path, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %04o, want 0600", st.Mode().Perm())
	}
	k2, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k2.ID() != k.ID() {
		t.Fatalf("loaded ID %s, want %s", k2.ID(), k.ID())
	}
	other, _ := GenerateKey()
	if err := other.Save(path, false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("overwrite without force: err = %v, want ErrKeyExists", err)
	}
	if err := other.Save(path, true); err != nil {
		t.Fatalf("overwrite with force: %v", err)
	}
	if k3, _ := LoadKey(path); k3.ID() != other.ID() {
		t.Fatal("forced save did not replace the key")
	}
}

func TestLoadKeyRefusesOpenPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	k, _ := GenerateKey()
	if err := k.Save(path, false); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(path)
		if !errors.Is(err, ErrKeyPermissions) {
			t.Fatalf("mode %04o: err = %v, want ErrKeyPermissions", mode, err)
		}
		if !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("error does not say how to fix it: %v", err)
		}
	}
}

func TestSealOpen(t *testing.T) {
	k, _ := GenerateKey()
	codec := []byte("/fxmesh/test")
	b, err := Seal(k, "fxmesh-test", codec, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(b, "fxmesh-test", codec)
	if err != nil {
		t.Fatal(err)
	}
	if s.Signer != k.ID() || string(s.Payload) != "hello" {
		t.Fatalf("opened %v %q", s.Signer, s.Payload)
	}
	tests := []struct {
		name   string
		data   []byte
		domain string
		codec  []byte
		want   error
	}{
		{"other domain", b, DomainEndpoint, nil, ErrBadSignature},
		{"other codec", b, "fxmesh-test", []byte("/x"), ErrWrongCodec},
		{"garbage", []byte("not an envelope"), "fxmesh-test", nil, ErrMalformedEnvelope},
		{"empty", nil, "fxmesh-test", nil, ErrMalformedEnvelope},
		{"tampered", tamper(b, "hello", "jello"), "fxmesh-test", nil, ErrBadSignature},
		{"cut short", b[:len(b)-1], "fxmesh-test", nil, ErrMalformedEnvelope},
		{"a field twice", append(append([]byte{}, b...), 0x1a, 1, 'x'), "fxmesh-test", nil, ErrMalformedEnvelope},
		{"no key", []byte{0x1a, 1, 'x'}, "fxmesh-test", nil, ErrMalformedEnvelope},
		{"group wire type", append([]byte{0x0b}, b...), "fxmesh-test", nil, ErrMalformedEnvelope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.data, tc.domain, tc.codec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func tamper(b []byte, from, to string) []byte {
	s := strings.Replace(string(b), from, to, 1)
	return []byte(s)
}

// TestUnsealSkipsUnknownFields: fields a later envelope version may add
// are skipped, as protobuf skips them, and the signature still holds.
func TestUnsealSkipsUnknownFields(t *testing.T) {
	k, _ := GenerateKey()
	b, _ := Seal(k, "d", []byte("c"), []byte("payload"))
	extra := append([]byte{0x30, 0x96, 0x01, 0x3d, 1, 2, 3, 4, 0x39, 1, 2, 3, 4, 5, 6, 7, 8, 0x42, 2, 'h', 'i'}, b...)
	s, err := Open(extra, "d", []byte("c"))
	if err != nil || string(s.Payload) != "payload" || s.Signer != k.ID() {
		t.Fatalf("Open = %v, %v", s, err)
	}
}

// FuzzOpen compares the envelope decoder with libp2p's: whatever Unseal
// decodes, libp2p decodes the same way, and both agree on the signature.
func FuzzOpen(f *testing.F) {
	k, _ := GenerateKey()
	b, _ := Seal(k, "d", []byte("c"), []byte("payload"))
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Unseal(data, "d", nil)
		if err != nil {
			return
		}
		env, lerr := record.UnmarshalEnvelope(data)
		if lerr != nil {
			t.Fatalf("Unseal decodes what libp2p refuses: %v", lerr)
		}
		if !env.PublicKey.Equals(s.Key) || !bytes.Equal(env.PayloadType, s.Codec) || !bytes.Equal(env.RawPayload, s.Payload) {
			t.Fatal("Unseal and libp2p decode different envelopes")
		}
		_, cerr := record.ConsumeTypedEnvelope(data, &payload{domain: "d"})
		if (s.Verify() == nil) != (cerr == nil) {
			t.Fatalf("signature: Verify %v, libp2p %v", s.Verify(), cerr)
		}
		if _, oerr := Open(data, "d", nil); (oerr == nil) != (cerr == nil) {
			t.Fatalf("Open %v, libp2p %v", oerr, cerr)
		}
	})
}

func TestPolicy(t *testing.T) {
	a, b, c := peer.ID("a"), peer.ID("b"), peer.ID("c")
	tests := []struct {
		name string
		p    Policy
		user peer.ID
		want bool
	}{
		{"owner", Policy{Owner: a}, a, true},
		{"stranger", Policy{Owner: a}, b, false},
		{"allowed", Policy{Owner: a, Allowed: []peer.ID{b}}, b, true},
		{"not in list", Policy{Owner: a, Allowed: []peer.ID{b}}, c, false},
		{"public", Policy{Owner: a, Public: true}, c, true},
		{"empty user", Policy{Public: true}, "", false},
		{"zero policy", Policy{}, a, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Allows(tc.user); got != tc.want {
				t.Fatalf("Allows(%s) = %v, want %v", tc.user, got, tc.want)
			}
		})
	}
}
