package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/node/audit"
	"github.com/fxmesh/fxmesh/p2p"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Role is what a node does in the mesh.
type Role int

const (
	// RoleEndpoint serves functions and advertises an endpoint record.
	RoleEndpoint Role = iota
	// RoleBootstrap is the operators' point of contact: a DHT server only.
	RoleBootstrap
)

func (r Role) String() string {
	if r == RoleBootstrap {
		return "bootstrap"
	}
	return "endpoint"
}

// The bytes a node holds in frames still arriving from its peers (requests
// and catalog messages), in total and from one peer: a peer that announces
// large frames and sends them slowly holds at most framePeerBudget, and all
// of them together frameBudget; frames over it are refused as overloaded.
// One peer may still send the largest invocation (10 MiB and its framing).
const (
	frameBudget     = 64 << 20
	framePeerBudget = 16 << 20
)

// Options configure Start. Dir and Key are required; the zero value of every
// other field is documented there.
type Options struct {
	// Dir is the node's directory: config, key, multiaddrs, stores.
	Dir string
	// Key is the node's identity.
	Key *identity.Key
	// Config is the node's configuration; nil means LoadConfig(Dir).
	Config *Config
	// Role is the node's role; zero is RoleEndpoint.
	Role Role
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OwnerClaim is the owner's signed claim on this node
	// (routing.SignOwnerClaim), published in the endpoint record so that
	// clients can verify the owner; nil means DIR/owner.claim, if any.
	// Without a valid one the endpoint runs, its owner unverified.
	OwnerClaim []byte
	// BlockHeartbeat and ScalePeriod set the batch-scheduler blocks'
	// heartbeat and scaling period (exec/pilot's Config.Heartbeat and
	// ScalePeriod); zero means pilot's defaults. For tests.
	BlockHeartbeat, ScalePeriod time.Duration
	// Containers says what an endpoint can run container images with,
	// asked each time its record is signed; nil means the runtime its
	// containers: block chose (none: the record lists no runtime), the
	// images that runtime lists, and its containers.pull. The record's container
	// runtimes, images and pulling come from it alone, never from the
	// software of the config.
	Containers ContainerProbe

	// Host and Executors are for simulation (package sim) only; fxnode
	// leaves them nil, and nil changes nothing.
	//
	// Host is a libp2p host already made with Key's identity, on a
	// simulated network; the node uses it instead of making one on the
	// config's listen addresses, and closes it. nil makes one with
	// p2p.NewHost.
	Host host.Host
	// Executors, when not nil, are an endpoint's executors by kind of
	// function, in place of the Python and shell executors and the
	// container runtime; the node closes them.
	Executors map[exec.Kind]exec.Executor
}

func (o *Options) validate() error {
	if o.Dir == "" {
		return errors.New("node: options: no directory")
	}
	if o.Key == nil {
		return errors.New("node: options: no key")
	}
	if o.Host != nil && o.Host.ID() != o.Key.ID() {
		return errors.New("node: options: the host's identity is not the key's")
	}
	return nil
}

// Node is a running fxnode. Close stops it and waits for its goroutines.
type Node struct {
	key    *identity.Key
	dir    string
	cfg    atomic.Pointer[Config] // the config in force; Reload swaps it whole, never edits it
	role   Role
	log    *slog.Logger
	now    func() time.Time
	host   host.Host
	dht    *dht.IpfsDHT
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	catalog *catalog.Store // every full node's catalog
	pubsub  *pubsub.PubSub
	topic   *gossipTopic
	syncNow chan peer.ID // peers to pull the catalog from
	ep      *endpoint    // nil on a bootstrap
	loads   *loadTracker
	boot    []peer.AddrInfo // the bootstrap peers of the config
	frames  *wire.Budget    // bytes in unfinished frames from peers

	claim []byte // the owner's claim on this node, as loaded

	known *knownRecords // a bootstrap's endpoint records, kept across restarts; nil on an endpoint

	containers ContainerProbe // Options.Containers; nil: runtimeContainers
	executors  executors      // Options.Executors; nil: the host's own

	metrics *metrics    // the node's Prometheus metrics
	audit   *audit.File // the endpoint's audit log; nil: none
	web     *webServer  // the web view and /metrics; nil unless http_listen is set
	dirMu   sync.Mutex  // guards mesh
	mesh    *directory  // the endpoints the web view lists; nil unless http_listen is set

	blockHeartbeat, scalePeriod time.Duration // Options'

	mu     sync.Mutex // guards record, rec, seq, claimProblem, modules
	record []byte     // current signed endpoint record
	rec    *routing.EndpointRecord
	seq    uint64
	joined chan struct{} // closed once the record is in the DHT
	// republish asks publishLoop to sign and publish the record now: the
	// advertised config changed, or a bootstrap peer is back.
	republish chan struct{}
	joinOne   sync.Once
	reached   chan struct{} // closed once joinLoop reached a bootstrap peer

	// claimProblem is what kept the claim out of the last record; "" when
	// it was in (or none is needed). Guarded by mu.
	claimProblem string
	// modules are the Python modules the record advertises, as
	// refreshModules listed them at start; nil keeps the config's
	// software.modules (none, unless set in code). Guarded by mu.
	modules []routing.Module
	// workerPython is the interpreter the Python workers run and its
	// version, as noteWorkerPython probed it; the record lists it first.
	// Zero when unknown (no local pool, or the probe failed). Guarded by mu.
	workerPython struct{ path, version string }
}

