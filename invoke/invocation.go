package invoke

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fxmesh/fxmesh/batchverify"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// Codec names the payload type of a signed invocation.
var Codec = []byte("/fxmesh/invocation/1")

// Input is one set of arguments: a JSON array and a JSON object.
type Input struct {
	Args   []byte `cbor:"1,keyasint,omitempty"`
	Kwargs []byte `cbor:"2,keyasint,omitempty"`
}

// Proof is a function's current signed catalog update and the function's
// canonical bytes (catalog.Store.Proof makes it, catalog.VerifyFunction
// checks it).
type Proof struct {
	Head     []byte `cbor:"1,keyasint"`
	Function []byte `cbor:"2,keyasint"`
}

// Invocation asks one endpoint to run one function on one input, or on a
// batch of inputs. The caller signs it; the signer is the caller.
type Invocation struct {
	// Function is the function's ID (a CID).
	Function string `cbor:"1,keyasint"`
	// Proof carries the function's signed catalog record when the endpoint
	// may not know it (a private function); nil otherwise.
	Proof *Proof `cbor:"2,keyasint,omitempty"`
	// Endpoint is the target endpoint's node ID.
	Endpoint string `cbor:"3,keyasint"`
	// Inputs holds one input, or a batch.
	Inputs []Input `cbor:"4,keyasint"`
	// Nonce makes two otherwise equal invocations distinct.
	Nonce []byte `cbor:"5,keyasint"`
	// IssuedAt and Expires are Unix nanoseconds.
	IssuedAt int64 `cbor:"6,keyasint"`
	Expires  int64 `cbor:"7,keyasint"`
	// Timeout bounds each input's run, in nanoseconds; zero means the
	// endpoint's default.
	Timeout int64 `cbor:"8,keyasint,omitempty"`
	// Require holds the invocation's own requirements (KEY=VALUE, KEY>=N).
	Require []string `cbor:"9,keyasint,omitempty"`
	// Retries is how many more times the endpoint may run an input that
	// it lost mid-run (a worker, a container or a batch scheduler's block
	// gone): 0, the default, means at most once, so that an input that may
	// have started and was lost fails instead of running again. The caller
	// sets it only for functions safe to repeat; it is signed, so no one
	// on the way can raise it. From 0 to MaxRetries; 0 is left out of the
	// encoding, so an invocation without retries has the bytes, and the
	// task ID, it had before the field existed.
	Retries int `cbor:"10,keyasint,omitempty"`
}

// MaxRetries bounds Invocation.Retries.
const MaxRetries = 100

// Errors of Decode; each has a fault kind as well.
var (
	ErrMalformed    = errors.New("invoke: malformed invocation")
	ErrBadSignature = errors.New("invoke: invalid signature")
	ErrTooLarge     = errors.New("invoke: invocation too large")
)

// An invocation is encoded canonically and decoded strictly (package wire),
// up to a batch of a million inputs.
var (
	encMode = wire.Canonical
	decMode = wire.Strict(wire.Bounds{Nesting: 8, Arrays: 1 << 20, MapPairs: 64})
)

// New fills in a fresh nonce and the validity window from now.
func New(function, endpoint string, inputs []Input, now time.Time, ttl time.Duration) (*Invocation, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("invoke: nonce: %w", err)
	}
	return &Invocation{
		Function: function, Endpoint: endpoint, Inputs: inputs, Nonce: nonce,
		IssuedAt: now.UnixNano(), Expires: now.Add(ttl).UnixNano(),
	}, nil
}

// Sign seals inv with the caller's key.
func Sign(k *identity.Key, inv *Invocation) ([]byte, error) {
	env, _, err := SignTask(k, inv)
	return env, err
}

// SignTask seals inv with the caller's key and returns the task ID the
// endpoint will give it.
func SignTask(k *identity.Key, inv *Invocation) (env []byte, taskID string, err error) {
	if err := inv.validate(); err != nil {
		return nil, "", err
	}
	b, err := encMode.Marshal(inv)
	if err != nil {
		return nil, "", fmt.Errorf("invoke: encode: %w", err)
	}
	if env, err = identity.Seal(k, identity.DomainInvocation, Codec, b); err != nil {
		return nil, "", err
	}
	return env, TaskID(k.ID(), b), nil
}

