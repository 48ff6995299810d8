package node

import (
	"context"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/network"
)

// handleCatalog serves the catalog client protocol (wire.CatalogProtocol):
// one catalog.ClientRequest, one catalog.ClientResponse.
func (n *Node) handleCatalog(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(30 * time.Second))
	lim := catalog.DefaultLimits()
	b, err := readRequest(n.frameReader(s, lim.MaxRecordBytes+4<<10))
	var resp catalog.ClientResponse
	if err == nil {
		var req *catalog.ClientRequest
		if req, err = catalog.DecodeClientRequest(b); err == nil {
			resp, err = n.serveCatalog(req)
		}
	}
	if err != nil {
		resp = catalog.ClientResponse{Error: catalog.ClientErrorOf(err)}
	}
	if err := wire.WriteMsg(s, resp); err != nil {
		s.Reset()
	}
}

func (n *Node) serveCatalog(req *catalog.ClientRequest) (catalog.ClientResponse, error) {
	switch req.Op {
	case catalog.ClientPublish:
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		ch, err := n.catalog.Publish(ctx, n.topic, req.Update)
		if err != nil {
			return catalog.ClientResponse{}, err
		}
		return catalog.ClientResponse{ID: ch.ID.String(), Shareable: ch.Shareable}, nil
	case catalog.ClientResolve:
		r, err := n.catalog.Resolve(req.Ref)
		if err != nil {
			return catalog.ClientResponse{}, err
		}
		head, fn, err := n.catalog.Proof(r.ID)
		if err != nil {
			return catalog.ClientResponse{}, err
		}
		return catalog.ClientResponse{Head: head, Function: fn}, nil
	case catalog.ClientList:
		// One more than a page can hold says whether more follow.
		es := n.catalog.List(catalog.Filter{Owner: req.Owner, After: req.After, Limit: catalog.ListPageEntries + 1})
		page, more := catalog.ListPage(es, catalog.ListPageEntries, catalog.ListPageBytes)
		resp := catalog.ClientResponse{Entries: page, More: more}
		if more {
			last := page[len(page)-1]
			resp.Next = last.Owner + "/" + last.Name
		}
		return resp, nil
	case catalog.ClientHead:
		owner, name, ok := catalog.SplitRef(req.Ref)
		if !ok {
			return catalog.ClientResponse{}, fault.E(fault.Invalid, "", "%q is not OWNER/NAME", req.Ref)
		}
		su, err := n.catalog.Head(owner, name)
		if err != nil {
			return catalog.ClientResponse{}, err
		}
		return catalog.ClientResponse{Head: su.Envelope}, nil
	case catalog.ClientVersions:
		owner, name, ok := catalog.SplitRef(req.Ref)
		if !ok {
			return catalog.ClientResponse{}, fault.E(fault.Invalid, "", "%q is not OWNER/NAME", req.Ref)
		}
		es, err := n.catalog.Versions(owner, name)
		if err != nil {
			return catalog.ClientResponse{}, err
		}
		var out []catalog.ListedEntry
		for _, e := range es {
			out = append(out, catalog.Listed(e))
		}
		return catalog.ClientResponse{Entries: out}, nil
	}
	return catalog.ClientResponse{}, fault.E(fault.Invalid, "", "unknown catalog operation %q", req.Op)
}
