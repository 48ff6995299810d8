package sim

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/node"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/marcopolo/simnet"
	"github.com/quic-go/quic-go"
	"go.uber.org/fx"
)

// world is a simulated network of real nodes, run inside a
// testing/synctest bubble: the hosts speak QUIC over simnet's in-memory
// packet network, whose clock is the bubble's. Every link has a latency of
// its own (seeded), every packet may be lost, and a partition drops the
// packets that cross it. Each node's packets and bytes are counted as they
// are sent.
type world struct {
	t    testing.TB
	seed uint64
	dir  string
	net  *simnet.Simnet
	loss float64 // probability that a packet is lost
	// minLatency and maxLatency bound a link's one-way latency.
	minLatency, maxLatency time.Duration
	owner                  *identity.Key // owns every endpoint and signs its claim

	mu      sync.Mutex
	rng     *rand.Rand       // guarded by mu: loss
	nextIP  int              // guarded by mu
	traffic map[string]*load // guarded by mu: by IP, what each address sent
	cut     map[string]bool  // guarded by mu: IPs on the far side of a partition
	clients map[string]bool  // guarded by mu: the clients' IPs
	nodes   []*simNode       // guarded by mu: every node ever started, in order
}

// load is what one address sent.
type load struct {
	packets, bytes atomic.Int64
}

// simNode is one node of the world, running or stopped.
type simNode struct {
	name string
	ip   string
	key  *identity.Key
	dir  string
	role node.Role
	n    *node.Node
	up   bool
	site string // the label site= it advertises
}

func newWorld(t testing.TB, seed uint64, loss float64) *world {
	w := &world{
		t: t, seed: seed, dir: t.TempDir(), loss: loss,
		minLatency: 5 * time.Millisecond, maxLatency: 60 * time.Millisecond,
		rng:     rand.New(rand.NewPCG(seed, 0x5eed)),
		traffic: map[string]*load{}, cut: map[string]bool{}, clients: map[string]bool{},
	}
	w.net = &simnet.Simnet{LatencyFunc: w.latency, Logger: slog.New(slog.DiscardHandler)}
	w.net.Start()
	w.owner = w.key("owner")
	return w
}

// key is a key derived from the seed and name, so that a run replays.
func (w *world) key(name string) *identity.Key {
	seed := make([]byte, ed25519.SeedSize)
	binary.LittleEndian.PutUint64(seed, w.seed)
	h := fnv.New64a()
	h.Write([]byte(name))
	binary.LittleEndian.PutUint64(seed[8:], h.Sum64())
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		w.t.Fatal(err)
	}
	k, err := identity.FromPrivKey(priv)
	if err != nil {
		w.t.Fatal(err)
	}
	return k
}

// latency is a link's one-way latency, the same both ways, fixed by the
// seed and the two addresses.
func (w *world) latency(p *simnet.Packet) time.Duration {
	a, b := ipOf(p.From), ipOf(p.To)
	if a > b {
		a, b = b, a
	}
	h := fnv.New64a()
	binary.Write(h, binary.LittleEndian, w.seed)
	h.Write([]byte(a + "|" + b))
	span := uint64(w.maxLatency - w.minLatency)
	return w.minLatency + time.Duration(h.Sum64()%span)
}

func ipOf(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	return a.String()
}

// drops reports whether a packet from one address to another is lost.
func (w *world) drops(from, to string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Clients reach both sides of a partition: they relay nothing.
	if w.cut[from] != w.cut[to] && !w.clients[from] && !w.clients[to] {
		return true
	}
	return w.loss > 0 && w.rng.Float64() < w.loss
}

// countedConn is a simulated UDP socket that counts what it sends and loses
// what the world says is lost.
type countedConn struct {
	*simnet.SimConn
	w    *world
	ip   string
	load *load
}

func (c *countedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.load.packets.Add(1)
	c.load.bytes.Add(int64(len(p)))
	if c.w.drops(c.ip, ipOf(addr)) {
		return len(p), nil
	}
	return c.SimConn.WriteTo(p, addr)
}

// sourceIP is the address a host sends from: its only one.
type sourceIP net.IP

func (s sourceIP) PreferredSourceIPForDestination(*net.UDPAddr) (net.IP, error) {
	return net.IP(s), nil
}

// newHost makes a libp2p host with key's identity on a fresh address of the
// simulated network.
func (w *world) newHost(key *identity.Key) (host.Host, string, error) {
	w.mu.Lock()
	ip := simnet.IntToPublicIPv4(w.nextIP)
	w.nextIP++
	ld := &load{}
	w.traffic[ip.String()] = ld
	w.mu.Unlock()
	listen := func(_ string, addr *net.UDPAddr) (net.PacketConn, error) {
		sc := w.net.NewEndpoint(addr, simnet.NodeBiDiLinkSettings{
			Downlink: simnet.LinkSettings{BitsPerSecond: 100_000_000},
			Uplink:   simnet.LinkSettings{BitsPerSecond: 100_000_000},
		})
		return &countedConn{SimConn: sc, w: w, ip: ip.String(), load: ld}, nil
	}
	reuse := libp2p.QUICReuse(
		func(l fx.Lifecycle, reset quic.StatelessResetKey, token quic.TokenGeneratorKey, opts ...quicreuse.Option) (*quicreuse.ConnManager, error) {
			cm, err := quicreuse.NewConnManager(reset, token, opts...)
			if err != nil {
				return nil, err
			}
			l.Append(fx.StopHook(cm.Close))
			return cm, nil
		},
		quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return sourceIP(ip), nil }),
		quicreuse.OverrideListenUDP(listen),
	)
	h, err := libp2p.New(
		libp2p.Identity(key.PrivKey()),
		libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", ip)),
		reuse,
		libp2p.DisableRelay(),
		libp2p.UserAgent("fxmesh"),
		// identify's address discovery stalls a synctest bubble
		// (x/simlibp2p says so too); the simulated addresses need none.
		libp2p.DisableIdentifyAddressDiscovery(),
		libp2p.ResourceManager(&network.NullResourceManager{}),
	)
	if err != nil {
		return nil, "", err
	}
	return h, ip.String(), nil
}

