package catalog

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// cborCodec is the multicodec code of plain CBOR. (Not dag-cbor: our map
// keys are integers, which DAG-CBOR does not allow.)
const cborCodec = 0x51

// idPrefix is the binary prefix of every ID: CIDv1, cbor, sha2-256, 32 bytes.
var idPrefix = []byte{0x01, cborCodec, mh.SHA2_256, 32}

// ID names a function version or an update: a CIDv1 (codec cbor 0x51,
// multihash sha2-256) over the canonical CBOR bytes of the thing. It prints
// as the CID's base32 string ("bafire…"). The zero ID names nothing. IDs
// are comparable and usable as map keys.
type ID struct {
	d  [sha256.Size]byte
	ok bool
}

// idOf returns the ID of canonical bytes b.
func idOf(b []byte) ID { return ID{d: sha256.Sum256(b), ok: true} }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return !id.ok }

// Bytes returns the CID's binary form, nil for the zero ID.
func (id ID) Bytes() []byte {
	if !id.ok {
		return nil
	}
	return append(append([]byte(nil), idPrefix...), id.d[:]...)
}

// String returns the CID's base32 form, "" for the zero ID.
func (id ID) String() string {
	if !id.ok {
		return ""
	}
	return id.cid().String()
}

func (id ID) cid() cid.Cid {
	h, _ := mh.Encode(id.d[:], mh.SHA2_256)
	return cid.NewCidV1(cborCodec, h)
}

// compare orders IDs by their digests; the zero ID sorts first.
func (id ID) compare(o ID) int {
	if id.ok != o.ok {
		if !id.ok {
			return -1
		}
		return 1
	}
	return bytes.Compare(id.d[:], o.d[:])
}

// bucket is the sync bucket the ID falls in: its digest's first byte.
func (id ID) bucket() uint8 { return id.d[0] }

// ParseID parses an ID printed by ID.String (any multibase works).
func ParseID(s string) (ID, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return ID{}, fault.E(fault.Invalid, "", "%w: id %q: %v", ErrInvalidField, s, err)
	}
	id, err := IDFromBytes(c.Bytes())
	if err != nil {
		return ID{}, fault.E(fault.Invalid, "", "%w: id %q is not a catalog ID", ErrInvalidField, s)
	}
	return id, nil
}

// IDFromBytes parses an ID's binary form (ID.Bytes).
func IDFromBytes(b []byte) (ID, error) {
	if len(b) != len(idPrefix)+sha256.Size || !bytes.Equal(b[:len(idPrefix)], idPrefix) {
		return ID{}, invalid("id: want a %d-byte CIDv1 cbor sha2-256, got %d bytes", len(idPrefix)+sha256.Size, len(b))
	}
	var id ID
	copy(id.d[:], b[len(idPrefix):])
	id.ok = true
	return id, nil
}

// MarshalCBOR encodes the ID as a CBOR byte string of its binary form.
func (id ID) MarshalCBOR() ([]byte, error) {
	if !id.ok {
		return nil, fmt.Errorf("catalog: encode zero ID")
	}
	return encMode.Marshal(id.Bytes())
}

// UnmarshalCBOR decodes what MarshalCBOR wrote, and only that.
func (id *ID) UnmarshalCBOR(data []byte) error {
	var b []byte
	if err := decMode.Unmarshal(data, &b); err != nil {
		return err
	}
	v, err := IDFromBytes(b)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// MarshalText writes the string form, for JSON.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the string form; "" gives the zero ID.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ID{}
		return nil
	}
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