// Start starts a node: its host, its DHT server, and for an endpoint the
// publishing of its record. It returns once the node listens; joining the
// mesh goes on in the background.
//
// DIR/multiaddrs says the node is ready: Start removes the one an earlier
// run left, and the node writes it once it serves every protocol and, when
// it has bootstrap peers, once the mesh can reach it (an endpoint's record
// is in the DHT; another node has reached a bootstrap peer). A script that
// waits for the file finds a node it can use at once.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(opts.Dir, MultiaddrsFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("node: remove the last run's %s: %w", MultiaddrsFile, err)
	}
	cfg := opts.Config
	if cfg == nil {
		var err error
		if cfg, err = LoadConfig(opts.Dir); err != nil {
			return nil, err
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	boot, err := p2p.ParseAddrInfos(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	h := opts.Host
	if h == nil {
		if h, err = p2p.NewHost(opts.Key, cfg.listen()); err != nil {
			return nil, err
		}
	}
	var known *knownRecords
	var dhtOpts []dht.Option
	if opts.Role == RoleBootstrap {
		known = newKnownRecords(opts.Dir, now)
		note := func(b []byte) { known.note(b) }
		dhtOpts = append(dhtOpts, dht.NamespacedValidator(routing.Namespace, knownValidator{note: note}))
	}
	d, err := p2p.NewDHT(h, true, boot, dhtOpts...)
	if err != nil {
		h.Close()
		return nil, err
	}
	nctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		key: opts.Key, dir: opts.Dir, role: opts.Role, boot: boot,
		log: log.With("node", opts.Key.ID().String()[:12], "role", opts.Role.String()),
		now: now, host: h, dht: d, ctx: nctx, cancel: cancel,
		joined: make(chan struct{}), reached: make(chan struct{}),
		frames:     wire.NewBudget(frameBudget, framePeerBudget),
		containers: opts.Containers, executors: opts.Executors,
		blockHeartbeat: opts.BlockHeartbeat, scalePeriod: opts.ScalePeriod,
		metrics:   newMetrics(opts.Role),
		republish: make(chan struct{}, 1),
	}
	n.cfg.Store(cfg)
	if known != nil {
		n.known = known
		restored := n.restoreKnown()
		n.wg.Add(1)
		go n.keepKnown(restored)
	}
	if cfg.AuditLog != "" && n.role == RoleEndpoint {
		if n.audit, err = audit.Open(n.path(cfg.AuditLog), audit.Options{}); err != nil {
			n.Close()
			return nil, fmt.Errorf("node: audit_log: %w", err)
		}
	}
	if err := n.startCatalog(); err != nil {
		n.Close()
		return nil, err
	}
	n.wg.Add(1)
	go n.joinLoop(boot)
	if n.role == RoleEndpoint {
		if n.claim = opts.OwnerClaim; n.claim == nil {
			if n.claim, err = ReadClaim(opts.Dir); err != nil {
				n.log.Warn("owner claim unreadable; publishing the owner unverified", "err", err, "hint", claimHint(n.ID().String(), opts.Dir))
			}
		}
		if err := n.signRecord(); err != nil {
			n.Close()
			return nil, err
		}
		if err := n.startEndpoint(); err != nil {
			n.Close()
			return nil, err
		}
		// Again, now that the endpoint's container runtime is known.
		if err := n.signRecord(); err != nil {
			n.Close()
			return nil, err
		}
	}
	if err := n.startLoad(); err != nil {
		n.Close()
		return nil, fmt.Errorf("node: heartbeats: %w", err)
	}
	if n.role == RoleEndpoint {
		h.SetStreamHandler(wire.RecordProtocol, n.handleRecord)
		n.wg.Add(1)
		go n.publishLoop()
		if len(boot) > 0 {
			n.wg.Add(1)
			go n.watchBootstrap(boot)
		}
	}
	n.metrics.observeNode(n)
	if cfg.HTTPListen != "" {
		if err := n.startWeb(); err != nil {
			n.Close()
			return nil, err
		}
	}
	// Written last, and with bootstrap peers only once the mesh can reach
	// the node (see above).
	if len(boot) == 0 {
		if err := writeMultiaddrs(opts.Dir, n.Addrs()); err != nil {
			n.Close()
			return nil, fmt.Errorf("node: write %s: %w", MultiaddrsFile, err)
		}
		return n, nil
	}
	ready := n.reached
	if n.role == RoleEndpoint {
		ready = n.joined
	}
	n.wg.Add(1)
	go n.announceReady(ready)
	return n, nil
}

// announceReady writes DIR/multiaddrs once ready is closed.
func (n *Node) announceReady(ready <-chan struct{}) {
	defer n.wg.Done()
	select {
	case <-n.ctx.Done():
		return
	case <-ready:
	}
	if err := writeMultiaddrs(n.dir, n.Addrs()); err != nil {
		n.log.Error("write "+MultiaddrsFile, "err", err)
	}
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host is the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Addrs are the node's dialable addresses, each ending in /p2p/ID.
func (n *Node) Addrs() []string { return p2p.FullAddrs(n.host) }

// config is the node's config in force (see Reload); never modify it.
func (n *Node) config() *Config { return n.cfg.Load() }

// Config is a copy of the node's config in force: as it started, with
// the settings of the last Reload.
func (n *Node) Config() Config { return *n.config() }

// Joined is closed once an endpoint's record is stored in the DHT.
func (n *Node) Joined() <-chan struct{} { return n.joined }

// Close stops the node and waits for its goroutines. It is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.host.RemoveStreamHandler(wire.RecordProtocol)
		n.host.RemoveStreamHandler(wire.StatusProtocol)
		var werr, eerr, cerr, aerr error
		if n.web != nil {
			werr = n.web.close()
		}
		if n.ep != nil {
			eerr = n.ep.close()
		}
		derr := n.dht.Close()
		herr := n.host.Close()
		n.wg.Wait()
		if n.catalog != nil {
			cerr = n.catalog.Close()
		}
		if n.audit != nil {
			aerr = n.audit.Close()
		}
		n.closeErr = errors.Join(werr, eerr, derr, herr, cerr, aerr)
	})
	return n.closeErr
}

