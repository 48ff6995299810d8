package node

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// catalogOp names a catalog request.
type catalogOp string

const (
	opPublish  catalogOp = "publish"
	opResolve  catalogOp = "resolve"
	opList     catalogOp = "list"
	opVersions catalogOp = "versions"
	opHead     catalogOp = "head"
)

type catalogRequest struct {
	Op     catalogOp `cbor:"1,keyasint"`
	Update []byte    `cbor:"2,keyasint,omitempty"` // publish
	Ref    string    `cbor:"3,keyasint,omitempty"` // resolve, versions, head
	Owner  string    `cbor:"4,keyasint,omitempty"` // list
	// After asks a list for the page of OWNER/NAMEs after it: the Next of
	// the page before; "" for the first.
	After string `cbor:"5,keyasint,omitempty"`
}

type catalogResponse struct {
	Error *invoke.Error `cbor:"1,keyasint,omitempty"`
	// publish
	ID        string `cbor:"2,keyasint,omitempty"`
	Shareable bool   `cbor:"3,keyasint,omitempty"`
	// resolve: a proof the client checks with catalog.VerifyFunction
	Head     []byte `cbor:"4,keyasint,omitempty"`
	Function []byte `cbor:"5,keyasint,omitempty"`
	// list, versions
	Entries []catalogEntry `cbor:"6,keyasint,omitempty"`
	// list: More says a page follows, to be asked for with After = Next
	// (the OWNER/NAME of the page's last entry).
	More bool   `cbor:"7,keyasint,omitempty"`
	Next string `cbor:"8,keyasint,omitempty"`
}

// A list answer is paged so that no response grows with the catalog: a page
// holds at most listPageEntries entries and, with its envelope, at most
// listPageBytes once encoded (far under the client's read limit; the
// largest entry the catalog's limits allow is about 250 KiB).
const (
	listPageEntries = 1000
	listPageBytes   = 1 << 20
	// listPageReserve is the room kept in a page beside its entries: the
	// response's map, More and Next (an OWNER/NAME of at most ~200 bytes).
	listPageReserve = 512
)

