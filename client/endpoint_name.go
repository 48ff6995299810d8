package client

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ResolveEndpoint turns what a user gives as --endpoint into a node ID: an
// ID as it is, or an endpoint's name. A name is whatever an endpoint says
// of itself, so it never implies trust: it is looked up only among the
// endpoints whose owner is verified and is the user or an owner they trust
// (fx trust). A name no such endpoint has fails as not-found (naming the
// untrusted endpoints that have it, and the near names); a name two of them
// have fails as invalid, listing them.
func (c *Client) ResolveEndpoint(ctx context.Context, ref string) (peer.ID, error) {
	if id, err := identity.ParseID(ref); err == nil {
		return id, nil
	}
	all, err := c.Endpoints(ctx)
	if err != nil {
		return "", err
	}
	return pickEndpoint(ref, all, c.ID(), c.trusted)
}

// pickEndpoint is ResolveEndpoint's choice among the endpoints all, for a
// user me who trusts the owners trusted. It is pure.
func pickEndpoint(name string, all []EndpointInfo, me peer.ID, trusted []peer.ID) (peer.ID, error) {
	var mine, others []*EndpointRecord
	var names []string
	for _, e := range all {
		r := e.Record
		owner, _ := peer.Decode(r.Owner)
		ok := r.OwnerVerified && owner != "" && (owner == me || slices.Contains(trusted, owner))
		if ok {
			names = append(names, r.Name)
		}
		if r.Name != name {
			continue
		}
		if ok {
			mine = append(mine, r)
		} else {
			others = append(others, r)
		}
	}
	switch len(mine) {
	case 1:
		id, err := peer.Decode(mine[0].ID)
		if err != nil {
			return "", fault.E(fault.Invalid, "", "endpoint %q has a bad ID %q", name, mine[0].ID)
		}
		return id, nil
	case 0:
	default:
		list := make([]string, len(mine))
		for i, r := range mine {
			list[i] = fmt.Sprintf("%s (owner %s)", r.ID, r.Owner)
		}
		return "", fault.E(fault.Invalid, "", "%d endpoints you trust are named %q: %s; give --endpoint one of their IDs", len(mine), name, strings.Join(list, ", "))
	}
	msg := fmt.Sprintf("no endpoint you trust is named %q", name)
	if len(others) > 0 {
		ids := make([]string, len(others))
		for i, r := range others {
			ids[i] = r.ID
		}
		msg += fmt.Sprintf("; %s whose owner is unverified or not trusted by you %s that name (names prove nothing): give its ID (%s) to use it anyway, or fx trust add its owner",
			plural(len(others), "endpoint"), map[bool]string{true: "has", false: "have"}[len(others) == 1], strings.Join(ids, ", "))
	} else if s := Suggest(name, names); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	} else {
		msg += "; fx endpoints lists them"
	}
	return "", fault.E(fault.NotFound, "", "%s", msg)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
