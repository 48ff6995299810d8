package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// ask sends req to the entry peers in turn until one answers; an answer that
// is an error (not-found, invalid…) is final, an unreachable peer is not.
func (c *Client) ask(ctx context.Context, req catalogRequest) (*catalogResponse, error) {
	var errs []error
	for _, p := range c.entry {
		resp, err := catalogCall(ctx, c.host, p, req)
		if err == nil {
			return resp, nil
		}
		if fault.KindOf(err) != fault.Unavailable {
			return nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fault.E(fault.Unavailable, "node: catalog", "no full node to ask")
	}
	return nil, fault.Wrap(fault.Unavailable, "node: catalog", errors.Join(errs...))
}

// PublishUpdate sends a signed catalog update to a full node and returns once
// that node has stored it (and gossiped it on).
func (c *Client) PublishUpdate(ctx context.Context, env []byte) error {
	_, err := c.ask(ctx, catalogRequest{Op: opPublish, Update: env})
	return err
}

// Function is a function found in the mesh's catalog, checked against its
// owner's signature.
type Function struct {
	ID       catalog.ID
	Function *catalog.Function
	Update   *catalog.SignedUpdate
	// Proof lets an endpoint that lacks the function check and run it.
	Proof *invoke.Proof
}

// ResolveFunction finds a function by ID, OWNER/NAME or OWNER/NAME@VERSION
// and verifies what the node sent.
func (c *Client) ResolveFunction(ctx context.Context, ref string) (*Function, error) {
	resp, err := c.ask(ctx, catalogRequest{Op: opResolve, Ref: ref})
	if err != nil {
		return nil, err
	}
	fn, id, su, err := catalog.VerifyFunction(resp.Head, resp.Function, catalog.Limits{})
	if err != nil {
		return nil, fmt.Errorf("node: resolve %s: a node sent a bad record: %w", ref, err)
	}
	if cid, perr := catalog.ParseID(ref); perr == nil && cid != id {
		return nil, fault.E(fault.Invalid, "node: resolve", "asked for %s, got %s", ref, id)
	}
	return &Function{ID: id, Function: fn, Update: su, Proof: &invoke.Proof{Head: resp.Head, Function: resp.Function}}, nil
}

// Head returns the mesh's current update of OWNER/NAME.
func (c *Client) Head(ctx context.Context, owner, name string) (*catalog.SignedUpdate, error) {
	resp, err := c.ask(ctx, catalogRequest{Op: opHead, Ref: owner + "/" + name})
	if err != nil {
		return nil, err
	}
	su, err := catalog.DecodeUpdate(resp.Head, catalog.Limits{})
	if err != nil {
		return nil, fmt.Errorf("node: head %s/%s: a node sent a bad record: %w", owner, name, err)
	}
	if su.Update.Owner != owner || su.Update.Name != name {
		return nil, fault.E(fault.Invalid, "node: head", "asked for %s/%s, got %s", owner, name, su.Update.Ref())
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
		resp, err := c.ask(ctx, catalogRequest{Op: opList, Owner: owner, After: after})
		if err != nil {
			return nil, err
		}
		out = append(out, entries(resp.Entries)...)
		if !resp.More {
			return out, nil
		}
		if resp.Next <= after {
			return nil, fault.E(fault.Invalid, "node: list", "a node's page after %q goes on from %q: it does not advance", after, resp.Next)
		}
		if len(out) >= maxListEntries {
			return nil, fault.E(fault.TooLarge, "node: list", "the catalog lists more than %d functions; list one owner's (--owner)", maxListEntries)
		}
		after = resp.Next
	}
}

// Versions lists every version of OWNER/NAME.
func (c *Client) Versions(ctx context.Context, owner, name string) ([]catalog.Entry, error) {
	resp, err := c.ask(ctx, catalogRequest{Op: opVersions, Ref: owner + "/" + name})
	if err != nil {
		return nil, err
	}
	return entries(resp.Entries), nil
}

func entries(w []catalogEntry) []catalog.Entry {
	out := make([]catalog.Entry, 0, len(w))
	for _, e := range w {
		out = append(out, e.entry())
	}
	return out
}
