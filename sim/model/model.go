package model

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// Params are the protocol parameters the model runs with: by default those
// fxmesh runs in production, which are go-libp2p-pubsub's and
// go-libp2p-kad-dht's defaults and fxmesh's own intervals.
type Params struct {
	// gossipsub (go-libp2p-pubsub v0.19 defaults)
	D, Dlo, Dhi, Dlazy int
	Heartbeat          time.Duration
	HistoryGossip      int // heartbeats whose message IDs IHAVE announces
	// GossipFactor is the share of the non-mesh peers that IHAVE goes to
	// at each heartbeat, when more than Dlazy; MaxIHaveLength caps the
	// message IDs of one IHAVE.
	GossipFactor   float64
	MaxIHaveLength int
	// Kademlia (go-libp2p-kad-dht v0.42, amino defaults)
	K, Alpha, Beta int
	RefreshPeriod  time.Duration
	// DialTimeout is how long a request to a peer that is gone takes to
	// fail (QUIC's handshake timeout in libp2p).
	DialTimeout time.Duration
	// fxmesh
	SyncInterval  time.Duration // catalog pull from a random peer
	BeatInterval  time.Duration // endpoint heartbeat on the load topic
	MissedBeats   int           // beats missed before an endpoint is down
	StatusTimeout time.Duration // the client's status call
	// The network: one-way latency of a link, uniform in [MinLatency,
	// MaxLatency) (fixed per link by the seed), and packet loss.
	MinLatency, MaxLatency time.Duration
	Loss                   float64
}

// Production is fxmesh's production parameters and the network of the
// real-code simulation.
func Production() Params {
	return Params{
		D: 6, Dlo: 5, Dhi: 12, Dlazy: 6, Heartbeat: time.Second, HistoryGossip: 3, GossipFactor: 0.25, MaxIHaveLength: 5000,
		K: 20, Alpha: 10, Beta: 3, RefreshPeriod: 10 * time.Minute, DialTimeout: 5 * time.Second,
		SyncInterval: 30 * time.Second, BeatInterval: routing.DefaultHeartbeatInterval, MissedBeats: routing.DefaultMissedBeats,
		StatusTimeout: 3 * time.Second,
		MinLatency:    5 * time.Millisecond, MaxLatency: 60 * time.Millisecond, Loss: 0.005,
	}
}

// Config configures Run.
type Config struct {
	Scenario string // steady, churn, partition, bootstrap-loss
	Nodes    int
	Seed     uint64
	// Params are the protocol parameters; zero means Production.
	Params Params
	// CSV, if set, receives every sample as a row: metric,value.
	CSV io.Writer
	// Progress, if set, receives a line at each phase.
	Progress io.Writer
}

// Run runs the model of a scenario and returns what it measured.
func Run(cfg Config) (Result, error) {
	if cfg.Nodes < 10 {
		return Result{}, fmt.Errorf("model: %d nodes: want at least 10", cfg.Nodes)
	}
	if cfg.Params.K == 0 {
		cfg.Params = Production()
	}
	wall := time.Now()
	m, err := newMesh(cfg)
	if err != nil {
		return Result{}, err
	}
	switch cfg.Scenario {
	case "steady":
		m.steady()
	case "churn":
		m.churn()
	case "partition":
		m.partition()
	case "bootstrap-loss":
		m.bootstrapLoss()
	default:
		return Result{}, fmt.Errorf("model: no scenario %q (steady, churn, partition, bootstrap-loss)", cfg.Scenario)
	}
	m.finish()
	m.res.SimulatedS = m.now.Seconds()
	m.res.WallS = time.Since(wall).Seconds()
	return m.res, nil
}

// mnode is one modelled full node.
type mnode struct {
	idx   int
	kad   uint64 // its Kademlia ID (the top 64 bits of a real one)
	up    bool
	boot  bool
	side  bool // across a partition
	site  string
	rec   *routing.EndpointRecord // nil for a bootstrap
	table [][]int                 // k-buckets by common prefix length
	mesh  []int                   // gossip mesh peers
	cat   *catalog.Store          // the real catalog core, in memory
	held  map[int]bool            // records held, by publish index
	// provides are the capability keys (hashed) whose providers this
	// node stores, with the providers.
	provides map[uint64][]int
}