// listPage returns the wire entries of es that fit in one page, and whether
// some were left out. A page holds at least one entry, so that paging
// always advances.
func listPage(es []catalog.Entry, maxEntries, maxBytes int) (page []catalogEntry, more bool) {
	size := listPageReserve
	for i, e := range es {
		w := entryToWire(e)
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
func (e catalogEntry) sizeBound() int {
	n := 9 + 10*(2+9) + len(e.ID) + len(e.Owner) + len(e.Name) + len(e.Kind) + len(e.Description)
	for _, u := range e.Users {
		n += 9 + len(u)
	}
	return n
}

// catalogEntry is catalog.Entry on the wire.
type catalogEntry struct {
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

func entryToWire(e catalog.Entry) catalogEntry {
	return catalogEntry{ID: e.ID.String(), Owner: e.Owner, Name: e.Name, Version: e.Version, Kind: string(e.Kind),
		Description: e.Description, Public: e.Access.Public, Users: e.Access.Users, Created: e.Created, Seq: e.Seq}
}

// Entry converts back to the catalog's type.
func (e catalogEntry) entry() catalog.Entry {
	id, _ := catalog.ParseID(e.ID)
	return catalog.Entry{ID: id, Owner: e.Owner, Name: e.Name, Version: e.Version, Kind: catalog.Kind(e.Kind),
		Description: e.Description, Access: catalog.Access{Public: e.Public, Users: e.Users}, Created: e.Created, Seq: e.Seq, Held: true}
}

var protoDec = func() cbor.DecMode {
	d, err := cbor.DecOptions{
		DupMapKey: cbor.DupMapKeyEnforcedAPF, MaxNestedLevels: 8, MaxArrayElements: 1 << 16,
		MaxMapPairs: 64, IndefLength: cbor.IndefLengthForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return d
}()

func decodeCatalogRequest(b []byte) (*catalogRequest, error) {
	var r catalogRequest
	if err := protoDec.Unmarshal(b, &r); err != nil {
		return nil, fault.E(fault.Invalid, "node: catalog request", "%v", err)
	}
	return &r, nil
}

func (n *Node) handleCatalog(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(30 * time.Second))
	lim := catalog.DefaultLimits()
	b, err := readRequest(n.frameReader(s, lim.MaxRecordBytes+4<<10))
	var resp catalogResponse
	if err == nil {
		var req *catalogRequest
		if req, err = decodeCatalogRequest(b); err == nil {
			resp, err = n.serveCatalog(req)
		}
	}
	if err != nil {
		resp = catalogResponse{Error: invoke.ErrorOf(err)}
	}
	if err := wire.WriteMsg(s, resp); err != nil {
		s.Reset()
	}
}

func (n *Node) serveCatalog(req *catalogRequest) (catalogResponse, error) {
	switch req.Op {
	case opPublish:
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		ch, err := n.catalog.Publish(ctx, n.topic, req.Update)
		if err != nil {
			return catalogResponse{}, err
		}
		return catalogResponse{ID: ch.ID.String(), Shareable: ch.Shareable}, nil
	case opResolve:
		r, err := n.catalog.Resolve(req.Ref)
		if err != nil {
			return catalogResponse{}, err
		}
		head, fn, err := n.catalog.Proof(r.ID)
		if err != nil {
			return catalogResponse{}, err
		}
		return catalogResponse{Head: head, Function: fn}, nil
	case opList:
		// One more than a page can hold says whether more follow.
		es := n.catalog.List(catalog.Filter{Owner: req.Owner, After: req.After, Limit: listPageEntries + 1})
		page, more := listPage(es, listPageEntries, listPageBytes)
		resp := catalogResponse{Entries: page, More: more}
		if more {
			last := page[len(page)-1]
			resp.Next = last.Owner + "/" + last.Name
		}
		return resp, nil
	case opHead:
		owner, name, ok := cutRef(req.Ref)
		if !ok {
			return catalogResponse{}, fault.E(fault.Invalid, "", "%q is not OWNER/NAME", req.Ref)
		}
		su, err := n.catalog.Head(owner, name)
		if err != nil {
			return catalogResponse{}, err
		}
		return catalogResponse{Head: su.Envelope}, nil
	case opVersions:
		owner, name, ok := cutRef(req.Ref)
		if !ok {
			return catalogResponse{}, fault.E(fault.Invalid, "", "%q is not OWNER/NAME", req.Ref)
		}
		es, err := n.catalog.Versions(owner, name)
		if err != nil {
			return catalogResponse{}, err
		}
		var out []catalogEntry
		for _, e := range es {
			out = append(out, entryToWire(e))
		}
		return catalogResponse{Entries: out}, nil
	}
	return catalogResponse{}, fault.E(fault.Invalid, "", "unknown catalog operation %q", req.Op)
}

func cutRef(ref string) (owner, name string, ok bool) {
	for i := 0; i < len(ref); i++ {
		if ref[i] == '/' {
			return ref[:i], ref[i+1:], i > 0 && i < len(ref)-1
		}
	}
	return "", "", false
}

// catalogCall sends one catalog request to peer p.
func catalogCall(ctx context.Context, h interface {
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}, p peer.ID, req catalogRequest) (*catalogResponse, error) {
	s, err := h.NewStream(ctx, p, wire.CatalogProtocol)
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, "node: catalog", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := wire.WriteMsg(s, req); err != nil {
		s.Reset()
		return nil, fault.Wrap(fault.Unavailable, "node: catalog", err)
	}
	_ = s.CloseWrite()
	var resp catalogResponse
	b, err := wire.ReadFrame(bufio.NewReader(s), catalog.DefaultLimits().MaxSyncBytes)
	if err != nil {
		s.Reset()
		return nil, fault.Wrap(fault.Unavailable, "node: catalog", err)
	}
	if err := protoDec.Unmarshal(b, &resp); err != nil {
		return nil, fault.E(fault.Invalid, "node: catalog", "bad response: %v", err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("node: catalog %s: %w", req.Op, resp.Error.Err())
	}
	return &resp, nil
}
