package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// DevOptions configure StartDev.
type DevOptions struct {
	// Dir holds the dev mesh's nodes; it is created if missing.
	Dir string
	// Owner is the user who owns the endpoint; required. Their key signs
	// the endpoint's owner claim, so that the owner is verified and fx
	// trusts the endpoint with their work.
	Owner *identity.Key
	// Hardware and Software describe the endpoint (detected by the caller).
	Hardware routing.Hardware
	Software routing.Software
	// Logger receives both nodes' logs; nil discards them.
	Logger *slog.Logger
}

// Dev is the embedded default mesh: a bootstrap and one endpoint owned by the
// current user, in one process, on loopback.
type Dev struct {
	Bootstrap *Node
	Endpoint  *Node
}

// StartDev starts the embedded default mesh in opts.Dir.
func StartDev(ctx context.Context, opts DevOptions) (*Dev, error) {
	if opts.Dir == "" || opts.Owner == nil {
		return nil, errors.New("node: dev: directory and owner are required")
	}
	start := func(sub string, role Role, cfg *Config) (*Node, error) {
		dir := filepath.Join(opts.Dir, sub)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("node: dev: %w", err)
		}
		key, err := identity.LoadOrCreateKey(filepath.Join(dir, KeyFile))
		if err != nil {
			return nil, err
		}
		o := Options{Dir: dir, Key: key, Config: cfg, Role: role, Logger: opts.Logger}
		if role == RoleEndpoint {
			if o.OwnerClaim, err = routing.SignOwnerClaim(opts.Owner, key.ID(), time.Now().Add(DefaultClaimTTL)); err != nil {
				return nil, fmt.Errorf("node: dev: %w", err)
			}
		}
		return Start(ctx, o)
	}
	boot, err := start("bootstrap", RoleBootstrap, &Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return nil, err
	}
	ep, err := start("endpoint", RoleEndpoint, &Config{
		Name:      "dev",
		Owner:     opts.Owner.ID().String(),
		Listen:    []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap: boot.Addrs(),
		Hardware:  opts.Hardware,
		Software:  opts.Software,
		Labels:    map[string]string{"mesh": "dev"},
	})
	if err != nil {
		boot.Close()
		return nil, err
	}
	return &Dev{Bootstrap: boot, Endpoint: ep}, nil
}

// Close stops both nodes.
func (d *Dev) Close() error {
	return errors.Join(d.Endpoint.Close(), d.Bootstrap.Close())
}