// event is something that happens at a simulated time.
type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	return e[i].at < e[j].at || e[i].at == e[j].at && e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// mesh is the modelled network and its nodes, and the figures measured.
type mesh struct {
	cfg   Config
	p     Params
	rng   *rand.Rand
	now   time.Duration
	q     events
	seq   uint64
	nodes []*mnode
	sites int
	owner *identity.Key
	recs  [][]byte // signed catalog records, by publish index
	// syncEnd is when the catalog pulls syncLoop started stop.
	syncEnd time.Duration
	// closestCache holds kClosest's answers while the mesh is formed.
	closestCache map[uint64][]int
	res          Result

	conv, delivered, lookupMs, hops, invokeMs, downS []float64
	lookups, lookupOK, invokes, invokeOK             int
}

func newMesh(cfg Config) (*mesh, error) {
	m := &mesh{cfg: cfg, p: cfg.Params, rng: rand.New(rand.NewPCG(cfg.Seed, 0x30de1)),
		res: NewResult(cfg.Scenario, "model", cfg.Nodes, cfg.Seed)}
	var err error
	if m.owner, err = identity.GenerateKey(); err != nil {
		return nil, err
	}
	nb := max(1, min(3, cfg.Nodes/50))
	m.sites = max(1, (cfg.Nodes-nb)/5)
	for i := range cfg.Nodes {
		n := m.newNode()
		if i < nb {
			n.boot = true
			n.rec = nil
		}
	}
	for _, n := range m.nodes {
		m.fillTable(n)
	}
	m.buildMesh()
	m.closestCache = map[uint64][]int{}
	for _, n := range m.nodes {
		m.provide(n, false)
	}
	m.closestCache = nil
	m.progress("formed %d nodes", len(m.nodes))
	return m, nil
}

func (m *mesh) progress(format string, args ...any) {
	if m.cfg.Progress != nil {
		fmt.Fprintf(m.cfg.Progress, "model %s: "+format+"\n", append([]any{m.now.Round(time.Millisecond)}, args...)...)
	}
}

func (m *mesh) sample(metric string, v float64) {
	if m.cfg.CSV != nil {
		fmt.Fprintf(m.cfg.CSV, "%s,%s,%g\n", m.cfg.Scenario, metric, v)
	}
}

// newNode adds a live endpoint of a fresh identity and a site.
func (m *mesh) newNode() *mnode {
	i := len(m.nodes)
	n := &mnode{idx: i, kad: m.rng.Uint64(), up: true, held: map[int]bool{}, provides: map[uint64][]int{},
		cat: catalog.NewMemory(catalog.Options{})}
	n.site = fmt.Sprintf("s%d", i%m.sites)
	n.rec = &routing.EndpointRecord{ID: fmt.Sprintf("ep%d", i), Name: fmt.Sprintf("ep%d", i), Public: true,
		Labels:   map[string]string{"site": n.site},
		Hardware: routing.Hardware{CPUs: 4, MemoryBytes: 8 << 30, Arch: "amd64", OS: "linux"}}
	m.nodes = append(m.nodes, n)
	return n
}

// latency is a link's one-way latency, fixed by the seed and the pair.
func (m *mesh) latency(a, b int) time.Duration {
	if a > b {
		a, b = b, a
	}
	h := fnv.New64a()
	var buf [24]byte
	binary.LittleEndian.PutUint64(buf[0:], m.cfg.Seed)
	binary.LittleEndian.PutUint64(buf[8:], uint64(a))
	binary.LittleEndian.PutUint64(buf[16:], uint64(b))
	h.Write(buf[:])
	span := uint64(m.p.MaxLatency - m.p.MinLatency)
	return m.p.MinLatency + time.Duration(h.Sum64()%span)
}

// reachable reports whether a packet from a to b may arrive: both up, on
// one side of any partition.
func (m *mesh) reachable(a, b int) bool {
	na, nb := m.nodes[a], m.nodes[b]
	return na.up && nb.up && na.side == nb.side
}

func (m *mesh) lost() bool { return m.rng.Float64() < m.p.Loss }

func (m *mesh) at(d time.Duration, fn func()) {
	m.seq++
	heap.Push(&m.q, event{at: m.now + d, seq: m.seq, fn: fn})
}

// runFor runs events for d of simulated time.
func (m *mesh) runFor(d time.Duration) { m.runUntil(m.now + d) }

func (m *mesh) runUntil(end time.Duration) {
	for len(m.q) > 0 && m.q[0].at <= end {
		e := heap.Pop(&m.q).(event)
		m.now = e.at
		e.fn()
	}
	m.now = end
}

// live is every live node.
func (m *mesh) live() []*mnode {
	var out []*mnode
	for _, n := range m.nodes {
		if n.up {
			out = append(out, n)
		}
	}
	return out
}

// --- Kademlia -------------------------------------------------------------

func cpl(a, b uint64) int { return bits.LeadingZeros64(a ^ b) }

