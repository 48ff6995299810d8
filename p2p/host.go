package p2p

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/x/rate"
	"github.com/multiformats/go-multiaddr"
)

// NewHost makes a libp2p host with key's identity listening on listen,
// under fxmesh's resource limits. An empty listen makes a host that only
// dials out (a light client).
func NewHost(key *identity.Key, listen []string) (host.Host, error) {
	rm, err := newResourceManager()
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(key.PrivKey()),
		libp2p.DisableRelay(),
		libp2p.UserAgent("fxmesh"),
		libp2p.ResourceManager(rm),
	}
	if len(listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrStrings(listen...))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: start host: %w", err)
	}
	return h, nil
}

// PeerConns is how many connections one peer may hold to a node.
const PeerConns = 128

// fromOneAddress lets PeerConns connections come from one IP address (one
// user's fx processes on one machine, or many users behind one NAT), all at
// once and then PeerConns/8 new ones a second; libp2p allows 8 at once and
// a new one every 5 seconds. Loopback is not limited. Each resource manager
// needs its own: the rate limiter keeps state.
func fromOneAddress() []rcmgr.Option {
	perIP := rate.Limit{RPS: PeerConns / 8, Burst: PeerConns}
	return []rcmgr.Option{
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: PeerConns}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: PeerConns}, {PrefixLength: 48, ConnCount: 8 * PeerConns}},
		),
		rcmgr.WithConnRateLimiters(&rate.Limiter{
			NetworkPrefixLimits: []rate.PrefixLimit{
				{Prefix: netip.MustParsePrefix("127.0.0.0/8")},
				{Prefix: netip.MustParsePrefix("::1/128")},
			},
			SubnetRateLimiter: rate.SubnetLimiter{
				IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: perIP}},
				IPv6SubnetLimits: []rate.SubnetLimit{
					{PrefixLength: 56, Limit: perIP},
					{PrefixLength: 48, Limit: rate.Limit{RPS: 2 * perIP.RPS, Burst: 8 * perIP.Burst}},
				},
				GracePeriod: time.Minute,
			},
		}),
	}
}

// identifyEach lets every connection of a peer be identified at once, both
// ways, as it opens: libp2p lets 16 identify streams of one peer run.
// Without its identify a client's connection is of no use to the DHT.
func identifyEach(limits *rcmgr.ScalingLimitConfig) {
	raise := func(l *rcmgr.BaseLimit, n int) {
		l.StreamsInbound = max(l.StreamsInbound, n)
		l.StreamsOutbound = max(l.StreamsOutbound, n)
		l.Streams = max(l.Streams, 2*n)
		l.Memory = max(l.Memory, int64(n)*16<<10) // identify holds 8 KiB a message
	}
	l := limits.ServicePeerLimits[identify.ServiceName]
	raise(&l.BaseLimit, PeerConns)
	limits.ServicePeerLimits[identify.ServiceName] = l
	l = limits.ServiceLimits[identify.ServiceName]
	raise(&l.BaseLimit, 2*PeerConns)
	limits.ServiceLimits[identify.ServiceName] = l
	for _, id := range []protocol.ID{identify.ID, identify.IDPush} {
		l := limits.ProtocolPeerLimits[id]
		raise(&l.BaseLimit, PeerConns)
		limits.ProtocolPeerLimits[id] = l
		l = limits.ProtocolLimits[id]
		raise(&l.BaseLimit, 2*PeerConns)
		limits.ProtocolLimits[id] = l
	}
}

// newResourceManager sets libp2p's resource limits for fxmesh. One user's
// many concurrent fx processes are many connections of one peer (fx dials
// with the user's key), so a peer may hold PeerConns connections; what it
// may hold in streams and memory stays bounded per peer and in total,
// whatever the machine's size. A client's waited-for invocations to one
// endpoint share one session stream, so 512 inbound streams per peer and
// protocol is ample; the endpoint's own admission (max_queue) says when it
// has enough work, and each stream's unfinished request is bounded by the
// node's frame budget.
func newResourceManager() (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	// Connections still in their handshake count as transient.
	limits.TransientBaseLimit.ConnsInbound = max(limits.TransientBaseLimit.ConnsInbound, PeerConns)
	limits.TransientBaseLimit.Conns = max(limits.TransientBaseLimit.Conns, PeerConns)
	limits.TransientBaseLimit.FD = max(limits.TransientBaseLimit.FD, PeerConns)
	identifyEach(&limits)
	cfg := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: 2048, ConnsInbound: 1024, StreamsInbound: 16384, StreamsOutbound: 16384, Streams: 32768,
			Memory: 1 << 30,
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: PeerConns, ConnsInbound: PeerConns, ConnsOutbound: 64, FD: PeerConns,
			StreamsInbound: 512, StreamsOutbound: 1024, Streams: 1024,
			Memory: 64 << 20,
		},
		ProtocolDefault:     rcmgr.ResourceLimits{StreamsInbound: 8192, StreamsOutbound: 8192, Streams: 16384, Memory: 256 << 20},
		ProtocolPeerDefault: rcmgr.ResourceLimits{StreamsInbound: 512, StreamsOutbound: 1024, Streams: 1024, Memory: 64 << 20},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(cfg.Build(limits.AutoScale())), fromOneAddress()...)
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// NewDHT starts the fxmesh DHT on h, as a server or a client; more
// options apply after fxmesh's (a validator of its own for
// routing.Namespace replaces routing.Validator).
func NewDHT(h host.Host, server bool, bootstrap []peer.AddrInfo, more ...dht.Option) (*dht.IpfsDHT, error) {
	mode := dht.ModeClient
	if server {
		mode = dht.ModeServer
	}
	opts := []dht.Option{
		dht.Mode(mode),
		dht.ProtocolPrefix(wire.DHTPrefix),
		dht.NamespacedValidator(routing.Namespace, routing.Validator{}),
		dht.BootstrapPeers(bootstrap...),
	}
	d, err := dht.New(h, append(opts, more...)...)
	if err != nil {
		return nil, fmt.Errorf("p2p: start dht: %w", err)
	}
	return d, nil
}

// FullAddrs are h's dialable addresses, each ending in /p2p/ID.
func FullAddrs(h host.Host) []string {
	id, err := multiaddr.NewComponent("p2p", h.ID().String())
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.Encapsulate(id).String())
	}
	return out
}

// ParseAddrInfo parses a multiaddr that ends in /p2p/ID.
func ParseAddrInfo(s string) (*peer.AddrInfo, error) {
	ma, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return nil, err
	}
	ai, err := peer.AddrInfoFromP2pAddr(ma)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (the address must end in /p2p/ID)", s, err)
	}
	return ai, nil
}

// ParseAddrInfos parses bootstrap addresses, each ending in /p2p/ID.
func ParseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, a := range addrs {
		ai, err := ParseAddrInfo(a)
		if err != nil {
			return nil, fmt.Errorf("p2p: bootstrap address: %w", err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

// ConnectAny dials the given peers concurrently and returns those that
// answered, in the order given.
func ConnectAny(ctx context.Context, h host.Host, peers []peer.AddrInfo, timeout time.Duration) []peer.ID {
	ok := make([]bool, len(peers))
	done := make(chan struct{}, len(peers))
	for i, p := range peers {
		go func(i int, p peer.AddrInfo) {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			ok[i] = h.Connect(cctx, p) == nil
			done <- struct{}{}
		}(i, p)
	}
	for range peers {
		<-done
	}
	var out []peer.ID
	for i, p := range peers {
		if ok[i] {
			out = append(out, p.ID)
		}
	}
	return out
}
