package sim

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestContainerRouting (issue 11): a function with a container image is
// routed by the endpoints' records: first to the endpoint whose runtime
// holds the image, then to one that says it may pull it, never to one
// without a runtime; routed, it runs in the image where it is held.
//
//	holds: Docker, its real images (the test images among them)
//	pulls: Docker, its record says it holds nothing and pulls (a fake
//	       probe: the executor does not pull yet; work is never run here)
//	plain: no container runtime (containers: none)
func TestContainerRouting(t *testing.T) {
	exectest.NeedDockerImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	names := []string{"holds", "pulls", "plain"}
	owner, _ := identity.GenerateKey()
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: len(names), Owner: owner,
		Configure: func(i int, cfg *node.Config) {
			cfg.Name, cfg.Public, cfg.Workers = names[i], true, 1
			cfg.Containers.Runtime = node.RuntimeDocker
			if names[i] == "plain" {
				cfg.Containers.Runtime = node.RuntimeNone
			}
		},
		Containers: func(i int) node.ContainerProbe {
			if names[i] != "pulls" {
				return nil
			}
			return func(context.Context) (node.ContainerInfo, error) {
				return node.ContainerInfo{Runtimes: []string{"docker"}, PullImages: true}, nil
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c, err := m.Client(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f := &fixture{t: t, ctx: ctx, mesh: m, ep: m.Endpoints[0], owner: owner, client: c}
	fn := f.registerFunction(boxed("marker-routed", "marker", pyImage))
	idOf := map[string]peer.ID{}
	for i, n := range m.Endpoints {
		idOf[names[i]] = n.ID()
	}

	ranked, req, err := c.Route(ctx, client.RouteRequest{Function: fn, All: true})
	if err != nil {
		t.Fatal(err)
	}
	if req.Image != pyImage {
		t.Fatalf("routing request's image %q, want %q", req.Image, pyImage)
	}
	var order []string
	reasons := map[string]string{}
	for _, s := range ranked {
		if s.Eligible {
			order = append(order, s.Record.Name)
		} else {
			reasons[s.Record.Name] = s.Rejected
		}
	}
	if strings.Join(order, " ") != "holds pulls" {
		t.Fatalf("eligible %q, want holds then pulls; rejected %q", order, reasons)
	}
	if !ranked[0].Score.ImageHeld || ranked[1].Score.ImageHeld {
		t.Fatalf("image held: holds %v, pulls %v", ranked[0].Score.ImageHeld, ranked[1].Score.ImageHeld)
	}
	if want := "needs image=" + pyImage + ", has no container runtime"; reasons["plain"] != want {
		t.Fatalf("plain rejected for %q, want %q", reasons["plain"], want)
	}

	// Routed for real, it runs in the image, on the endpoint holding it.
	ran, value := runRouted(t, ctx, c, client.RunRequest{RouteRequest: client.RouteRequest{Function: fn}})
	if ran != idOf["holds"] || value != imageMarker {
		t.Fatalf("ran on %s with %q; want holds (%s) and the image's marker", ran, value, idOf["holds"])
	}

	// Without the endpoint holding it, the one that pulls; without that
	// too, none: the one without a runtime never (it is not even found
	// among the providers of the capability key container; All asks every
	// endpoint, to see it rejected).
	ranked, _, err = c.Route(ctx, client.RouteRequest{Function: fn, Exclude: map[string]bool{idOf["holds"].String(): true}})
	if err != nil || ranked[0].Record.Name != "pulls" {
		t.Fatalf("without holds: first %v, %v; want pulls", ranked[0].Record.Name, err)
	}
	_, _, err = c.Route(ctx, client.RouteRequest{Function: fn, All: true, Exclude: map[string]bool{idOf["holds"].String(): true, idOf["pulls"].String(): true}})
	if !errors.Is(err, routing.ErrNoEndpoint) || fault.KindOf(err) != fault.NotFound || !strings.Contains(err.Error(), "no endpoint meets image="+pyImage) {
		t.Fatalf("only plain left: %v; want not-found naming image=%s", err, pyImage)
	}

	// The same source without an image is not held to a runtime.
	host := f.registerFunction(boxed("marker-host", "marker", ""))
	ranked, req, err = c.Route(ctx, client.RouteRequest{Function: host})
	if err != nil || req.Image != "" || len(eligibleNames(ranked)) != len(names) {
		t.Fatalf("function without an image: eligible %q, image %q, %v; want all", eligibleNames(ranked), req.Image, err)
	}
}

func eligibleNames(ranked []routing.Scored) []string {
	var out []string
	for _, s := range ranked {
		if s.Eligible {
			out = append(out, s.Record.Name)
		}
	}
	return out
}

// runRouted runs w's one input where routing sends it and returns the
// endpoint and the value, a JSON string.
func runRouted(t *testing.T, ctx context.Context, c *client.Client, w client.RunRequest) (peer.ID, string) {
	t.Helper()
	var ep peer.ID
	var res invoke.Result
	w.Inputs = []invoke.Input{{}}
	w.OnResult = func(e peer.ID, r invoke.Result) { ep, res = e, r }
	if err := c.RunRouted(ctx, w); err != nil {
		t.Fatal(err)
	}
	if res.Error != nil {
		t.Fatalf("on %s: %+v", ep, res.Error)
	}
	var v string
	if err := json.Unmarshal(res.Value, &v); err != nil {
		t.Fatalf("value %s: %v", res.Value, err)
	}
	return ep, v
}