// fillTable gives n the routing table a refreshed Kademlia node has: for
// each bucket, up to K live nodes of that common prefix length.
func (m *mesh) fillTable(n *mnode) {
	n.table = make([][]int, 65)
	var byBucket [65][]int
	for _, o := range m.nodes {
		if o != n && o.up && o.side == n.side {
			b := cpl(n.kad, o.kad)
			byBucket[b] = append(byBucket[b], o.idx)
		}
	}
	for b, cands := range byBucket {
		if len(cands) > m.p.K {
			m.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
			cands = cands[:m.p.K]
		}
		n.table[b] = slices.Clone(cands)
	}
}

// closest are the count entries of n's table closest to target.
func (m *mesh) closest(n *mnode, target uint64, count int) []int {
	var all []int
	for _, b := range n.table {
		all = append(all, b...)
	}
	slices.SortFunc(all, func(a, b int) int { return cmpDist(m.nodes[a].kad^target, m.nodes[b].kad^target) })
	return all[:min(count, len(all))]
}

// forget drops a peer that failed to answer from n's table, as kad-dht
// does.
func (n *mnode) forget(peer int) {
	for b, bucket := range n.table {
		n.table[b] = slices.DeleteFunc(bucket, func(p int) bool { return p == peer })
	}
}

func keyHash(k string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k))
	return h.Sum64()
}

// provide stores n's capability key for its site (the one key the
// scenarios look up; routing.CapabilityKeys names it) at the K live nodes
// closest to it: those a lookup from n finds, or, when the mesh is being
// formed, the K closest of all (what a converged lookup finds).
func (m *mesh) provide(n *mnode, formed bool) {
	if n.rec == nil {
		return
	}
	reqs, _ := routing.ParseRequirements([]string{"site=" + n.site})
	want := routing.LookupKey(reqs)
	if !slices.Contains(routing.CapabilityKeys(n.rec), want) {
		return
	}
	target := keyHash(want)
	var at []int
	if formed {
		at = m.lookup(n.idx, target).closest
	} else {
		at = m.kClosest(target)
	}
	for _, p := range at {
		o := m.nodes[p]
		if !slices.Contains(o.provides[target], n.idx) {
			o.provides[target] = append(o.provides[target], n.idx)
		}
	}
}

// kClosest are the K live nodes closest to target, remembered by target
// while the mesh is formed.
func (m *mesh) kClosest(target uint64) []int {
	if at, ok := m.closestCache[target]; ok {
		return at
	}
	var all []int
	for _, n := range m.nodes {
		if n.up {
			all = append(all, n.idx)
		}
	}
	slices.SortFunc(all, func(a, b int) int { return cmpDist(m.nodes[a].kad^target, m.nodes[b].kad^target) })
	at := all[:min(m.p.K, len(all))]
	m.closestCache[target] = at
	return at
}

