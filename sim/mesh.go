package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/node"
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
	boot, err := m.start(ctx, "bootstrap", node.RoleBootstrap, &node.Config{})
	if err != nil {
		return nil, err
	}
	m.Bootstrap = boot
	for i := 0; i < opts.Endpoints; i++ {
		cfg := &node.Config{Name: fmt.Sprintf("ep%d", i), Bootstrap: boot.Addrs()}
		if opts.Configure != nil {
			opts.Configure(i, cfg)
		}
		if _, err := m.AddEndpoint(ctx, cfg); err != nil {
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
// to loopback).
func (m *Mesh) AddEndpoint(ctx context.Context, cfg *node.Config) (*node.Node, error) {
	n, err := m.start(ctx, fmt.Sprintf("ep%d", len(m.Endpoints)), node.RoleEndpoint, cfg)
	if err != nil {
		return nil, err
	}
	m.Endpoints = append(m.Endpoints, n)
	return n, nil
}

func (m *Mesh) start(ctx context.Context, name string, role node.Role, cfg *node.Config) (*node.Node, error) {
	dir := filepath.Join(m.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	key, err := identity.LoadOrCreateKey(filepath.Join(dir, node.KeyFile))
	if err != nil {
		return nil, err
	}
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	return node.Start(ctx, node.Options{Dir: dir, Key: key, Config: cfg, Role: role, Logger: m.log})
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
func (m *Mesh) Client(ctx context.Context, key *identity.Key) (*node.Client, error) {
	return node.NewClient(ctx, node.ClientOptions{Key: key, Bootstrap: m.Bootstrap.Addrs(), Logger: m.log})
}
