package node

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// TestSyncOnConnectWaitsForIdentify: a node pulls the catalog of a peer it
// connects to once identify has told the peer's protocols, however long
// that takes; here every byte between them is late by latency. The
// periodic pull (syncInterval) comes too late for the deadline.
func TestSyncOnConnectWaitsForIdentify(t *testing.T) {
	const latency = 150 * time.Millisecond
	a := startNode(t, RoleBootstrap, "a", nil)
	b := startNode(t, RoleBootstrap, "b", nil)
	owner, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	env, err := catalog.NewPublish(owner, nil, catalog.Function{Name: "f", Kind: catalog.KindPython, Source: "def f():\n    return 1\n", Entry: "f"},
		catalog.Access{Public: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Catalog().Apply(env); err != nil {
		t.Fatal(err)
	}
	proxy := slowLink(t, b.Host().Addrs()[0], latency)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Host().Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: []multiaddr.Multiaddr{proxy}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, syncInterval/3, "a pulls f from b", func() bool {
		_, err := a.Catalog().Resolve(owner.ID().String() + "/f")
		return err == nil
	})
}

// slowLink forwards TCP connections to target, every byte late by latency
// each way, and returns its address. It closes with the test.
func slowLink(t *testing.T, target multiaddr.Multiaddr, latency time.Duration) multiaddr.Multiaddr {
	t.Helper()
	to, err := manet.ToNetAddr(target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", to.String())
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); d.Close() })
			go delay(d, c, latency)
			go delay(c, d, latency)
		}
	}()
	addr, err := manet.FromNetAddr(l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// delay copies src to dst, each chunk written latency after it was read.
func delay(dst io.WriteCloser, src io.Reader, latency time.Duration) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(latency)}
			}
			if err != nil {
				return
			}
		}
	}()
	defer dst.Close()
	for c := range ch {
		time.Sleep(time.Until(c.due)) // the link's latency, not a wait for an event
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
}
