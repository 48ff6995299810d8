package node

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// testLogger routes a node's logs to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// startNode starts a node on loopback in a temporary directory.
func startNode(t *testing.T, role Role, name string, boot []string) *Node {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Name:      name,
		Listen:    []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap: boot,
		Hardware:  routing.Hardware{CPUs: 4, MemoryBytes: 8 << 30, Arch: "amd64", OS: "linux"},
	}
	n, err := Start(context.Background(), Options{Dir: t.TempDir(), Key: k, Config: cfg, Role: role, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func waitJoined(t *testing.T, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		select {
		case <-n.Joined():
		case <-time.After(15 * time.Second):
			t.Fatalf("node %s did not publish its record", n.ID())
		}
	}
}

func TestEndpointsDiscoveredAndSurviveBootstrapLoss(t *testing.T) {
	boot := startNode(t, RoleBootstrap, "boot", nil)
	var eps []*Node
	for _, name := range []string{"a", "b", "c"} {
		eps = append(eps, startNode(t, RoleEndpoint, name, boot.Addrs()))
	}
	waitJoined(t, eps...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	list := func(entry []string) []client.EndpointInfo {
		c, err := client.New(ctx, client.Options{Bootstrap: entry, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got, err := c.Endpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := list(boot.Addrs())
	if len(got) != 3 {
		t.Fatalf("got %d endpoints, want 3: %+v", len(got), got)
	}
	for i, want := range []string{"a", "b", "c"} {
		if got[i].Record.Name != want || !got[i].Online || got[i].Record.Hardware.CPUs != 4 {
			t.Fatalf("endpoint %d = %+v online=%v", i, got[i].Record, got[i].Online)
		}
	}

	eps[0].Close()
	boot.Close()
	got = list(eps[1].Addrs())
	online := 0
	for _, e := range got {
		if e.Online {
			online++
			if e.Record.Name == "a" {
				t.Fatal("stopped endpoint a is shown online")
			}
		}
	}
	if online != 2 {
		t.Fatalf("after losing a and the bootstrap: %d online, want 2: %+v", online, got)
	}
}
