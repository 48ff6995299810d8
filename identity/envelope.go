package identity

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	crypto_pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// Envelope domains: each kind of signed object has its own, so a signature
// made for one kind can never be replayed as another.
const (
	DomainEndpoint   = "fxmesh-endpoint-record"
	DomainFunction   = "fxmesh-function-record"
	DomainInvocation = "fxmesh-invocation"
	DomainOwnerClaim = "fxmesh-owner-claim"
)

// Errors of Open. Each names one way a signed envelope can be bad.
var (
	ErrMalformedEnvelope = errors.New("identity: malformed envelope")
	ErrBadSignature      = errors.New("identity: invalid signature or wrong domain")
	ErrWrongCodec        = errors.New("identity: envelope holds another payload type")
	// ErrNonCanonical is an envelope that protobuf would read, but that is
	// not written as libp2p writes it: an unknown field, fields out of
	// order, a varint in a longer form than it needs, an empty field
	// written out, a public key not in its own canonical form. It is
	// malformed too: errors.Is(err, ErrMalformedEnvelope) holds.
	ErrNonCanonical = fmt.Errorf("%w: not in canonical form", ErrMalformedEnvelope)
)

// payload is a record.Record whose domain and codec are chosen per call, so
// that identity can sign any payload without registering types globally.
type payload struct {
	domain string
	codec  []byte
	data   []byte
}

func (p *payload) Domain() string                 { return p.domain }
func (p *payload) Codec() []byte                  { return p.codec }
func (p *payload) MarshalRecord() ([]byte, error) { return p.data, nil }
func (p *payload) UnmarshalRecord(b []byte) error { p.data = append([]byte(nil), b...); return nil }

// Seal signs data under domain with k, in a libp2p signed envelope, and
// returns the envelope's bytes. codec names the payload's type.
func Seal(k *Key, domain string, codec []byte, data []byte) ([]byte, error) {
	env, err := record.Seal(&payload{domain: domain, codec: codec, data: data}, k.priv)
	if err != nil {
		return nil, fmt.Errorf("identity: seal: %w", err)
	}
	b, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("identity: seal: %w", err)
	}
	return b, nil
}

// Signed is an opened envelope: who signed it and what they signed.
type Signed struct {
	Signer  peer.ID
	Codec   []byte
	Payload []byte
}

// Sealed is an envelope decoded but not yet checked: Verify checks it,
// and Ed25519 hands out what a batch verifier needs.
type Sealed struct {
	Signed
	// Key is the signer's public key.
	Key crypto.PubKey
	// Unsigned is what the signature covers: the domain, the payload type
	// and the payload, each prefixed with its length.
	Unsigned []byte
	// Signature is the signature's bytes.
	Signature []byte
}

