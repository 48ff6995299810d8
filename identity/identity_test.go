package identity

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
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

// field encodes one length-delimited protobuf field.
func field(num int, v []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(num)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// TestUnsealRefusesNonCanonical: an envelope is accepted only in the one
// byte form libp2p's record.Envelope.Marshal writes. Each case reads, under
// protobuf's rules, as the same signer and payload as a valid envelope, and
// is refused all the same.
func TestUnsealRefusesNonCanonical(t *testing.T) {
	k, _ := GenerateKey()
	codec := []byte("c")
	b, err := Seal(k, "d", codec, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.MarshalPublicKey(k.priv.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Unseal(b, "d", codec)
	if err != nil {
		t.Fatal(err)
	}
	sig := s.Signature
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	if want := cat(field(1, key), field(2, codec), field(3, []byte("payload")), field(5, sig)); !bytes.Equal(b, want) {
		t.Fatalf("Seal wrote %x, want %x: the cases below assume libp2p's layout", b, want)
	}
	raw, _ := k.priv.GetPublic().Raw()
	tests := []struct {
		name string
		data []byte
	}{
		{"unknown bytes field first", cat(field(4, []byte("hi")), b)},
		{"unknown bytes field last", cat(b, field(9, []byte("hi")))},
		{"unknown varint field", cat(b, []byte{0x30, 0x96, 0x01})},
		{"unknown fixed32 field", cat(b, []byte{0x3d, 1, 2, 3, 4})},
		{"unknown fixed64 field", cat(b, []byte{0x39, 1, 2, 3, 4, 5, 6, 7, 8})},
		{"unknown field between known ones", cat(field(1, key), field(2, codec), field(4, nil), field(3, []byte("payload")), field(5, sig))},
		{"fields out of order", cat(field(1, key), field(3, []byte("payload")), field(2, codec), field(5, sig))},
		{"signature first", cat(field(5, sig), field(1, key), field(2, codec), field(3, []byte("payload")))},
		{"long form of a length", cat(field(1, key), field(2, codec), []byte{0x1a, 0x87, 0x00}, []byte("payload"), field(5, sig))},
		{"long form of a tag", cat([]byte{0x8a, 0x00, byte(len(key))}, key, field(2, codec), field(3, []byte("payload")), field(5, sig))},
		{"empty unknown field", cat(b, field(6, nil))},
		{"key with an unknown field", cat(field(1, cat(key, []byte{0x18, 0x01})), field(2, codec), field(3, []byte("payload")), field(5, sig))},
		{"key fields out of order", cat(field(1, cat(field(2, raw), []byte{0x08, 0x01})), field(2, codec), field(3, []byte("payload")), field(5, sig))},
		{"key type in long form", cat(field(1, cat([]byte{0x08, 0x81, 0x00}, field(2, raw))), field(2, codec), field(3, []byte("payload")), field(5, sig))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// libp2p reads it as the same envelope, its signature valid.
			env, err := record.ConsumeTypedEnvelope(tc.data, &payload{domain: "d"})
			if err != nil || !bytes.Equal(env.RawPayload, []byte("payload")) {
				t.Fatalf("libp2p: %v; the case tests nothing", err)
			}
			_, err = Open(tc.data, "d", codec)
			if !errors.Is(err, ErrNonCanonical) || !errors.Is(err, ErrMalformedEnvelope) {
				t.Fatalf("Open = %v, want ErrNonCanonical", err)
			}
			if _, _, err := Peek(tc.data); !errors.Is(err, ErrNonCanonical) {
				t.Fatalf("Peek = %v, want ErrNonCanonical", err)
			}
		})
	}
	// An empty payload type is left out, as libp2p leaves it out; written
	// as an empty field it is refused.
	if _, err := Unseal(cat(field(1, key), field(2, nil), field(3, []byte("payload")), field(5, sig)), "d", nil); !errors.Is(err, ErrNonCanonical) {
		t.Fatalf("empty payload type written out: %v, want ErrNonCanonical", err)
	}
	if _, err := Unseal(cat(field(1, key), field(3, []byte("payload")), field(5, sig)), "d", nil); err != nil {
		t.Fatalf("empty payload type left out: %v", err)
	}
}

// FuzzOpen compares the envelope decoder with libp2p's. Unseal may refuse
// what libp2p accepts (anything but the canonical form), never the reverse:
// whatever Unseal decodes, libp2p decodes the same way and marshals back to
// the very same bytes, and both agree on the signature. And whatever libp2p
// marshals back unchanged, Unseal accepts.
func FuzzOpen(f *testing.F) {
	k, _ := GenerateKey()
	b, _ := Seal(k, "d", []byte("c"), []byte("payload"))
	f.Add(b)
	f.Add([]byte{})
	f.Add(append(append([]byte{}, b...), 0x22, 2, 'h', 'i'))
	f.Add(append([]byte{0x30, 0x96, 0x01}, b...))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, lerr := record.UnmarshalEnvelope(data)
		s, err := Unseal(data, "d", nil)
		if err != nil {
			if lerr == nil {
				if again, merr := env.Marshal(); merr == nil && bytes.Equal(again, data) {
					t.Fatalf("Unseal refuses a canonical envelope: %v", err)
				}
			}
			return
		}
		if lerr != nil {
			t.Fatalf("Unseal decodes what libp2p refuses: %v", lerr)
		}
		if again, merr := env.Marshal(); merr != nil || !bytes.Equal(again, data) {
			t.Fatalf("Unseal accepts bytes libp2p would not write: %x, libp2p writes %x (%v)", data, again, merr)
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
