package identity

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// Envelope domains: each kind of signed object has its own, so a signature
// made for one kind can never be replayed as another.
const (
	DomainEndpoint   = "fxmesh-endpoint-record"
	DomainFunction   = "fxmesh-function-record"
	DomainInvocation = "fxmesh-invocation"
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

// Open checks the envelope's signature under domain and returns its signer and
// payload. When codec is non-nil the envelope must carry that payload type.
func Open(b []byte, domain string, codec []byte) (*Signed, error) {
	// ConsumeTypedEnvelope unmarshals the envelope and verifies the
	// signature over domain, payload type and payload.
	p := &payload{domain: domain}
	env, err := record.ConsumeTypedEnvelope(b, p)
	if err != nil {
		if errors.Is(err, record.ErrInvalidSignature) {
			return nil, ErrBadSignature
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformedEnvelope, err)
	}
	if env.PublicKey == nil {
		return nil, ErrMalformedEnvelope
	}
	if codec != nil && string(env.PayloadType) != string(codec) {
		return nil, fmt.Errorf("%w: got %q, want %q", ErrWrongCodec, env.PayloadType, codec)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signer key: %v", ErrMalformedEnvelope, err)
	}
	return &Signed{Signer: signer, Codec: env.PayloadType, Payload: p.data}, nil
}

// Peek returns an envelope's signer and payload without checking the
// signature: only for envelopes the caller made itself.
func Peek(b []byte) (peer.ID, []byte, error) {
	env, err := record.UnmarshalEnvelope(b)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrMalformedEnvelope, err)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return "", nil, fmt.Errorf("%w: signer key: %v", ErrMalformedEnvelope, err)
	}
	return signer, env.RawPayload, nil
}
