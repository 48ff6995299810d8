package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestRoutingTrustsOnlyVerifiedOwners: alice routes work. "forged" says
// alice owns it but has no claim of hers; "bobs" is bob's, claimed. Neither
// gets alice's work by default; trusting bob lets "bobs" have it, never
// "forged"; AnyOwner or naming the endpoint uses either.
func TestRoutingTrustsOnlyVerifiedOwners(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	alice, bob := mustKey(t), mustKey(t)
	m, err := Start(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	config := func(name, owner string) *node.Config {
		return &node.Config{Name: name, Owner: owner, Public: true, Workers: 1, Bootstrap: m.Bootstrap.Addrs()}
	}
	forged, err := m.AddEndpoint(ctx, config("forged", alice.ID().String()))
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := m.AddOwnedEndpoint(ctx, config("bobs", bob.ID().String()), bob)
	if err != nil {
		t.Fatal(err)
	}
	names := map[peer.ID]string{forged.ID(): "forged", bobs.ID(): "bobs"}
	for _, ep := range m.Endpoints {
		select {
		case <-ep.Joined():
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}

	dial := func(trusted ...peer.ID) *client.Client {
		c, err := client.New(ctx, client.Options{Key: alice, Bootstrap: m.Bootstrap.Addrs(), TrustedOwners: trusted, Logger: m.log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	plain := dial()
	u := &client.UserCatalog{Key: alice, Mesh: plain}
	if _, err := u.Register(ctx, catalog.Function{Name: "compute", Kind: catalog.KindPython, Source: testSource, Entry: "compute"}, catalog.Access{Public: true}); err != nil {
		t.Fatal(err)
	}
	fn, err := u.Resolve(ctx, "compute")
	if err != nil {
		t.Fatal(err)
	}
	// run runs fn once with c and returns where it ran.
	run := func(c *client.Client, w client.RunRequest) (string, error) {
		where := ""
		w.RouteRequest.Function = fn
		w.Inputs = []invoke.Input{{Args: []byte(`[1, 2]`)}}
		w.OnResult = func(ep peer.ID, r invoke.Result) {
			if r.Error != nil {
				t.Errorf("%s: %+v", names[ep], r.Error)
			}
			where = names[ep]
		}
		err := c.RunRouted(ctx, w)
		return where, err
	}

	t.Run("the records say who is verified", func(t *testing.T) {
		eps, err := plain.Endpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range eps {
			got[e.Record.Name] = e.Record.OwnerUnverified
			if e.Record.OwnerVerified != (e.Record.OwnerUnverified == "") {
				t.Errorf("%s: verified %v, unverified %q", e.Record.Name, e.Record.OwnerVerified, e.Record.OwnerUnverified)
			}
		}
		if len(got) != 2 || got["forged"] != "no owner claim" || got["bobs"] != "" {
			t.Fatalf("owner problems %q", got)
		}
	})
	t.Run("by default neither is used, and the error says what to do", func(t *testing.T) {
		var explain strings.Builder
		where, err := run(plain, client.RunRequest{Explain: &explain})
		if fault.KindOf(err) != fault.NotFound || where != "" {
			t.Fatalf("ran on %q: %v", where, err)
		}
		for _, want := range []string{routing.ReasonUnverifiedOwner, routing.ReasonUntrustedOwner, "fx trust add " + bob.ID().String(), "--any-endpoint"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
		for _, want := range []string{"forged", "rejected: " + routing.ReasonUnverifiedOwner, "bobs", "rejected: " + routing.ReasonUntrustedOwner} {
			if !strings.Contains(explain.String(), want) {
				t.Errorf("explain lacks %q:\n%s", want, explain.String())
			}
		}
		t.Logf("explain:\n%s", explain.String())
	})
	t.Run("trusting bob uses his endpoint, never the one claiming alice", func(t *testing.T) {
		c := dial(bob.ID())
		for range 3 {
			where, err := run(c, client.RunRequest{})
			if err != nil || where != "bobs" {
				t.Fatalf("ran on %q: %v", where, err)
			}
		}
	})
	t.Run("any owner uses either", func(t *testing.T) {
		seen := map[string]bool{}
		for _, exclude := range []string{forged.ID().String(), bobs.ID().String()} {
			where, err := run(plain, client.RunRequest{RouteRequest: client.RouteRequest{AnyOwner: true, Exclude: map[string]bool{exclude: true}}})
			if err != nil {
				t.Fatal(err)
			}
			seen[where] = true
		}
		if !seen["forged"] || !seen["bobs"] {
			t.Fatalf("ran on %v", seen)
		}
	})
	t.Run("naming an endpoint states trust", func(t *testing.T) {
		for _, ep := range []*node.Node{forged, bobs} {
			where, err := run(plain, client.RunRequest{Endpoint: ep.ID()})
			if err != nil || where != names[ep.ID()] {
				t.Fatalf("ran on %q, want %s: %v", where, names[ep.ID()], err)
			}
		}
	})
	t.Run("the owner's own claimed endpoint is used", func(t *testing.T) {
		mine, err := m.AddOwnedEndpoint(ctx, config("mine", alice.ID().String()), alice)
		if err != nil {
			t.Fatal(err)
		}
		names[mine.ID()] = "mine"
		select {
		case <-mine.Joined():
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		where, err := run(plain, client.RunRequest{})
		if err != nil || where != "mine" {
			t.Fatalf("ran on %q: %v", where, err)
		}
	})
}
