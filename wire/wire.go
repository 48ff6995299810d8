package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
	"github.com/fxmesh/fxmesh/fault"
)

// MaxFrame bounds one frame unless a reader says otherwise: enough for a
// 10 MiB payload and its envelope.
const MaxFrame = 12 << 20

// ErrFrameTooLarge is returned for a frame over the reader's limit.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// Canonical is the encoding of every message: Core Deterministic CBOR, one
// byte form per value.
var Canonical = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// Bounds bound what a strict decoder takes of one message.
type Bounds struct {
	// Nesting, Arrays and MapPairs bound the depth of nested values, the
	// elements of one array and the pairs of one map.
	Nesting, Arrays, MapPairs int
}

// Strict returns the decoder of fxmesh's messages within b: no duplicate
// map keys, no indefinite lengths, no tags, no fields the target type does
// not know, valid UTF-8 only.
func Strict(b Bounds) cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   b.Nesting,
		MaxArrayElements:  b.Arrays,
		MaxMapPairs:       b.MapPairs,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err) // bounds are constants of the caller's
	}
	return m
}

// messages decodes the framed protocol messages: invocations' requests and
// replies, task queries, catalog requests.
var messages = Strict(Bounds{Nesting: 8, Arrays: 1 << 20, MapPairs: 64})

// WriteMsg encodes v and writes it as one frame.
func WriteMsg(w io.Writer, v any) error {
	b, err := Canonical.Marshal(v)
	if err != nil {
		return fmt.Errorf("wire: encode %T: %w", v, err)
	}
	return WriteFrame(w, b)
}

// ReadFrame reads one frame of at most max bytes, with no deadline and no
// budget: for streams whose far side is trusted with memory (a client
// reading the endpoint it chose). A stream that ends before the frame is
// io.EOF; one that breaks inside it is fault.Unavailable; bytes that are no
// frame are fault.Invalid.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	return (&FrameReader{R: r, Max: max}).Next(0)
}

// ReadMsg reads one frame and decodes it into v.
func ReadMsg(r *bufio.Reader, max int, v any) error {
	b, err := ReadFrame(r, max)
	if err != nil {
		return err
	}
	return DecodeMsg(b, v)
}

// DecodeMsg decodes one frame's body into v.
func DecodeMsg(b []byte, v any) error {
	if err := messages.Unmarshal(b, v); err != nil {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("wire: decode %T: %w", v, err))
	}
	return nil
}

// WriteFrame writes b as one frame.
func WriteFrame(w io.Writer, b []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}