// Unseal decodes an envelope without checking its signature: the caller
// must call Verify, or check Ed25519's values itself, before trusting
// anything in it. Domain is the one the signature must cover; when codec is
// non-nil the envelope must carry that payload type.
//
// Only the canonical form is accepted: the bytes record.Envelope.Marshal
// writes, and nothing else that protobuf would read the same way. That is
// the public key (field 1), the payload type (2), the payload (3) and the
// signature (5), in that order, each at most once, each but the key left
// out when empty; every tag and length a varint in its shortest form; the
// key as crypto.MarshalPublicKey writes it. Anything else is
// ErrNonCanonical, so that one signed content travels as one byte string:
// no one can pad a signed envelope with bytes of their own, or send the
// same invocation as different bytes.
func Unseal(b []byte, domain string, codec []byte) (*Sealed, error) {
	// The fields of an envelope, in the order they are written.
	const (
		fKey = iota
		fType
		fData
		fSig
		nFields
	)
	var (
		numbers = [nFields]uint64{1, 2, 3, 5}
		fields  [nFields][]byte
		seen    [nFields]bool
		next    = 0 // the first field that may still come
	)
	for rest := b; len(rest) > 0; {
		tag, n, err := uvarint(rest)
		switch {
		case errors.Is(err, errLongVarint):
			return nil, fmt.Errorf("%w: field tag in a long form", ErrNonCanonical)
		case err != nil || tag>>3 == 0:
			return nil, fmt.Errorf("%w: bad field tag", ErrMalformedEnvelope)
		}
		rest = rest[n:]
		num, wire := tag>>3, tag&7
		i := 0
		for i < nFields && numbers[i] != num {
			i++
		}
		switch {
		case i == nFields:
			return nil, fmt.Errorf("%w: unknown field %d", ErrNonCanonical, num)
		case wire != 2:
			return nil, fmt.Errorf("%w: field %d is not bytes", ErrMalformedEnvelope, num)
		case seen[i]:
			return nil, fmt.Errorf("%w: field %d twice", ErrMalformedEnvelope, num)
		case i < next:
			return nil, fmt.Errorf("%w: field %d out of order", ErrNonCanonical, num)
		}
		l, n, err := uvarint(rest)
		switch {
		case errors.Is(err, errLongVarint):
			return nil, fmt.Errorf("%w: length of field %d in a long form", ErrNonCanonical, num)
		case err != nil || l > uint64(len(rest)-n):
			return nil, fmt.Errorf("%w: field %d cut short", ErrMalformedEnvelope, num)
		case l == 0 && i != fKey:
			return nil, fmt.Errorf("%w: empty field %d written out", ErrNonCanonical, num)
		}
		fields[i], rest = rest[n:n+int(l)], rest[n+int(l):]
		seen[i], next = true, i+1
	}
	key, typ, data, sig := fields[fKey], fields[fType], fields[fData], fields[fSig]
	if !seen[fKey] {
		return nil, fmt.Errorf("%w: no public key", ErrMalformedEnvelope)
	}
	pub, err := crypto.UnmarshalPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrMalformedEnvelope, err)
	}
	if again, err := crypto.MarshalPublicKey(pub); err != nil || !bytes.Equal(again, key) {
		return nil, fmt.Errorf("%w: public key", ErrNonCanonical)
	}
	if codec != nil && string(typ) != string(codec) {
		return nil, fmt.Errorf("%w: got %q, want %q", ErrWrongCodec, typ, codec)
	}
	signer, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: signer key: %v", ErrMalformedEnvelope, err)
	}
	unsigned := make([]byte, 0, 3*binary.MaxVarintLen64+len(domain)+len(typ)+len(data))
	for _, f := range [][]byte{[]byte(domain), typ, data} {
		unsigned = binary.AppendUvarint(unsigned, uint64(len(f)))
		unsigned = append(unsigned, f...)
	}
	// Nothing returned shares memory with b, which the caller may reuse.
	typ, data, sig = bytes.Clone(typ), bytes.Clone(data), bytes.Clone(sig)
	return &Sealed{
		Signed:    Signed{Signer: signer, Codec: typ, Payload: data},
		Key:       pub,
		Unsigned:  unsigned,
		Signature: sig,
	}, nil
}

// Errors of uvarint.
var (
	errBadVarint  = errors.New("bad varint")
	errLongVarint = errors.New("varint in a long form")
)

// uvarint decodes the varint at the start of b and returns it with the
// number of bytes it takes. It is errBadVarint when cut short or over 64
// bits, errLongVarint when not in its shortest form (ending in a zero byte,
// which only pads).
func uvarint(b []byte) (uint64, int, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n <= 0:
		return 0, 0, errBadVarint
	case n > 1 && b[n-1] == 0:
		return 0, 0, errLongVarint
	}
	return v, n, nil
}

// Verify checks the signature with the signer's key, as libp2p does.
func (s *Sealed) Verify() error {
	ok, err := s.Key.Verify(s.Unsigned, s.Signature)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}

// Ed25519 returns the signer's raw Ed25519 public key; false when the
// signer's key is of another type.
func (s *Sealed) Ed25519() ([]byte, bool) {
	if s.Key.Type() != crypto_pb.KeyType_Ed25519 {
		return nil, false
	}
	raw, err := s.Key.Raw()
	if err != nil {
		return nil, false
	}
	return raw, true
}

// Open checks the envelope's signature under domain and returns its signer
// and payload. When codec is non-nil the envelope must carry that payload
// type.
func Open(b []byte, domain string, codec []byte) (*Signed, error) {
	s, err := Unseal(b, domain, codec)
	if err != nil {
		return nil, err
	}
	if err := s.Verify(); err != nil {
		return nil, err
	}
	return &s.Signed, nil
}

// Peek returns an envelope's signer and payload without checking the
// signature: only for envelopes the caller made itself.
func Peek(b []byte) (peer.ID, []byte, error) {
	s, err := Unseal(b, "", nil)
	if err != nil {
		return "", nil, err
	}
	return s.Signer, s.Payload, nil
}