func (inv *Invocation) validate() error {
	if _, err := cid.Decode(inv.Function); err != nil {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: function %q is not a function ID", ErrMalformed, inv.Function))
	}
	if _, err := peer.Decode(inv.Endpoint); err != nil {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: endpoint %q: %v", ErrMalformed, inv.Endpoint, err))
	}
	if len(inv.Inputs) == 0 {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: no inputs", ErrMalformed))
	}
	if len(inv.Nonce) < 8 || len(inv.Nonce) > 64 {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: nonce of %d bytes", ErrMalformed, len(inv.Nonce)))
	}
	if inv.Expires <= inv.IssuedAt {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: expires before it was issued", ErrMalformed))
	}
	if inv.Timeout < 0 {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: negative timeout", ErrMalformed))
	}
	if inv.Retries < 0 || inv.Retries > MaxRetries {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %d retries, want 0 to %d", ErrMalformed, inv.Retries, MaxRetries))
	}
	for i, in := range inv.Inputs {
		if len(in.Args) > 0 && !isJSON(in.Args, '[') {
			return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: input %d: args are not a JSON array", ErrMalformed, i))
		}
		if len(in.Kwargs) > 0 && !isJSON(in.Kwargs, '{') {
			return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: input %d: kwargs are not a JSON object", ErrMalformed, i))
		}
	}
	return nil
}

// isJSON reports whether b is valid JSON starting with open.
func isJSON(b []byte, open byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == open && json.Valid(b)
}

// Signed is a decoded, signature-checked invocation.
type Signed struct {
	Invocation
	// Caller is the signer.
	Caller peer.ID
	// TaskID is derived from the signed payload: the same invocation always
	// has the same ID, and any change gives another.
	TaskID string
	// Size is the envelope's size in bytes.
	Size int
}

// Decode checks an envelope's size, signature and schema. It does not check
// freshness, target or policy: an endpoint's admission does. An Ed25519 signature is checked
// under batchverify's rule, alone; DecodeWith checks it in a batch.
func Decode(b []byte, maxBytes int) (*Signed, error) {
	return DecodeWith(nil, b, maxBytes)
}

// DecodeWith is Decode with the Ed25519 signature checked by v, together
// with those of other goroutines decoding at the same time. The answer is
// Decode's; only the cost differs.
func DecodeWith(v *batchverify.Verifier, b []byte, maxBytes int) (*Signed, error) {
	if maxBytes > 0 && len(b) > maxBytes {
		return nil, fault.Wrap(fault.TooLarge, "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), maxBytes))
	}
	s, err := identity.Unseal(b, identity.DomainInvocation, Codec)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	if pub, ok := s.Ed25519(); ok {
		valid := batchverify.Verify
		if v != nil {
			valid = v.Verify
		}
		if !valid(batchverify.Item{PublicKey: pub, Message: s.Unsigned, Signature: s.Signature}) {
			err = identity.ErrBadSignature
		}
	} else {
		err = s.Verify()
	}
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrBadSignature, err))
	}
	var inv Invocation
	if err := decMode.Unmarshal(s.Payload, &inv); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	// One byte form per invocation, so the task ID cannot be varied.
	if again, err := encMode.Marshal(&inv); err != nil || !bytes.Equal(again, s.Payload) {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: not in canonical form", ErrMalformed))
	}
	if err := inv.validate(); err != nil {
		return nil, err
	}
	return &Signed{Invocation: inv, Caller: s.Signer, TaskID: TaskID(s.Signer, s.Payload), Size: len(b)}, nil
}

// TaskIDOf returns the task ID of a signed invocation without checking its
// signature: for the caller's own envelopes, to check an acknowledgement.
func TaskIDOf(env []byte) (string, error) {
	signer, payload, err := identity.Peek(env)
	if err != nil {
		return "", fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	return TaskID(signer, payload), nil
}

// TaskID derives a task's ID from the caller and the signed payload.
func TaskID(caller peer.ID, payload []byte) string {
	h := sha256.New()
	h.Write([]byte(caller))
	h.Write(payload)
	mh, _ := multihash.Encode(h.Sum(nil), multihash.SHA2_256)
	return cid.NewCidV1(cid.Raw, mh).String()
}
