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
func Unseal(b []byte, domain string, codec []byte) (*Sealed, error) {
	var key, typ, data, sig []byte
	seen := 0 // bit f: field f was present
	for rest := b; len(rest) > 0; {
		tag, n := binary.Uvarint(rest)
		if n <= 0 || tag>>3 == 0 || tag>>3 > 1<<29 {
			return nil, fmt.Errorf("%w: bad field tag", ErrMalformedEnvelope)
		}
		rest = rest[n:]
		field, wire := tag>>3, tag&7
		var v []byte
		switch wire {
		case 0: // varint
			if _, n = binary.Uvarint(rest); n <= 0 {
				return nil, fmt.Errorf("%w: bad varint in field %d", ErrMalformedEnvelope, field)
			}
			rest = rest[n:]
		case 1, 5: // fixed64, fixed32
			w := 8
			if wire == 5 {
				w = 4
			}
			if len(rest) < w {
				return nil, fmt.Errorf("%w: field %d cut short", ErrMalformedEnvelope, field)
			}
			rest = rest[w:]
		case 2: // length-delimited
			l, n := binary.Uvarint(rest)
			if n <= 0 || l > uint64(len(rest)-n) {
				return nil, fmt.Errorf("%w: field %d cut short", ErrMalformedEnvelope, field)
			}
			v, rest = rest[n:n+int(l)], rest[n+int(l):]
		default:
			return nil, fmt.Errorf("%w: wire type %d in field %d", ErrMalformedEnvelope, wire, field)
		}
		var dst *[]byte
		switch field {
		case 1:
			dst = &key
		case 2:
			dst = &typ
		case 3:
			dst = &data
		case 5:
			dst = &sig
		default:
			continue // unknown fields are skipped, as protobuf does
		}
		if wire != 2 {
			return nil, fmt.Errorf("%w: field %d is not bytes", ErrMalformedEnvelope, field)
		}
		if seen&(1<<field) != 0 {
			return nil, fmt.Errorf("%w: field %d twice", ErrMalformedEnvelope, field)
		}
		seen |= 1 << field
		*dst = v
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no public key", ErrMalformedEnvelope)
	}
	pub, err := crypto.UnmarshalPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrMalformedEnvelope, err)
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
