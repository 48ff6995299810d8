package catalog

import (
	"bytes"
	"fmt"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/wire"
)

// encMode writes Core Deterministic CBOR (RFC 8949 §4.2.1): shortest
// integers, definite lengths, map keys sorted bytewise. All our structs use
// small integer keys, so a record's bytes do not depend on Go field names.
var encMode = wire.Canonical

// decMode is strict: duplicate map keys, unknown fields, indefinite lengths,
// tags and invalid UTF-8 are errors, and nesting and sizes are bounded so that
// a hostile message cannot make the decoder allocate much.
var decMode = wire.Strict(wire.Bounds{Nesting: 12, Arrays: 1 << 17, MapPairs: 64})

// decodeCanonical decodes b strictly into v and requires b to be exactly the
// canonical encoding of the result, so every value has one byte form (and
// one ID).
func decodeCanonical(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fail(fault.Invalid, ErrMalformed, "%v", err)
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fail(fault.Invalid, ErrMalformed, "%v", err)
	}
	if !bytes.Equal(again, b) {
		return fail(fault.Invalid, ErrMalformed, "not canonical CBOR")
	}
	return nil
}

// marshal encodes v canonically; our types always encode.
func marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("catalog: encode: %w", err)
	}
	return b, nil
}
