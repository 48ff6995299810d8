package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/node"
	"github.com/fxmesh/fxmesh/routing"
)

// Mesh is a bootstrap and endpoints, all in this process.
type Mesh struct {
	Dir       string
	Bootstrap *node.Node
	Endpoints []*node.Node
	log       *slog.Logger
}

// Options configure Start.
type Options struct {
	// Dir holds the nodes' directories; "" means a new temporary directory
	// that Close removes.
	Dir string
	// Endpoints is how many endpoints to start.
	Endpoints int
	// Configure, if set, adjusts endpoint i's config before it starts.
	Configure func(i int, cfg *node.Config)
	// ConfigureBootstrap, if set, adjusts the bootstrap's config before it
	// starts (its web view, say).
	ConfigureBootstrap func(cfg *node.Config)
	// Containers, if set, gives endpoint i's node.Options.Containers: what
	// its record says it can run container images with. nil (or a nil
	// result) leaves it to the endpoint's runtime.
	Containers func(i int) node.ContainerProbe
	// Owner, if set, owns every endpoint and signs each one's owner claim,
	// so that its clients route work there; nil leaves ownership to
	// Configure, unclaimed.
	Owner *identity.Key
	// Logger receives every node's logs; nil discards them.
	Logger *slog.Logger
}

// Start starts a bootstrap and opts.Endpoints endpoints and waits until every
// endpoint has published its record, or ctx ends.
func Start(ctx context.Context, opts Options) (*Mesh, error) {
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "fxmesh-sim"); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
	}
	m := &Mesh{Dir: dir, log: opts.Logger}
	bootCfg := &node.Config{}
	if opts.ConfigureBootstrap != nil {
		opts.ConfigureBootstrap(bootCfg)
	}
	boot, err := m.start(ctx, "bootstrap", node.RoleBootstrap, bootCfg, nil, nil)
	if err != nil {
		return nil, err
	}
	m.Bootstrap = boot
	for i := 0; i < opts.Endpoints; i++ {
		cfg := &node.Config{Name: fmt.Sprintf("ep%d", i), Bootstrap: boot.Addrs()}
		if opts.Owner != nil {
			cfg.Owner = opts.Owner.ID().String()
		}
		if opts.Configure != nil {
			opts.Configure(i, cfg)
		}
		var probe node.ContainerProbe
		if opts.Containers != nil {
			probe = opts.Containers(i)
		}
		if _, err := m.addEndpoint(ctx, cfg, opts.Owner, probe); err != nil {
			m.Close()
			return nil, err
		}
	}
	for _, ep := range m.Endpoints {
		select {
		case <-ep.Joined():
		case <-ctx.Done():
			m.Close()
			return nil, fmt.Errorf("sim: endpoints did not join: %w", ctx.Err())
		}
	}
	return m, nil
}

// AddEndpoint starts one more endpoint with cfg (its listen address is forced
// to loopback). Whatever owner cfg names, it has no owner claim.
func (m *Mesh) AddEndpoint(ctx context.Context, cfg *node.Config) (*node.Node, error) {
	return m.AddOwnedEndpoint(ctx, cfg, nil)
}

// AddOwnedEndpoint starts one more endpoint with cfg, as AddEndpoint does,
// with owner's claim on it when owner is not nil; cfg.Owner is left as it
// is, so that a test may make a claim that does not match.
func (m *Mesh) AddOwnedEndpoint(ctx context.Context, cfg *node.Config, owner *identity.Key) (*node.Node, error) {
	return m.addEndpoint(ctx, cfg, owner, nil)
}

func (m *Mesh) addEndpoint(ctx context.Context, cfg *node.Config, owner *identity.Key, probe node.ContainerProbe) (*node.Node, error) {
	n, err := m.start(ctx, fmt.Sprintf("ep%d", len(m.Endpoints)), node.RoleEndpoint, cfg, owner, probe)
	if err != nil {
		return nil, err
	}
	m.Endpoints = append(m.Endpoints, n)
	return n, nil
}

func (m *Mesh) start(ctx context.Context, name string, role node.Role, cfg *node.Config, owner *identity.Key, probe node.ContainerProbe) (*node.Node, error) {
	dir := filepath.Join(m.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	key, err := identity.LoadOrCreateKey(filepath.Join(dir, node.KeyFile))
	if err != nil {
		return nil, err
	}
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	opts := node.Options{Dir: dir, Key: key, Config: cfg, Role: role, Logger: m.log, Containers: probe}
	if owner != nil {
		if opts.OwnerClaim, err = routing.SignOwnerClaim(owner, key.ID(), time.Now().Add(time.Hour)); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
	}
	return node.Start(ctx, opts)
}

// Close stops every node and waits for them.
func (m *Mesh) Close() error {
	var errs []error
	for _, n := range m.Endpoints {
		errs = append(errs, n.Close())
	}
	if m.Bootstrap != nil {
		errs = append(errs, m.Bootstrap.Close())
	}
	return errors.Join(errs...)
}

// Client dials the mesh through the bootstrap with key (nil: a fresh key).
func (m *Mesh) Client(ctx context.Context, key *identity.Key) (*client.Client, error) {
	return client.New(ctx, client.Options{Key: key, Bootstrap: m.Bootstrap.Addrs(), Logger: m.log})
}
