package client

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fxmesh/fxmesh/require"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// MissingModule returns the top-level module that a function's
// ModuleNotFoundError says it could not import ("No module named
// 'foo.bar'" is foo), and whether e is such an error.
func MissingModule(e *ResultError) (string, bool) {
	if e == nil || e.Type != "ModuleNotFoundError" {
		return "", false
	}
	_, rest, ok := strings.Cut(e.Message, "'")
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, "'")
	name, _, _ = strings.Cut(name, ".")
	if !ok || !require.ValidModuleName(name) {
		return "", false
	}
	return name, true
}

// ModuleHolders returns the records of the endpoints known to the mesh,
// online, that advertise the Python distribution name (compared as
// require.NormalizeModule writes it), sorted by name and ID.
func (c *Client) ModuleHolders(ctx context.Context, name string) ([]*EndpointRecord, error) {
	cands, err := c.candidates(ctx, routing.KeyEndpoint)
	if err != nil {
		return nil, err
	}
	var out []*EndpointRecord
	for _, cand := range cands {
		if cand.Record == nil || !cand.Online {
			continue
		}
		if _, ok := routing.FindModule(cand.Record.Software.Modules, name); ok {
			out = append(out, cand.Record)
		}
	}
	slices.SortFunc(out, func(a, b *EndpointRecord) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// maxHoldersNamed bounds how many endpoints MissingModuleMessage names.
const maxHoldersNamed = 5

// MissingModuleMessage explains a result whose function could not import
// a module (MissingModule): which module, which endpoint lacks it, which
// known endpoints have it (ModuleHolders), and how to send the function
// there. ok is false when e is not such an error.
func (c *Client) MissingModuleMessage(ctx context.Context, endpoint peer.ID, e *ResultError) (msg string, ok bool) {
	name, ok := MissingModule(e)
	if !ok {
		return "", false
	}
	where := "endpoint " + endpoint.String()
	if info, err := c.Endpoint(ctx, endpoint); err == nil && info.Record != nil && info.Record.Name != "" {
		where = fmt.Sprintf("endpoint %s (%s)", info.Record.Name, endpoint)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the function imports Python module %s, which %s does not have (ModuleNotFoundError: %s)", name, where, e.Message)
	holders, err := c.ModuleHolders(ctx, name)
	switch {
	case err != nil:
		fmt.Fprintf(&b, "; could not ask which endpoints have it: %v", err)
	case len(holders) == 0:
		fmt.Fprintf(&b, "; no known endpoint advertises a Python distribution named %s (a distribution's name may differ from the module's: sklearn is scikit-learn)", require.NormalizeModule(name))
	default:
		named := make([]string, 0, maxHoldersNamed)
		for _, r := range holders[:min(len(holders), maxHoldersNamed)] {
			m, _ := routing.FindModule(r.Software.Modules, name)
			named = append(named, fmt.Sprintf("%s (%s, %s %s)", cmp.Or(r.Name, "-"), r.ID, m.Name, cmp.Or(m.Version, "of no version")))
		}
		more := ""
		if len(holders) > len(named) {
			more = fmt.Sprintf(" and %d more", len(holders)-len(named))
		}
		fmt.Fprintf(&b, "; endpoints that have it: %s%s. Run with --require module=%s, or register the function with --require module=%s, to be routed to them",
			strings.Join(named, ", "), more, name, name)
	}
	return b.String(), true
}
