package node

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// TestMultiaddrsMeanReachable: an endpoint whose bootstrap is down writes
// no DIR/multiaddrs (and drops the one its last run left); once the
// bootstrap is back and the endpoint has joined, the file appears, and a
// client entering through the bootstrap reaches the endpoint at once.
func TestMultiaddrsMeanReachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bootKey, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	bootDir := t.TempDir()
	startBoot := func(listen []string) *Node {
		t.Helper()
		n, err := Start(ctx, Options{Dir: bootDir, Key: bootKey, Role: RoleBootstrap, Logger: testLogger(t),
			Config: &Config{Name: "boot", Listen: listen}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A node without bootstrap peers is ready when Start returns.
	boot := startBoot([]string{"/ip4/127.0.0.1/tcp/0"})
	if _, err := os.Stat(filepath.Join(bootDir, MultiaddrsFile)); err != nil {
		boot.Close()
		t.Fatalf("bootstrap without bootstrap peers: %v", err)
	}
	bootAddrs, listen := boot.Addrs(), listenAddrs(boot)
	if err := boot.Close(); err != nil {
		t.Fatal(err)
	}

	epDir := t.TempDir()
	stale := filepath.Join(epDir, MultiaddrsFile)
	if err := os.WriteFile(stale, []byte("/ip4/127.0.0.1/tcp/1/p2p/stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	epKey, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ep, err := Start(ctx, Options{Dir: epDir, Key: epKey, Logger: testLogger(t), Config: &Config{
		Name: "ep", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: bootAddrs,
		Hardware: routing.Hardware{CPUs: 1, MemoryBytes: 1 << 30, Arch: "amd64", OS: "linux"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s while the bootstrap is down: %v", MultiaddrsFile, err)
	}

	boot = startBoot(listen)
	defer boot.Close()
	waitUntil(t, time.Minute, "the endpoint writes "+MultiaddrsFile, func() bool {
		_, err := os.Stat(stale)
		return err == nil
	})
	c, err := client.New(ctx, client.Options{Bootstrap: bootAddrs, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Status(ctx, ep.ID()); err != nil {
		t.Fatalf("the endpoint, once it wrote %s: %v", MultiaddrsFile, err)
	}
}

// listenAddrs are the addresses n listens on, without its peer ID, to
// start it again on the same ports.
func listenAddrs(n *Node) []string {
	var out []string
	for _, a := range n.Host().Addrs() {
		out = append(out, a.String())
	}
	return out
}