// start starts a node named name: a bootstrap, or an endpoint of site that
// joins through boot. A node of a name already used keeps its key and
// directory (a restart); fresh says to use a new key and directory.
func (w *world) start(ctx context.Context, name string, role node.Role, site string, boot []string) (*simNode, error) {
	sn := &simNode{name: name, role: role, site: site, dir: filepath.Join(w.dir, name), key: w.key(name)}
	if err := os.MkdirAll(sn.dir, 0o700); err != nil {
		return nil, err
	}
	h, ip, err := w.newHost(sn.key)
	if err != nil {
		return nil, err
	}
	sn.ip = ip
	cfg := &node.Config{Name: name, Bootstrap: boot}
	opts := node.Options{Dir: sn.dir, Key: sn.key, Config: cfg, Role: role, Host: h,
		Containers: func(context.Context) (node.ContainerInfo, error) { return node.ContainerInfo{}, nil }}
	if role == node.RoleEndpoint {
		cfg.Owner = w.owner.ID().String()
		cfg.Public = true
		cfg.Workers = 4
		cfg.Labels = map[string]string{"site": site}
		cfg.Hardware = routing.Hardware{CPUs: 4, MemoryBytes: 8 << 30, Arch: "amd64", OS: "linux"}
		if opts.OwnerClaim, err = routing.SignOwnerClaim(w.owner, sn.key.ID(), time.Now().Add(24*time.Hour)); err != nil {
			h.Close()
			return nil, err
		}
		opts.Executors = map[exec.Kind]exec.Executor{exec.KindPython: newEcho(4)}
	}
	n, err := node.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	sn.n, sn.up = n, true
	w.mu.Lock()
	w.nodes = append(w.nodes, sn)
	w.mu.Unlock()
	return sn, nil
}

// stop stops a node (its packets in flight are lost with it).
func (w *world) stop(sn *simNode) {
	if !sn.up {
		return
	}
	sn.up = false
	if err := sn.n.Close(); err != nil {
		w.t.Logf("close %s: %v", sn.name, err)
	}
}

// live is every running node.
func (w *world) live() []*simNode {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*simNode
	for _, sn := range w.nodes {
		if sn.up {
			out = append(out, sn)
		}
	}
	return out
}

// close stops every node and the network.
func (w *world) close() {
	for _, sn := range w.live() {
		w.stop(sn)
	}
	w.net.Close()
}

// client is a light peer on its own address that dials the mesh through
// entry, as the owner (whose endpoints it trusts).
func (w *world) client(ctx context.Context, entry []string) (*client.Client, error) {
	h, ip, err := w.newHost(w.owner)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.clients[ip] = true
	w.mu.Unlock()
	return client.New(ctx, client.Options{Key: w.owner, Host: h, Bootstrap: entry})
}

// nodeTraffic is what the nodes (not the clients) have sent so far, in
// bytes and packets.
func (w *world) nodeTraffic() (bytes, packets int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, sn := range w.nodes {
		l := w.traffic[sn.ip]
		bytes += l.bytes.Load()
		packets += l.packets.Load()
	}
	return bytes, packets
}

// followerTraffic is what the live nodes that follow the heartbeats have
// sent so far, in bytes, and how many they are.
func (w *world) followerTraffic() (bytes int64, followers int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, sn := range w.nodes {
		if sn.up && sn.n.FollowsLoad() {
			bytes += w.traffic[sn.ip].bytes.Load()
			followers++
		}
	}
	return bytes, followers
}

// partition cuts nodes off from the rest: no packet crosses until heal.
func (w *world) partition(nodes []*simNode) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, sn := range nodes {
		w.cut[sn.ip] = true
	}
}

// heal ends the partition.
func (w *world) heal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.cut)
}

// tableLog collects a table for t.Log.
type tableLog struct{ strings.Builder }

// echo is the in-process executor of simulated endpoints: it returns a
// task's arguments at once, from one of workers slots.
type echo struct {
	workers int
	running atomic.Int64
	closed  atomic.Bool
}

func newEcho(workers int) *echo { return &echo{workers: workers} }

var (
	_ exec.Executor = (*echo)(nil)
	_ exec.Statser  = (*echo)(nil)
)

func (e *echo) Execute(ctx context.Context, t exec.Task) (exec.Result, error) {
	if e.closed.Load() {
		return exec.Result{}, exec.ErrClosed
	}
	e.running.Add(1)
	defer e.running.Add(-1)
	now := time.Now()
	v := t.Args
	if len(v) == 0 {
		v = json.RawMessage("null")
	}
	return exec.Result{Value: v, Started: now, Finished: now}, nil
}

func (e *echo) Stats() exec.Stats {
	r := int(e.running.Load())
	return exec.Stats{Workers: e.workers, Idle: max(0, e.workers-r), Running: r}
}

func (e *echo) Close() error { e.closed.Store(true); return nil }
