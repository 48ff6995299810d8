package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/node"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
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
	took := waitFor(t, 30*time.Second, "every node lists the function", func() error {
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
	if testing.Short() {
		t.Skip("registers 50 functions, one client each")
	}
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

// partition keeps two groups of nodes apart while it is up: a connection
// between the groups is closed as it opens, before either end accepts a
// stream on it (libp2p tells a network's notifiees of a connection before
// it accepts streams there), and cut closes those already open.
type partition struct {
	side    map[peer.ID]int // 1 or 2; written only by newPartition
	up      atomic.Bool
	refused atomic.Int64 // connections closed as they opened
}

func newPartition(one, two []*node.Node) *partition {
	p := &partition{side: map[peer.ID]int{}}
	for _, n := range one {
		p.side[n.ID()] = 1
	}
	for _, n := range two {
		p.side[n.ID()] = 2
	}
	for _, n := range append(slices.Clone(one), two...) {
		n.Host().Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
			if p.up.Load() && p.across(c) {
				p.refused.Add(1)
				c.Close()
			}
		}})
	}
	return p
}

func (p *partition) across(c network.Conn) bool {
	l, r := p.side[c.LocalPeer()], p.side[c.RemotePeer()]
	return l != 0 && r != 0 && l != r
}

// cut puts the partition up and closes the connections across it.
func (p *partition) cut(nodes []*node.Node) {
	p.up.Store(true)
	for _, n := range nodes {
		for _, c := range n.Host().Network().Conns() {
			if p.across(c) {
				c.Close()
			}
		}
	}
}

// crossing counts the open connections across the partition.
func (p *partition) crossing(nodes []*node.Node) int {
	k := 0
	for _, n := range nodes {
		for _, c := range n.Host().Network().Conns() {
			if p.across(c) && !c.IsClosed() {
				k++
			}
		}
	}
	return k
}

// TestCatalogPartitionHeals: two meshes, joined by one link, share their
// catalogs; cut apart, each learns only its own side's functions; once
// they meet again, sync brings both to the union.
func TestCatalogPartitionHeals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two meshes and cuts them apart")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
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
	sideA := append([]*node.Node{a.Bootstrap}, a.Endpoints...)
	sideB := append([]*node.Node{b.Bootstrap}, b.Endpoints...)
	everyone := append(slices.Clone(sideA), sideB...)
	p := newPartition(sideA, sideB)
	user, _ := identity.GenerateKey()
	owner := user.ID().String()
	everywhere := func(what string, nodes []*node.Node, names ...string) time.Duration {
		t.Helper()
		return waitFor(t, 60*time.Second, what, func() error {
			for _, n := range nodes {
				if err := holds(n, owner, names...); err != nil {
					return err
				}
			}
			return nil
		})
	}

	// Connected by one link: what one side publishes reaches the other.
	if err := a.Endpoints[1].Host().Connect(ctx, b.Endpoints[0].AddrInfo()); err != nil {
		t.Fatal(err)
	}
	register(t, ctx, user, a.Endpoints[0], publicFn("before"), catalog.Access{Public: true})
	everywhere("the function published before the cut on both sides", everyone, "before")

	// Cut: each side learns only its own functions.
	p.cut(everyone)
	var mine, theirs []string
	for i := 0; i < 5; i++ {
		mine, theirs = append(mine, fmt.Sprintf("a%d", i)), append(theirs, fmt.Sprintf("b%d", i))
		register(t, ctx, user, a.Endpoints[0], publicFn(mine[i]), catalog.Access{Public: true})
		register(t, ctx, user, b.Endpoints[1], publicFn(theirs[i]), catalog.Access{Public: true})
	}
	everywhere("side a's functions on side a", sideA, mine...)
	everywhere("side b's functions on side b", sideB, theirs...)
	if k := p.crossing(everyone); k > 0 {
		t.Fatalf("%d connections cross the partition", k)
	}
	for _, n := range sideA {
		for _, name := range theirs {
			if holds(n, owner, name) == nil {
				t.Fatalf("partition leaked: %s of side a holds %s", n.ID(), name)
			}
		}
	}
	for _, n := range sideB {
		for _, name := range mine {
			if holds(n, owner, name) == nil {
				t.Fatalf("partition leaked: %s of side b holds %s", n.ID(), name)
			}
		}
	}

	// Heal: the partition down, each node meets the other side again (a
	// node that meets no peer of the other side would learn its functions
	// only by the periodic sync with a random peer).
	p.up.Store(false)
	for _, n := range sideA {
		for _, o := range sideB {
			if err := n.Host().Connect(ctx, o.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
	}
	took := everywhere("both sides hold the union", everyone, append(mine, theirs...)...)
	t.Logf("union everywhere %s after the heal; %d connections refused while cut", took, p.refused.Load())
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
