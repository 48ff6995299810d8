package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ask sends req to the entry peers in turn until one answers; an answer that
// is an error (not-found, invalid…) is final, an unreachable peer is not.
func (c *Client) ask(ctx context.Context, req catalogRequest) (*catalogResponse, error) {
	resp, _, err := c.askFrom(ctx, req)
	return resp, err
}

// askFrom is ask that also says which peer answered.
func (c *Client) askFrom(ctx context.Context, req catalogRequest) (*catalogResponse, peer.ID, error) {
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
		return nil, "", fault.E(fault.Unavailable, "node: catalog", "no full node to ask")
	}
	return nil, "", fault.Wrap(fault.Unavailable, "node: catalog", errors.Join(errs...))
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
	// From is the full node that answered; empty when the function came
	// from the user's own store.
	From peer.ID
}

// ResolveFunction finds a function by ID, OWNER/NAME or OWNER/NAME@VERSION
// and verifies what the node sent: a record validly signed by its owner
// that is exactly the one asked for (see answers). A node that answers
// with another is refused (invalid) and logged.
func (c *Client) ResolveFunction(ctx context.Context, ref string) (*Function, error) {
	resp, p, err := c.askFrom(ctx, catalogRequest{Op: opResolve, Ref: ref})
	if err != nil {
		return nil, err
	}
	fn, id, su, err := catalog.VerifyFunction(resp.Head, resp.Function, catalog.Limits{})
	if err != nil {
		c.log.Warn("catalog: a node sent a bad record", "peer", p, "ref", ref, "err", err)
		return nil, fmt.Errorf("node: resolve %s: node %s sent a bad record: %w", ref, p, err)
	}
	if err := answers(ref, fn, id, &su.Update); err != nil {
		c.log.Warn("catalog: a node answered with another record", "peer", p, "ref", ref, "got", fn.Ref(), "version", fn.Version, "id", id)
		return nil, fmt.Errorf("node: resolve %s: node %s: %w", ref, p, err)
	}
	return &Function{ID: id, Function: fn, Update: su, Proof: &invoke.Proof{Head: resp.Head, Function: resp.Function}, From: p}, nil
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
	owner, name, ok := cutRef(ref)
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
