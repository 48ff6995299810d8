package catalog

import (
	"errors"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/wire"
)

// The catalog client protocol (wire.CatalogProtocol): a client sends one
// ClientRequest to a full node and reads one ClientResponse, each one frame
// of package wire. The node serves it from its Store; the client checks
// every record it gets back (VerifyFunction, DecodeUpdate).

// ClientOp names a client request.
type ClientOp string

// The client requests.
const (
	ClientPublish  ClientOp = "publish"  // Update: a signed update to store and gossip
	ClientResolve  ClientOp = "resolve"  // Ref: an ID, OWNER/NAME or OWNER/NAME@VERSION
	ClientList     ClientOp = "list"     // Owner (optional), After: one page of entries
	ClientVersions ClientOp = "versions" // Ref: OWNER/NAME
	ClientHead     ClientOp = "head"     // Ref: OWNER/NAME
)

// ClientRequest is what a client asks a full node's catalog.
type ClientRequest struct {
	Op     ClientOp `cbor:"1,keyasint"`
	Update []byte   `cbor:"2,keyasint,omitempty"` // publish
	Ref    string   `cbor:"3,keyasint,omitempty"` // resolve, versions, head
	Owner  string   `cbor:"4,keyasint,omitempty"` // list
	// After asks a list for the page of OWNER/NAMEs after it: the Next of
	// the page before; "" for the first.
	After string `cbor:"5,keyasint,omitempty"`
}

// ClientResponse is a full node's answer.
type ClientResponse struct {
	Error *ClientError `cbor:"1,keyasint,omitempty"`
	// publish
	ID        string `cbor:"2,keyasint,omitempty"`
	Shareable bool   `cbor:"3,keyasint,omitempty"`
	// resolve: a proof the client checks with VerifyFunction; head: the
	// current update alone
	Head     []byte `cbor:"4,keyasint,omitempty"`
	Function []byte `cbor:"5,keyasint,omitempty"`
	// list, versions
	Entries []ListedEntry `cbor:"6,keyasint,omitempty"`
	// list: More says a page follows, to be asked for with After = Next
	// (the OWNER/NAME of the page's last entry).
	More bool   `cbor:"7,keyasint,omitempty"`
	Next string `cbor:"8,keyasint,omitempty"`
}

// ClientError is a refusal as it crosses the wire: a fault kind and a
// message (the keys of invoke's errors, which have more).
type ClientError struct {
	Kind    string `cbor:"1,keyasint"`
	Message string `cbor:"3,keyasint,omitempty"`
}

// ClientErrorOf turns a Go error into a ClientError.
func ClientErrorOf(err error) *ClientError {
	if err == nil {
		return nil
	}
	return &ClientError{Kind: string(fault.KindOf(err)), Message: err.Error()}
}

// Err turns a ClientError back into a Go error of its kind.
func (e *ClientError) Err() error {
	if e == nil {
		return nil
	}
	return &fault.Error{Kind: fault.Kind(e.Kind), Err: errors.New(e.Message)}
}

// ListedEntry is an Entry as the client protocol carries it.
type ListedEntry struct {
	ID          string   `cbor:"1,keyasint"`
	Owner       string   `cbor:"2,keyasint"`
	Name        string   `cbor:"3,keyasint"`
	Version     uint64   `cbor:"4,keyasint"`
	Kind        string   `cbor:"5,keyasint,omitempty"`
	Description string   `cbor:"6,keyasint,omitempty"`
	Public      bool     `cbor:"7,keyasint,omitempty"`
	Users       []string `cbor:"8,keyasint,omitempty"`
	Created     int64    `cbor:"9,keyasint,omitempty"`
	Seq         uint64   `cbor:"10,keyasint,omitempty"`
}

// Listed is e as the client protocol carries it.
func Listed(e Entry) ListedEntry {
	return ListedEntry{ID: e.ID.String(), Owner: e.Owner, Name: e.Name, Version: e.Version, Kind: string(e.Kind),
		Description: e.Description, Public: e.Access.Public, Users: e.Access.Users, Created: e.Created, Seq: e.Seq}
}

// Entry converts back to an Entry; an ID that does not parse is the zero ID.
func (e ListedEntry) Entry() Entry {
	id, _ := ParseID(e.ID)
	return Entry{ID: id, Owner: e.Owner, Name: e.Name, Version: e.Version, Kind: Kind(e.Kind),
		Description: e.Description, Access: Access{Public: e.Public, Users: e.Users}, Created: e.Created, Seq: e.Seq, Held: true}
}

// A list answer is paged so that no response grows with the catalog: a page
// holds at most ListPageEntries entries and, with its envelope, at most
// ListPageBytes once encoded (far under the client's read limit; the
// largest entry the catalog's limits allow is about 250 KiB).
const (
	ListPageEntries = 1000
	ListPageBytes   = 1 << 20
	// listPageReserve is the room kept in a page beside its entries: the
	// response's map, More and Next (an OWNER/NAME of at most ~200 bytes).
	listPageReserve = 512
)

// ListPage returns the entries of es that fit in one page, and whether
// some were left out. A page holds at least one entry, so that paging
// always advances.
func ListPage(es []Entry, maxEntries, maxBytes int) (page []ListedEntry, more bool) {
	size := listPageReserve
	for i, e := range es {
		w := Listed(e)
		if i == maxEntries || i > 0 && size+w.sizeBound() > maxBytes {
			return page, true
		}
		size += w.sizeBound()
		page = append(page, w)
	}
	return page, false
}

// sizeBound is an upper bound of e's encoded size: each of its ten fields
// with a key, a header of at most 9 bytes and its content.
func (e ListedEntry) sizeBound() int {
	n := 9 + 10*(2+9) + len(e.ID) + len(e.Owner) + len(e.Name) + len(e.Kind) + len(e.Description)
	for _, u := range e.Users {
		n += 9 + len(u)
	}
	return n
}

// clientMessages bounds the client protocol's messages: a page holds at most
// ListPageEntries entries, each with an access list of at most maxUsers.
var clientMessages = wire.Strict(wire.Bounds{Nesting: 8, Arrays: 1 << 16, MapPairs: 64})

// DecodeClientRequest decodes a client request's frame body.
func DecodeClientRequest(b []byte) (*ClientRequest, error) {
	var r ClientRequest
	if err := clientMessages.Unmarshal(b, &r); err != nil {
		return nil, fault.E(fault.Invalid, "catalog: client request", "%v", err)
	}
	return &r, nil
}

// DecodeClientResponse decodes a client response's frame body.
func DecodeClientResponse(b []byte) (*ClientResponse, error) {
	var r ClientResponse
	if err := clientMessages.Unmarshal(b, &r); err != nil {
		return nil, fault.E(fault.Invalid, "catalog: client response", "%v", err)
	}
	return &r, nil
}
