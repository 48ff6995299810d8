package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ask sends req to the entry peers in turn until one answers; an answer that
// is an error (not-found, invalid…) is final, an unreachable peer is not.
func (c *Client) ask(ctx context.Context, req catalog.ClientRequest) (*catalog.ClientResponse, error) {
	resp, _, err := c.askFrom(ctx, req)
	return resp, err
}

// askFrom is ask that also says which peer answered.
func (c *Client) askFrom(ctx context.Context, req catalog.ClientRequest) (*catalog.ClientResponse, peer.ID, error) {
	var errs []error
	for _, p := range c.entry {
		resp, err := catalogCall(ctx, c.host, p, req)
		if err == nil {
			return resp, p, nil
		}
		if fault.KindOf(err) != fault.Unavailable {
			return nil, p, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, "", fault.E(fault.Unavailable, "client: catalog", "no full node to ask")
	}
	return nil, "", fault.Wrap(fault.Unavailable, "client: catalog", errors.Join(errs...))
}

// PublishUpdate sends a signed catalog update to a full node and returns once
// that node has stored it (and gossiped it on).
func (c *Client) PublishUpdate(ctx context.Context, env []byte) error {
	_, err := c.ask(ctx, catalog.ClientRequest{Op: catalog.ClientPublish, Update: env})
	return err
}

// ResolvedFunction is a function found in the catalog, checked against its
// owner's signature.
type ResolvedFunction struct {
	ID       catalog.ID
	Function *catalog.Function
	Update   *catalog.SignedUpdate
	// Proof lets an endpoint that lacks the function check and run it.
	Proof *invoke.Proof
	// From is the full node that answered; empty when the function came
	// from the user's own store.
	From peer.ID
}

// ResolveFunction finds a function by ID, OWNER/NAME or OWNER/NAME@VERSION
// and verifies what the node sent: a record validly signed by its owner
// that is exactly the one asked for (see answers). A node that answers
// with another is refused (invalid) and logged.
func (c *Client) ResolveFunction(ctx context.Context, ref string) (*ResolvedFunction, error) {
	resp, p, err := c.askFrom(ctx, catalog.ClientRequest{Op: catalog.ClientResolve, Ref: ref})
	if err != nil {
		return nil, err
	}
	fn, id, su, err := catalog.VerifyFunction(resp.Head, resp.Function, catalog.Limits{})
	if err != nil {
		c.log.Warn("catalog: a node sent a bad record", "peer", p, "ref", ref, "err", err)
		return nil, fmt.Errorf("client: resolve %s: node %s sent a bad record: %w", ref, p, err)
	}
	if err := answers(ref, fn, id, &su.Update); err != nil {
		c.log.Warn("catalog: a node answered with another record", "peer", p, "ref", ref, "got", fn.Ref(), "version", fn.Version, "id", id)
		return nil, fmt.Errorf("client: resolve %s: node %s: %w", ref, p, err)
	}
	return &ResolvedFunction{ID: id, Function: fn, Update: su, Proof: &invoke.Proof{Head: resp.Head, Function: resp.Function}, From: p}, nil
}

// answers checks that fn (with ID id, listed by u) is what ref names: the
// function with that ID; or OWNER/NAME's highest version; or its version
// VERSION. It is pure.
func answers(ref string, fn *catalog.Function, id catalog.ID, u *catalog.Update) error {
	if want, err := catalog.ParseID(ref); err == nil {
		if want != id {
			return fault.E(fault.Invalid, "", "asked for %s, got %s", ref, id)
		}
		return nil
	}
	owner, name, ok := catalog.SplitRef(ref)
	if !ok {
		return fault.E(fault.Invalid, "", "%q is neither OWNER/NAME[@VERSION] nor a function ID", ref)
	}
	name, ver, hasVer := strings.Cut(name, "@")
	if fn.Owner != owner || fn.Name != name {
		return fault.E(fault.Invalid, "", "asked for %s/%s, got %s", owner, name, fn.Ref())
	}
	if hasVer {
		if v, err := strconv.ParseUint(ver, 10, 64); err != nil || v != fn.Version {
			return fault.E(fault.Invalid, "", "asked for version %s of %s, got version %d", ver, fn.Ref(), fn.Version)
		}
		return nil
	}
	if latest, _ := u.Latest(); latest.ID != id {
		return fault.E(fault.Invalid, "", "asked for the highest version of %s (%d), got version %d", fn.Ref(), latest.Version, fn.Version)
	}
	return nil
}

// Head returns the mesh's current update of OWNER/NAME.
func (c *Client) Head(ctx context.Context, owner, name string) (*catalog.SignedUpdate, error) {
	resp, err := c.ask(ctx, catalog.ClientRequest{Op: catalog.ClientHead, Ref: owner + "/" + name})
	if err != nil {
		return nil, err
	}
	su, err := catalog.DecodeUpdate(resp.Head, catalog.Limits{})
	if err != nil {
		return nil, fmt.Errorf("client: head %s/%s: a node sent a bad record: %w", owner, name, err)
	}
	if su.Update.Owner != owner || su.Update.Name != name {
		return nil, fault.E(fault.Invalid, "client: head", "asked for %s/%s, got %s", owner, name, su.Update.Ref())
	}
	return su, nil
}

// maxListEntries bounds what ListFunctions gathers over all pages.
const maxListEntries = 100_000

// ListFunctions lists the functions the mesh knows, optionally of one owner,
// sorted by OWNER/NAME. It asks for page after page, each starting after
// the last OWNER/NAME of the one before, up to maxListEntries in all.
func (c *Client) ListFunctions(ctx context.Context, owner string) ([]catalog.Entry, error) {
	var out []catalog.Entry
	after := ""
	for {
		resp, err := c.ask(ctx, catalog.ClientRequest{Op: catalog.ClientList, Owner: owner, After: after})
		if err != nil {
			return nil, err
		}
		out = append(out, entries(resp.Entries)...)
		if !resp.More {
			return out, nil
		}
		if resp.Next <= after {
			return nil, fault.E(fault.Invalid, "client: list", "a node's page after %q goes on from %q: it does not advance", after, resp.Next)
		}
		if len(out) >= maxListEntries {
			return nil, fault.E(fault.TooLarge, "client: list", "the catalog lists more than %d functions; list one owner's (--owner)", maxListEntries)
		}
		after = resp.Next
	}
}

// Versions lists every version of OWNER/NAME.
func (c *Client) Versions(ctx context.Context, owner, name string) ([]catalog.Entry, error) {
	resp, err := c.ask(ctx, catalog.ClientRequest{Op: catalog.ClientVersions, Ref: owner + "/" + name})
	if err != nil {
		return nil, err
	}
	return entries(resp.Entries), nil
}

func entries(w []catalog.ListedEntry) []catalog.Entry {
	out := make([]catalog.Entry, 0, len(w))
	for _, e := range w {
		out = append(out, e.Entry())
	}
	return out
}

// catalogCall sends one catalog request to peer p on h.
func catalogCall(ctx context.Context, h host.Host, p peer.ID, req catalog.ClientRequest) (*catalog.ClientResponse, error) {
	s, err := h.NewStream(ctx, p, wire.CatalogProtocol)
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, "client: catalog", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := wire.WriteMsg(s, req); err != nil {
		s.Reset()
		return nil, fault.Wrap(fault.Unavailable, "client: catalog", err)
	}
	_ = s.CloseWrite()
	b, err := wire.ReadFrame(bufio.NewReader(s), catalog.DefaultLimits().MaxSyncBytes)
	if err != nil {
		s.Reset()
		return nil, fault.Wrap(fault.Unavailable, "client: catalog", err)
	}
	resp, err := catalog.DecodeClientResponse(b)
	if err != nil {
		return nil, fault.E(fault.Invalid, "client: catalog", "bad response: %v", err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("client: catalog %s: %w", req.Op, resp.Error.Err())
	}
	return resp, nil
}
