package localapi

import (
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestRouteCache: a ranking is reused for its function and requirements
// only, for routeTTL and no longer (nor from a clock that went back), and
// a dropped one is gone; the refusals that pass a task over are those of
// client.Start.
func TestRouteCache(t *testing.T) {
	k, _ := identity.GenerateKey()
	ep := []peer.ID{k.ID()}
	fn := func(name string) *client.ResolvedFunction {
		id, err := (&catalog.Function{Name: name}).ID()
		if err != nil {
			t.Fatal(err)
		}
		return &client.ResolvedFunction{ID: id}
	}
	f, g := fn("f"), fn("g")
	base := client.RouteRequest{Function: f, Require: []string{"python>=3.8"}}
	now := time.Now()
	var c routeCache
	c.put(routeKey(base), ep, now)
	others := map[string]client.RouteRequest{
		"another function":       {Function: g, Require: base.Require},
		"other requirements":     {Function: f, Require: []string{"python>=3.10"}},
		"no requirements":        {Function: f},
		"more requirements":      {Function: f, Require: []string{"python>=3.8", "gpus>=1"}},
		"any owner":              {Function: f, Require: base.Require, AnyOwner: true},
		"requirement split in 2": {Function: f, Require: []string{"python>=3", ".8"}},
	}
	for name, r := range others {
		if _, ok := c.get(routeKey(r), now); ok {
			t.Errorf("%s: the ranking of another kind of task was reused", name)
		}
	}
	if got, ok := c.get(routeKey(base), now.Add(routeTTL-time.Millisecond)); !ok || len(got) != 1 || got[0] != ep[0] {
		t.Fatalf("a fresh ranking: %v, %v", got, ok)
	}
	for name, at := range map[string]time.Time{"expired": now.Add(routeTTL), "clock back": now.Add(-time.Second)} {
		if _, ok := c.get(routeKey(base), at); ok {
			t.Errorf("%s: reused", name)
		}
	}
	c.drop(routeKey(base))
	if _, ok := c.get(routeKey(base), now); ok {
		t.Fatal("a dropped ranking was reused")
	}
	for kind, want := range map[fault.Kind]bool{fault.Overloaded: true, fault.Unavailable: true, fault.Denied: false, fault.System: false, fault.Invalid: false} {
		if got := passedOver(fault.E(kind, "", "x")); got != want {
			t.Errorf("%s passes over: %v, want %v", kind, got, want)
		}
	}
}