// joinLoop keeps the node connected to its bootstrap peers until it has a
// routing table; afterwards the DHT keeps itself up.
func (n *Node) joinLoop(boot []peer.AddrInfo) {
	defer n.wg.Done()
	if len(boot) == 0 {
		return
	}
	backoff := 200 * time.Millisecond
	for {
		if got := p2p.ConnectAny(n.ctx, n.host, boot, 5*time.Second); len(got) > 0 {
			n.log.Info("joined mesh", "bootstrap_peers", len(got))
			if err := n.dht.Bootstrap(n.ctx); err != nil {
				n.log.Warn("dht bootstrap", "err", err)
			}
			close(n.reached)
			return
		}
		n.log.Warn("no bootstrap peer answered; retrying", "in", backoff)
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// signRecord makes a new signed endpoint record with a higher sequence.
func (n *Node) signRecord() error {
	n.mu.Lock()
	last := n.rec
	n.mu.Unlock()
	cfg := n.config()
	sw := cfg.Software // its container fields are the probe's
	n.containerSoftware(&sw, last)
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	seq := uint64(now.UnixNano())
	if seq <= n.seq {
		seq = n.seq + 1
	}
	name := cfg.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	rec := &routing.EndpointRecord{
		ID:       n.key.ID().String(),
		Name:     name,
		Owner:    cfg.Owner,
		Addrs:    n.Addrs(),
		Hardware: cfg.Hardware,
		Software: sw,
		Labels:   cfg.Labels,
		Datasets: cfg.Datasets,
		Seq:      seq,
		Updated:  now.UnixNano(),
		Expires:  now.Add(cfg.recordTTL()).UnixNano(),
		Public:   cfg.Public,
		Allowed:  cfg.Allowed,
		Batch:    n.ep.batchStatus(),
	}
	if n.modules != nil {
		rec.Software.Modules = n.modules
	}
	rec.Software.Python, rec.Software.PythonPaths = workerFirst(rec.Software.Python, rec.Software.PythonPaths, n.workerPython.version, n.workerPython.path)
	rec.Functions, rec.FunctionsUnlisted = advertisedFunctions(cfg.Functions)
	problem := checkClaim(n.claim, rec.ID, rec.Owner, now)
	if problem == "" && rec.Owner != "" {
		rec.OwnerClaim = n.claim
	}
	if problem != n.claimProblem || n.record == nil {
		switch {
		case problem != "":
			n.log.Warn("owner unverified: clients send routed work here only with --any-endpoint or --endpoint",
				"owner", rec.Owner, "problem", problem, "hint", claimHint(rec.ID, n.dir))
		case rec.Owner != "":
			n.log.Info("owner verified by claim", "owner", rec.Owner)
		}
	}
	b, err := routing.SignRecord(n.key, rec)
	if err != nil {
		return fmt.Errorf("node: sign endpoint record: %w", err)
	}
	n.record, n.rec, n.seq, n.claimProblem = b, rec, seq, problem
	return nil
}

// policy is the endpoint's access policy.
func (n *Node) policy() identity.Policy {
	return callerPolicy(n.config())
}

// callerPolicy is who cfg lets use the endpoint.
func callerPolicy(cfg *Config) identity.Policy {
	p := identity.Policy{Public: cfg.Public}
	p.Owner, _ = identity.ParseID(cfg.Owner)
	for _, a := range cfg.Allowed {
		if id, err := identity.ParseID(a); err == nil {
			p.Allowed = append(p.Allowed, id)
		}
	}
	return p
}

// Catalog is the node's catalog store.
func (n *Node) Catalog() *catalog.Store { return n.catalog }

func (n *Node) currentRecord() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.record
}

// publishLoop puts the record in the DHT and announces the endpoint, quickly
// until it first succeeds, then every third of the record's lifetime.
func (n *Node) publishLoop() {
	defer n.wg.Done()
	retry := 250 * time.Millisecond
	refresh := n.config().recordTTL() / 3
	for {
		err := n.publish()
		wait := refresh
		if err != nil {
			n.log.Debug("publish endpoint record", "err", err)
			wait = retry
			retry = min(2*retry, 5*time.Second)
		} else {
			n.joinOne.Do(func() {
				n.log.Info("endpoint record published")
				close(n.joined)
			})
			retry = 250 * time.Millisecond
		}
		kicked := false
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		case <-n.republish:
			kicked = true
			retry = 250 * time.Millisecond
		}
		if err == nil || kicked {
			if err := n.signRecord(); err != nil {
				n.log.Error("sign endpoint record", "err", err)
			}
		}
	}
}

// publishSoon asks publishLoop to sign and publish the record at once.
func (n *Node) publishSoon() {
	select {
	case n.republish <- struct{}{}:
	default: // one is pending already
	}
}

func (n *Node) publish() error {
	if n.dht.RoutingTable().Size() == 0 {
		return errors.New("no peers in routing table yet")
	}
	ctx, cancel := context.WithTimeout(n.ctx, 20*time.Second)
	defer cancel()
	n.mu.Lock()
	b, rec := n.record, n.rec
	n.mu.Unlock()
	start := time.Now()
	err := n.dht.PutValue(ctx, routing.Key(n.key.ID()), b)
	n.metrics.dht("put_record", start, err)
	if err != nil {
		return fmt.Errorf("put record: %w", err)
	}
	if err := n.provideCapabilities(ctx, rec); err != nil {
		return fmt.Errorf("provide: %w", err)
	}
	return nil
}

func (n *Node) handleRecord(s network.Stream) {
	defer s.Close()
	_ = s.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write(n.currentRecord()); err != nil {
		s.Reset()
	}
}

// AddrInfo is the node's ID and listen addresses.
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// path is p, relative to the node's directory unless absolute.
func (n *Node) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(n.dir, p)
}