func cmpDist(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lookupResult is what an iterative lookup found.
type lookupResult struct {
	took      time.Duration
	hops      int
	closest   []int
	providers []int
}

// lookup runs kad-dht's iterative lookup for target from node from: up to
// Alpha requests in flight, each to the closest unqueried peer known; it
// ends when the Beta closest peers known have answered. A request to a
// peer that is gone fails after DialTimeout (and the peer is forgotten);
// one to a live peer costs a round trip, two when it is the first (QUIC's
// handshake), and returns the peer's K closest and any providers it holds.
// The lookup is played out in its own clock, from m.now.
func (m *mesh) lookup(from int, target uint64) lookupResult {
	type state struct {
		hop           int
		queried, done bool
		failed        bool
		requestedAt   time.Duration
	}
	st := map[int]*state{}
	var known []int
	add := func(p, hop int) {
		if p == from {
			return
		}
		if _, ok := st[p]; !ok {
			st[p] = &state{hop: hop}
			known = append(known, p)
		}
	}
	for _, p := range m.closest(m.nodes[from], target, m.p.K) {
		add(p, 1)
	}
	dist := func(p int) uint64 { return m.nodes[p].kad ^ target }
	var providers []int
	type flight struct {
		peer int
		at   time.Duration
	}
	var inflight []flight
	var clock time.Duration
	for {
		slices.SortFunc(known, func(a, b int) int { return cmpDist(dist(a), dist(b)) })
		// Done once the Beta closest non-failed peers have answered.
		good, complete := 0, true
		for _, p := range known {
			s := st[p]
			if s.failed {
				continue
			}
			if !s.done {
				complete = false
				break
			}
			if good++; good == m.p.Beta {
				break
			}
		}
		if complete && good > 0 || len(known) == 0 {
			break
		}
		// Fill the flight up to Alpha with the closest unqueried.
		for _, p := range known {
			if len(inflight) >= m.p.Alpha {
				break
			}
			s := st[p]
			if s.queried {
				continue
			}
			s.queried, s.requestedAt = true, clock
			var d time.Duration
			if m.reachable(from, p) {
				rtt := 2 * m.latency(from, p)
				d = 2 * rtt // handshake, then the request
				if m.lost() {
					d += 3 * rtt // a lost packet waits a probe timeout
				}
			} else {
				d, s.failed = m.p.DialTimeout, true
			}
			inflight = append(inflight, flight{p, clock + d})
		}
		if len(inflight) == 0 {
			break
		}
		// The earliest answer arrives.
		slices.SortFunc(inflight, func(a, b flight) int { return int(a.at - b.at) })
		f := inflight[0]
		inflight = inflight[1:]
		clock = f.at
		s := st[f.peer]
		s.done = true
		if s.failed {
			m.nodes[from].forget(f.peer)
			continue
		}
		pn := m.nodes[f.peer]
		providers = append(providers, pn.provides[target]...)
		for _, q := range m.closest(pn, target, m.p.K) {
			add(q, s.hop+1)
		}
	}
	res := lookupResult{took: clock}
	for _, p := range known {
		if s := st[p]; s.done && !s.failed {
			res.closest = append(res.closest, p)
			res.hops = max(res.hops, s.hop)
			if len(res.closest) == m.p.K {
				break
			}
		}
	}
	slices.Sort(providers)
	res.providers = slices.Compact(providers)
	return res
}

// capability looks up the endpoints of site from a client that enters
// through node entry, as client.Candidates does: the provider lookup, then
// each provider's record and status at once (a provider that is gone
// costs the status timeout). It returns the candidates and how long it
// took.
func (m *mesh) capability(entry int, site string) ([]routing.Candidate, lookupResult, time.Duration) {
	reqs, _ := routing.ParseRequirements([]string{"site=" + site})
	target := keyHash(routing.LookupKey(reqs))
	res := m.lookup(entry, target)
	// The client's own link to its entry (a fixed latency by entry).
	took := res.took + 2*m.latency(entry, entry)
	var slowest time.Duration
	var cands []routing.Candidate
	for _, p := range res.providers {
		pn := m.nodes[p]
		if !m.reachable(entry, p) {
			slowest = max(slowest, m.p.StatusTimeout)
			continue
		}
		rtt := 2 * m.latency(entry, p)
		slowest = max(slowest, 3*rtt) // handshake, record, status
		l := routing.Load{ID: pn.rec.ID, Workers: 4, Idle: 4, Accepting: true}
		cands = append(cands, routing.Candidate{Record: pn.rec, Online: true, Load: &l, RTT: rtt})
	}
	return cands, res, took + slowest
}

// --- gossip ----------------------------------------------------------------

// buildMesh gives every live node D mesh peers, links both ways, none over
// Dhi, drawn from its routing table (its connections).
func (m *mesh) buildMesh() {
	for _, n := range m.nodes {
		n.mesh = nil
	}
	for _, n := range m.live() {
		m.graft(n)
	}
}

// graft tops n's mesh up to D from its connections.
func (m *mesh) graft(n *mnode) {
	peers := m.connections(n)
	m.rng.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	for _, p := range peers {
		if len(n.mesh) >= m.p.D {
			return
		}
		o := m.nodes[p]
		if !o.up || o.side != n.side || len(o.mesh) >= m.p.Dhi || slices.Contains(n.mesh, p) {
			continue
		}
		n.mesh = append(n.mesh, p)
		o.mesh = append(o.mesh, n.idx)
	}
}

// connections are the peers n is connected to: its routing table's.
func (m *mesh) connections(n *mnode) []int {
	var out []int
	for _, b := range n.table {
		for _, p := range b {
			if m.reachable(n.idx, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// spread is one gossip message being delivered: when each node got it.
type spread struct {
	got    map[int]time.Duration
	start  time.Duration
	sends  int
	onGot  func(n *mnode)
	active bool
}

// gossip publishes a message from origin at m.now: flood-published to
// every connection, forwarded along the mesh, and announced by IHAVE to
// Dlazy other connections at each heartbeat for HistoryGossip heartbeats
// (a peer that lacks it asks with IWANT and gets it a round trip later).
func (m *mesh) gossip(origin int, onGot func(*mnode)) *spread {
	sp := &spread{got: map[int]time.Duration{}, start: m.now, onGot: onGot, active: true}
	m.receive(sp, origin, origin)
	for _, p := range m.connections(m.nodes[origin]) {
		m.send(sp, origin, p, 0)
	}
	// Heartbeats of every node while the message is in the history.
	for _, n := range m.nodes {
		phase := time.Duration(m.rng.Int64N(int64(m.p.Heartbeat)))
		for h := range m.p.HistoryGossip + 1 {
			at := phase + time.Duration(h)*m.p.Heartbeat
			m.at(at, func() { m.ihave(sp, n) })
		}
	}
	return sp
}

func (m *mesh) send(sp *spread, from, to int, extra time.Duration) {
	sp.sends++
	if !m.reachable(from, to) || m.lost() {
		return
	}
	m.at(extra+m.latency(from, to)+time.Millisecond, func() { m.receive(sp, from, to) })
}

func (m *mesh) receive(sp *spread, from, at int) {
	n := m.nodes[at]
	if !n.up {
		return
	}
	if _, ok := sp.got[at]; ok {
		return
	}
	sp.got[at] = m.now - sp.start
	if sp.onGot != nil {
		sp.onGot(n)
	}
	for _, p := range n.mesh {
		if p != from {
			m.send(sp, at, p, 0)
		}
	}
}

func (m *mesh) ihave(sp *spread, n *mnode) {
	if _, ok := sp.got[n.idx]; !ok || !n.up {
		return
	}
	peers := slices.DeleteFunc(m.connections(n), func(p int) bool { return slices.Contains(n.mesh, p) })
	m.rng.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	for _, p := range peers[:min(m.p.Dlazy, len(peers))] {
		if _, ok := sp.got[p]; ok {
			continue
		}
		// IHAVE there, IWANT back, the message there again.
		sp.sends += 2
		if m.reachable(n.idx, p) && !m.lost() {
			m.send(sp, n.idx, p, 2*m.latency(n.idx, p))
		}
	}
}

// --- catalog ---------------------------------------------------------------

// publish signs a new public function record and gossips it from a random
// live node; every node that gets it applies it with the real catalog
// core.
func (m *mesh) publish(from *mnode) (int, *spread, error) {
	idx := len(m.recs)
	fn := catalog.Function{Name: fmt.Sprintf("conv%d", idx+1), Kind: catalog.KindPython, Source: "def f(x):\n    return x\n", Entry: "f"}
	env, err := catalog.NewPublish(m.owner, nil, fn, catalog.Access{Public: true}, time.Unix(0, 0).Add(m.now))
	if err != nil {
		return 0, nil, err
	}
	m.recs = append(m.recs, env)
	sp := m.gossip(from.idx, func(n *mnode) { m.hold(n, idx) })
	return idx, sp, nil
}

// hold has n apply record idx, once.
func (m *mesh) hold(n *mnode, idx int) {
	if n.held[idx] {
		return
	}
	if _, err := n.cat.Receive(m.recs[idx]); err == nil {
		n.held[idx] = true
	}
}

// pull is one catalog sync of n from peer: n gets every record peer holds.
func (m *mesh) pull(n, peer *mnode) {
	for idx := range peer.held {
		m.hold(n, idx)
	}
}

// syncLoop has every live node pull from a random connection every
// SyncInterval, at a phase of its own, until end.
func (m *mesh) syncLoop(end time.Duration) {
	m.syncEnd = end
	for _, n := range m.live() {
		m.syncNode(n)
	}
}

// syncNode has n pull from a random connection every SyncInterval, at a
// phase of its own, until the end syncLoop set.
func (m *mesh) syncNode(n *mnode) {
	phase := time.Duration(m.rng.Int64N(int64(m.p.SyncInterval)))
	for at := m.now + phase; at < m.syncEnd; at += m.p.SyncInterval {
		m.at(at-m.now, func() {
			if !n.up {
				return
			}
			if peers := m.connections(n); len(peers) > 0 {
				m.pull(n, m.nodes[peers[m.rng.IntN(len(peers))]])
			}
		})
	}
}

// converge publishes k records from random live nodes and runs until every
// live node holds each (or giveUp).
func (m *mesh) converge(k int, giveUp time.Duration) error {
	start := m.now
	type pub struct {
		idx int
		sp  *spread
	}
	var pubs []pub
	for range k {
		live := m.live()
		idx, sp, err := m.publish(live[m.rng.IntN(len(live))])
		if err != nil {
			return err
		}
		pubs = append(pubs, pub{idx, sp})
	}
	m.runFor(giveUp)
	for _, p := range pubs {
		var last time.Duration
		all := true
		for _, n := range m.live() {
			if d, ok := p.sp.got[n.idx]; ok {
				m.delivered = append(m.delivered, d.Seconds())
				m.sample("catalog_delivery_s", d.Seconds())
				last = max(last, d)
			} else if !n.held[p.idx] {
				all = false
			}
		}
		if all {
			m.conv = append(m.conv, last.Seconds())
			m.sample("catalog_convergence_s", last.Seconds())
		}
	}
	m.res.Publishes += k
	m.progress("%d publishes from %s", k, start)
	return nil
}

// --- measurements ----------------------------------------------------------

func (m *mesh) pickSite() string {
	for {
		site := fmt.Sprintf("s%d", m.rng.IntN(m.sites))
		for _, n := range m.nodes {
			if n.up && n.rec != nil && n.site == site {
				return site
			}
		}
	}
}

func (m *mesh) randomEndpoint() *mnode {
	for {
		n := m.nodes[m.rng.IntN(len(m.nodes))]
		if n.up && n.rec != nil {
			return n
		}
	}
}

// lookups runs count capability lookups, each from a client entering
// through a random live endpoint, and routed invocations of as many
// whose route is ranked by routing.Rank, then run (a round trip to open
// the session, one for the call).
func (m *mesh) lookupsAndInvokes(count, invokes int) {
	for i := range count {
		site := m.pickSite()
		entry := m.randomEndpoint()
		cands, res, took := m.capability(entry.idx, site)
		m.lookups++
		reqs, _ := routing.ParseRequirements([]string{"site=" + site})
		ranked := routing.Rank(cands, routing.Request{Requirements: reqs, Caller: m.owner.ID(), AnyOwner: true})
		ok := len(ranked) > 0 && ranked[0].Eligible
		m.hops = append(m.hops, float64(res.hops))
		m.sample("lookup_hops", float64(res.hops))
		if ok {
			m.lookupOK++
			m.lookupMs = append(m.lookupMs, float64(took.Microseconds())/1000)
			m.sample("lookup_ms", float64(took.Microseconds())/1000)
		}
		if i >= invokes {
			continue
		}
		m.invokes++
		if ok {
			var target int
			for _, n := range m.nodes {
				if n.rec != nil && n.rec.ID == ranked[0].Candidate.Record.ID {
					target = n.idx
				}
			}
			call := took + 4*m.latency(entry.idx, target)
			m.invokeOK++
			m.invokeMs = append(m.invokeMs, float64(call.Microseconds())/1000)
			m.sample("invoke_ms", float64(call.Microseconds())/1000)
		}
		m.runFor(50 * time.Millisecond)
	}
	m.progress("%d lookups", count)
}

// followers are the live nodes that follow the heartbeats: the
// bootstraps (node.FollowsLoad; the model's nodes serve no web view).
func (m *mesh) followers() []*mnode {
	var out []*mnode
	for _, n := range m.live() {
		if n.boot {
			out = append(out, n)
		}
	}
	return out
}

// downDetection stops k endpoints and measures, for each, when every live
// follower holds it down: its last heartbeat goes straight to the
// followers (gossipsub fanout: an endpoint that follows nothing sends its
// beat to up to D peers that do; with a packet lost, it comes through
// another follower a hop later), then MissedBeats intervals pass without
// one. The endpoint stopped at a uniform phase after that beat.
func (m *mesh) downDetection(k int) {
	fs := m.followers()
	if len(fs) == 0 {
		return
	}
	for range k {
		n := m.randomEndpoint()
		var last time.Duration
		for _, f := range fs {
			d := m.latency(n.idx, f.idx)
			if m.lost() {
				o := fs[m.rng.IntN(len(fs))]
				d = m.latency(n.idx, o.idx) + m.latency(o.idx, f.idx)
			}
			last = max(last, d)
		}
		m.runFor(10 * time.Second)
		phase := time.Duration(m.rng.Int64N(int64(m.p.BeatInterval)))
		n.up = false
		d := last - phase + time.Duration(m.p.MissedBeats)*m.p.BeatInterval
		m.downS = append(m.downS, d.Seconds())
		m.sample("down_detection_s", d.Seconds())
	}
}

// traffic sets the per-node traffic at steady state, from the parameters
// and the message sizes of the real cores. Heartbeats: only the followers
// (the bootstraps) subscribe to the load topic; an endpoint sends each of
// its beats to min(D, followers) of them (fanout) and to nobody else, and
// each follower sends each beat it gets on to its mesh among the
// followers (min(D, followers-1) peers) and announces beat IDs by IHAVE to
// the followers outside its mesh, if any. The DHT record and capability
// keys are put again every third of the record's lifetime; the catalog is
// pulled every SyncInterval. BytesPerNodePerMin is the mean over every
// live node; FollowerBytesPerMin one follower's.
func (m *mesh) traffic() {
	const frame = 60 // QUIC, stream and RPC framing of one message
	const pubsubEnvelope = 38 + 8 + 64 + 16
	l := routing.Load{ID: m.owner.ID().String(), Seq: 1, Workers: 4, Idle: 4, Accepting: true, At: time.Unix(1, 0)}
	beat, _ := routing.EncodeHeartbeat(l)
	beatBytes := float64(len(beat) + pubsubEnvelope + frame)
	live := m.live()
	endpoints := 0
	for _, n := range live {
		if n.rec != nil {
			endpoints++
		}
	}
	followers := float64(len(m.followers()))
	beatsPerMin := float64(time.Minute / m.p.BeatInterval) // of one endpoint
	heartbeatsPerMin := float64(time.Minute / m.p.Heartbeat)
	// An endpoint's own beats, to its fanout; IHAVE of them to the
	// followers outside it, at each gossipsub heartbeat, while they are
	// in the history.
	fanout := min(float64(m.p.D), followers)
	epMsgs := beatsPerMin * fanout
	epBytes := epMsgs * beatBytes
	if rest := followers - fanout; rest > 0 {
		ih := heartbeatsPerMin * min(float64(m.p.Dlazy), rest)
		ids := float64(m.p.HistoryGossip) * m.p.Heartbeat.Seconds() / m.p.BeatInterval.Seconds()
		epMsgs += ih
		epBytes += ih * (frame + ids*50)
	}
	// A follower: every endpoint's beat, on to its mesh peers; IHAVE to
	// max(Dlazy, GossipFactor of its other followers) of those outside
	// its mesh, carrying the IDs (about 50 bytes each) of HistoryGossip
	// heartbeats' beats, at most MaxIHaveLength.
	degree := min(float64(m.p.D), max(0, followers-1))
	fMsgs := float64(endpoints) * beatsPerMin * degree
	fBytes := fMsgs * beatBytes
	if others := followers - 1 - degree; others > 0 {
		targets := min(others, max(float64(m.p.Dlazy), m.p.GossipFactor*others))
		ids := min(float64(m.p.MaxIHaveLength), float64(endpoints)/m.p.BeatInterval.Seconds()*float64(m.p.HistoryGossip))
		ih := heartbeatsPerMin * targets
		fMsgs += ih
		fBytes += ih * (frame + ids*50)
	}
	// The DHT: every 10 minutes (a third of the record's 30) each endpoint
	// puts its record and provides its keys, K stores each after a lookup
	// of about Alpha*hops requests; spread over every node.
	keys := 3.0
	dhtMsgs := float64(endpoints) * (1 + keys) * (float64(m.p.K) + float64(m.p.Alpha)*3) / 10 / float64(len(live))
	dhtBytes := dhtMsgs * (frame + 600)
	syncs := 2 * float64(time.Minute/m.p.SyncInterval) // a pull and being pulled
	syncBytes := syncs * (frame + 64*float64(len(m.recs)+1))
	nodes := float64(len(live))
	m.res.MessagesPerNodePerMin = (float64(endpoints)*epMsgs+followers*fMsgs)/nodes + dhtMsgs + syncs
	m.res.BytesPerNodePerMin = (float64(endpoints)*epBytes+followers*fBytes)/nodes + dhtBytes + syncBytes
	if followers > 0 {
		m.res.FollowerBytesPerMin = fBytes + dhtBytes + syncBytes
	}
}

func (m *mesh) finish() {
	r := &m.res
	if r.Publishes > 0 {
		r.CatalogConverged = Fraction(len(m.conv), r.Publishes)
		r.CatalogConvergenceP50S, r.CatalogConvergenceP99S = Quantile(m.conv, 0.5), Quantile(m.conv, 0.99)
		r.CatalogConvergenceMaxS = Quantile(m.conv, 1)
		r.CatalogDeliveryP50S, r.CatalogDeliveryP99S = Quantile(m.delivered, 0.5), Quantile(m.delivered, 0.99)
	}
	r.Lookups, r.LookupSuccess = m.lookups, Fraction(m.lookupOK, m.lookups)
	r.LookupP50Ms, r.LookupP99Ms = Quantile(m.lookupMs, 0.5), Quantile(m.lookupMs, 0.99)
	r.LookupHopsP90 = Quantile(m.hops, 0.9)
	r.Invokes, r.InvokeSuccess = m.invokes, Fraction(m.invokeOK, m.invokes)
	r.InvokeP50Ms, r.InvokeP99Ms = Quantile(m.invokeMs, 0.5), Quantile(m.invokeMs, 0.99)
	if len(m.downS) > 0 {
		r.DownDetectionS, r.DownDetectionMaxS = Quantile(m.downS, 0.5), Quantile(m.downS, 1)
	}
}

// --- scenarios -------------------------------------------------------------

func (m *mesh) lookupCount() int { return max(20, min(500, m.cfg.Nodes/5)) }

func (m *mesh) steady() {
	m.traffic()
	m.converge(5, time.Minute)
	m.lookupsAndInvokes(m.lookupCount(), m.lookupCount()/2)
	m.downDetection(3)
}

// churn replaces a fifth of the endpoints a minute for three minutes: the
// one that leaves is gone (its entries linger in routing tables until a
// request to it fails, its provider records until they expire); the one
// that comes (a new identity, or the old one back on a new address, by
// turns) fills its table by its join lookup, grafts its mesh, pulls the
// catalog from its entry and provides its keys.
func (m *mesh) churn() {
	m.traffic()
	end := m.now + 3*time.Minute
	m.syncLoop(end)
	eps := 0
	for _, n := range m.nodes {
		if n.rec != nil {
			eps++
		}
	}
	period := time.Minute / time.Duration(max(1, eps/5))
	replaced := 0
	for at := period; m.now+at < end; at += period {
		m.at(at, func() {
			old := m.randomEndpoint()
			old.up = false
			var n *mnode
			if replaced%2 == 0 {
				n = m.newNode()
			} else {
				n = m.rejoin(old)
			}
			replaced++
			entry := m.randomEndpoint()
			m.fillTable(n)
			m.graft(n)
			m.pull(n, entry)
			m.provide(n, true)
			m.syncNode(n)
		})
	}
	for range 3 {
		_ = m.converge(2, 20*time.Second)
		m.lookupsAndInvokes(m.lookupCount()/3, m.lookupCount()/6)
		m.runUntil(min(end, m.now+20*time.Second))
	}
	m.runUntil(end)
	m.res.Replaced = replaced
}

// rejoin brings an old identity back as a new node (its record, site and
// Kademlia ID), its catalog kept.
func (m *mesh) rejoin(old *mnode) *mnode {
	n := &mnode{idx: len(m.nodes), kad: old.kad, up: true, held: old.held, provides: map[uint64][]int{}, cat: old.cat, site: old.site, rec: old.rec}
	old.held, old.rec = map[int]bool{}, nil
	m.nodes = append(m.nodes, n)
	return n
}

// partition cuts 30% of the nodes off for five minutes, publishes on each
// side, heals, and measures the time until every live node holds every
// record. Across the cut, connections close; after the heal a node
// reconnects to the other side when its routing table is refreshed (every
// RefreshPeriod, at a phase of its own), and its next pull from a peer
// there brings the records.
func (m *mesh) partition() {
	m.traffic()
	live := m.live()
	m.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	cut := live[:len(live)*3/10]
	for _, n := range cut {
		n.side = true
	}
	m.buildMesh()
	for _, n := range live {
		m.fillTable(n)
	}
	_, _, _ = m.publish(cut[0])
	_, _, _ = m.publish(live[len(cut)])
	m.runFor(5 * time.Minute)
	for _, n := range cut {
		n.side = false
	}
	healed := m.now
	horizon := 20 * time.Minute
	m.syncLoop(m.now + horizon)
	for _, n := range m.live() {
		phase := time.Duration(m.rng.Int64N(int64(m.p.RefreshPeriod)))
		m.at(phase, func() { m.fillTable(n); m.graft(n) })
	}
	for m.now < healed+horizon {
		m.runFor(time.Second)
		if m.holdsAll() {
			m.res.HealConsistencyS = (m.now - healed).Seconds()
			break
		}
	}
	m.progress("healed")
	m.buildMesh()
	_ = m.converge(3, time.Minute)
	m.lookupsAndInvokes(m.lookupCount(), m.lookupCount()/2)
}

func (m *mesh) holdsAll() bool {
	for _, n := range m.live() {
		if len(n.held) < len(m.recs) {
			return false
		}
	}
	return true
}

// bootstrapLoss: every bootstrap vanishes; a tenth more endpoints join
// through endpoints they know; publishes, lookups and invocations go on.
func (m *mesh) bootstrapLoss() {
	m.traffic()
	for _, n := range m.nodes {
		if n.boot {
			n.up = false
		}
	}
	for range max(1, m.cfg.Nodes/10) {
		n := m.newNode()
		entry := m.randomEndpoint()
		m.fillTable(n)
		m.graft(n)
		m.pull(n, entry)
		m.provide(n, true)
	}
	_ = m.converge(5, time.Minute)
	m.lookupsAndInvokes(m.lookupCount(), m.lookupCount()/2)
}
