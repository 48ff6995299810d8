package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/node"
)

func publicFn(name string) catalog.Function {
	return catalog.Function{Name: name, Kind: catalog.KindPython, Source: "def f(x):\n    return x\n", Entry: "f"}
}

// register signs a new function of user and publishes it through n.
func register(t *testing.T, ctx context.Context, user *identity.Key, n *node.Node, fn catalog.Function, access catalog.Access) {
	t.Helper()
	env, err := catalog.NewPublish(user, nil, fn, access, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(ctx, client.Options{Key: user, Bootstrap: n.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PublishUpdate(ctx, env); err != nil {
		t.Fatalf("publish %s: %v", fn.Name, err)
	}
}

// holds reports whether n's catalog resolves OWNER/NAME for each name.
func holds(n *node.Node, owner string, names ...string) error {
	for _, name := range names {
		if _, err := n.Catalog().Resolve(owner + "/" + name); err != nil {
			return fmt.Errorf("%s lacks %s: %w", n.ID().String()[:12], name, err)
		}
	}
	return nil
}

func waitFor(t *testing.T, d time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < d {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not within %s: %v", what, d, err)
	return 0
}

func TestCatalogGossipReachesEveryNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	user, _ := identity.GenerateKey()
	register(t, ctx, user, m.Endpoints[0], publicFn("hello"), catalog.Access{Public: true})
	took := waitFor(t, 5*time.Second, "every node lists the function", func() error {
		for _, ep := range m.Endpoints[1:] {
			c, err := client.New(ctx, client.Options{Bootstrap: ep.Addrs()})
			if err != nil {
				return err
			}
			list, err := c.ListFunctions(ctx, user.ID().String())
			c.Close()
			if err != nil {
				return err
			}
			if len(list) != 1 || list[0].Name != "hello" {
				return fmt.Errorf("%s lists %v", ep.ID(), list)
			}
		}
		return nil
	})
	t.Logf("listed on all four endpoints after %s", took)
}

func TestCatalogLateJoinerAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	user, _ := identity.GenerateKey()
	friend, _ := identity.GenerateKey()
	var names []string
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("fn%02d", i)
		names = append(names, name)
		access := catalog.Access{Public: true}
		if i%2 == 1 {
			access = catalog.Access{Users: []string{friend.ID().String()}}
		}
		register(t, ctx, user, m.Endpoints[i%2], publicFn(name), access)
	}
	late, err := m.AddEndpoint(ctx, &node.Config{Name: "late", Bootstrap: m.Bootstrap.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 10*time.Second, "late joiner holds all 50", func() error { return holds(late, user.ID().String(), names...) })
	t.Logf("late joiner held all 50 after %s", took)

	// Restart it alone: the catalog comes back from disk.
	dir := filepath.Join(m.Dir, "ep2")
	if err := late.Close(); err != nil {
		t.Fatal(err)
	}
	key, _ := identity.LoadKey(filepath.Join(dir, node.KeyFile))
	again, err := node.Start(ctx, node.Options{Dir: dir, Key: key, Config: &node.Config{Name: "late", Listen: []string{"/ip4/127.0.0.1/tcp/0"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := holds(again, user.ID().String(), names...); err != nil {
		t.Fatalf("after restart, with no peers: %v", err)
	}
}

func TestCatalogPartitionHeals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	user, _ := identity.GenerateKey()
	for i := 0; i < 5; i++ {
		register(t, ctx, user, a.Endpoints[0], publicFn(fmt.Sprintf("a%d", i)), catalog.Access{Public: true})
		register(t, ctx, user, b.Endpoints[1], publicFn(fmt.Sprintf("b%d", i)), catalog.Access{Public: true})
	}
	all := []string{"a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4"}
	if err := holds(b.Endpoints[0], user.ID().String(), "a0"); err == nil {
		t.Fatal("partition leaked before it healed")
	}
	// Heal: one link between the groups.
	ep := a.Endpoints[1]
	if err := ep.Host().Connect(ctx, b.Endpoints[0].AddrInfo()); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 10*time.Second, "both groups hold the union", func() error {
		for _, n := range append(append([]*node.Node{a.Bootstrap, b.Bootstrap}, a.Endpoints...), b.Endpoints...) {
			if err := holds(n, user.ID().String(), all...); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("union everywhere after %s", took)
}

func TestPrivateFunctionStaysWithOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	user, _ := identity.GenerateKey()
	env, err := catalog.NewPublish(user, nil, publicFn("secret"), catalog.Access{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Client(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PublishUpdate(ctx, env); err == nil {
		t.Fatal("a full node accepted a private function")
	}
	// A public one published after it, as a marker that gossip has settled.
	register(t, ctx, user, m.Endpoints[0], publicFn("marker"), catalog.Access{Public: true})
	waitFor(t, 10*time.Second, "marker everywhere", func() error {
		for _, n := range append([]*node.Node{m.Bootstrap}, m.Endpoints...) {
			if err := holds(n, user.ID().String(), "marker"); err != nil {
				return err
			}
		}
		return nil
	})
	for _, n := range append([]*node.Node{m.Bootstrap}, m.Endpoints...) {
		if err := holds(n, user.ID().String(), "secret"); err == nil {
			t.Fatalf("node %s holds the private function", n.ID())
		}
	}
}
