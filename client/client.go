package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/p2p"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Options configure New.
type Options struct {
	// Key is the user's identity; nil means a fresh key for this client.
	Key *identity.Key
	// Bootstrap lists multiaddrs (with /p2p/ID) of any nodes of the mesh;
	// at least one must answer.
	Bootstrap []string
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Home is where the client remembers its tasks, and whose config.yaml
	// lists more trusted owners (trusted_owners); zero remembers nothing
	// and reads no config.
	Home Home
	// TrustedOwners are the users, besides Key's own, to whose endpoints
	// Route and RunRouted send work; those of Home are added.
	TrustedOwners []peer.ID
	// RecordBehind writes the local record of tasks (Home) behind the
	// calls, on a goroutine of the client's, instead of before each call
	// returns: a long-lived client such as the local API's sets it and
	// calls FlushRecords before it reads the record. A record that cannot
	// be written is logged. Close writes what is queued.
	RecordBehind bool
	// Host is for simulation (package sim) only; fx leaves it nil, which
	// changes nothing. It is a libp2p host already made with Key's
	// identity, on a simulated network, used instead of a new one and
	// closed with the client.
	Host host.Host
}

// Client is a light peer of the mesh: it dials out, asks, and listens to
// nothing. It is what fx uses.
type Client struct {
	key  *identity.Key
	host host.Host
	dht  *dht.IpfsDHT
	log  *slog.Logger
	now  func() time.Time
	// entry are the bootstrap peers that answered: full nodes to ask.
	entry []peer.ID
	// silent are the bootstrap peers that did not answer.
	silent []peer.ID
	home   Home
	// trusted are the owners, besides the user, whose endpoints routed
	// work may go to.
	trusted []peer.ID

	// records, when not nil, writes the task record behind the calls
	// (Options.RecordBehind).
	records *recordWriter

	smu      sync.Mutex // guards sessions
	sessions map[peer.ID]*session
	done     chan struct{} // closed by Close
	once     sync.Once
}

// joinWait bounds how long New waits for a bootstrap peer to answer,
// and then for its first routing table entry (without one the DHT finds
// nothing): milliseconds on an idle machine, seconds on one that runs a
// hundred fx commands at once.
const joinWait = 15 * time.Second

// New dials the mesh through the bootstrap addresses.
func New(ctx context.Context, opts Options) (*Client, error) {
	if len(opts.Bootstrap) == 0 {
		return nil, fault.E(fault.Invalid, "client", "no bootstrap address: pass --bootstrap, set FX_BOOTSTRAP, or run fxnode dev")
	}
	boot, err := p2p.ParseAddrInfos(opts.Bootstrap)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "client", err)
	}
	trusted := slices.Clone(opts.TrustedOwners)
	if opts.Home.Dir != "" {
		more, err := opts.Home.TrustedOwners()
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, more...)
	}
	key := opts.Key
	if key == nil {
		if key, err = identity.GenerateKey(); err != nil {
			return nil, err
		}
	}
	h := opts.Host
	if h == nil {
		if h, err = p2p.NewHost(key, nil); err != nil {
			return nil, err
		}
	} else if h.ID() != key.ID() {
		return nil, fault.E(fault.Invalid, "client", "the host's identity is not the key's")
	}
	d, err := p2p.NewDHT(h, false, boot)
	if err != nil {
		h.Close()
		return nil, err
	}
	c := &Client{key: key, host: h, dht: d, log: opts.Logger, now: opts.Now, home: opts.Home, trusted: trusted, done: make(chan struct{})}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.now == nil {
		c.now = time.Now
	}
	if opts.RecordBehind && opts.Home.Dir != "" {
		c.records = newRecordWriter(opts.Home, c.log)
	}
	if c.entry = p2p.ConnectAny(ctx, h, boot, joinWait); len(c.entry) == 0 {
		c.Close()
		return nil, fault.E(fault.Unavailable, "client", "no bootstrap peer answered (tried %d)", len(boot))
	}
	for _, b := range boot {
		if !slices.Contains(c.entry, b.ID) {
			c.silent = append(c.silent, b.ID)
		}
	}
	// The routing table fills once identify has seen the peers' protocols.
	for by := time.Now().Add(joinWait); d.RoutingTable().Size() == 0 && time.Now().Before(by); {
		select {
		case <-ctx.Done():
			c.Close()
			return nil, fault.Wrap(fault.Timeout, "client", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return c, nil
}

// FlushRecords waits until the task record holds every record and note
// made before it was called (Options.RecordBehind); without RecordBehind
// it returns at once.
func (c *Client) FlushRecords() {
	if c.records != nil {
		c.records.flush()
	}
}

// recordTask writes, or queues, the record of a task just acknowledged.
func (c *Client) recordTask(r TaskRecord) error {
	if c.records == nil {
		return c.home.RecordTask(r)
	}
	if _, err := c.home.taskPath(r.TaskID); err != nil {
		return err
	}
	c.records.record(r)
	return nil
}

// noteTask writes, or queues, a task's status as seen now.
func (c *Client) noteTask(id string, st *Status) {
	if c.records == nil {
		_ = c.home.NoteTask(id, st, c.now()) // the record is a convenience: it never fails a call
		return
	}
	c.records.note(id, st, c.now())
}

// ID is the client's (the user's) ID.
func (c *Client) ID() peer.ID { return c.host.ID() }

// TrustedOwners are the owners, besides the user, whose endpoints routed
// work may go to.
func (c *Client) TrustedOwners() []peer.ID { return slices.Clone(c.trusted) }

// Host is the client's libp2p host.
func (c *Client) Host() host.Host { return c.host }

// Close disconnects the client.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.done) })
	c.closeSessions()
	if c.records != nil {
		c.records.close()
	}
	return errors.Join(c.dht.Close(), c.host.Close())
}

// EndpointInfo is an endpoint as a client sees it.
type EndpointInfo struct {
	Record *routing.EndpointRecord
	// Online is true when the endpoint answered just now.
	Online bool
}

// Endpoints discovers every endpoint of the mesh, sorted by name then ID.
func (c *Client) Endpoints(ctx context.Context) ([]EndpointInfo, error) {
	l, err := c.ListEndpoints(ctx, nil)
	if err != nil {
		return nil, err
	}
	return l.Endpoints, nil
}

// Listing is a list of the mesh's endpoints, and why it may miss some.
type Listing struct {
	Endpoints []EndpointInfo
	// Incomplete says, one reason a line, why endpoints of the mesh may
	// be missing from Endpoints: a bootstrap peer that did not answer,
	// endpoints named in the DHT that gave no record, or no endpoint
	// found at all (a bootstrap that has just restarted may not know
	// them yet). Empty when every source answered.
	Incomplete []string
}

// ListEndpoints discovers the endpoints of the mesh that meet every
// requirement of require (KEY=VALUE, KEY>=N…), sorted by name then ID,
// and says why the list may be incomplete.
func (c *Client) ListEndpoints(ctx context.Context, require []string) (*Listing, error) {
	reqs, err := routing.ParseRequirements(require)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "", err)
	}
	all, silent, err := collectProviders(ctx, c, routing.KeyEndpoint, c.Endpoint)
	if err != nil {
		return nil, err
	}
	l := &Listing{}
	for _, b := range c.silent {
		l.Incomplete = append(l.Incomplete, fmt.Sprintf("bootstrap peer %s did not answer", b))
	}
	if silent > 0 {
		l.Incomplete = append(l.Incomplete, fmt.Sprintf("%d endpoints named in the DHT gave no record (neither they nor the DHT answered)", silent))
	}
	if len(all) == 0 {
		l.Incomplete = append(l.Incomplete, "no endpoint found: a bootstrap that restarted moments ago may not know the endpoints yet; try again in a few seconds")
	}
next:
	for _, e := range all {
		for _, r := range reqs {
			if ok, _ := r.Met(e.Record); !ok {
				continue next
			}
		}
		l.Endpoints = append(l.Endpoints, e)
	}
	sort.Slice(l.Endpoints, func(i, j int) bool {
		a, b := l.Endpoints[i].Record, l.Endpoints[j].Record
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	return l, nil
}

// collectProviders finds the providers of a capability key in the DHT and
// asks get about each, all at once; providers get cannot answer for are left
// out, and counted in silent.
func collectProviders[T any](ctx context.Context, c *Client, key string, get func(context.Context, peer.ID) (*T, error)) (out []T, silent int, err error) {
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for ai := range c.dht.FindProvidersAsync(fctx, routing.KeyCID(key), 0) {
		if ai.ID == c.host.ID() {
			continue
		}
		c.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Minute)
		wg.Add(1)
		go func(id peer.ID) {
			defer wg.Done()
			v, err := get(ctx, id)
			if err != nil {
				c.log.Debug("provider", "key", key, "peer", id, "err", err)
				mu.Lock()
				silent++
				mu.Unlock()
				return
			}
			mu.Lock()
			out = append(out, *v)
			mu.Unlock()
		}(ai.ID)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, fault.Wrap(fault.Timeout, "client: find "+key, err)
	}
	return out, silent, nil
}

// EndpointsMeeting is Endpoints, only those that meet every requirement
// of require (KEY=VALUE, KEY>=N…).
func (c *Client) EndpointsMeeting(ctx context.Context, require []string) ([]EndpointInfo, error) {
	l, err := c.ListEndpoints(ctx, require)
	if err != nil {
		return nil, err
	}
	return l.Endpoints, nil
}

// Endpoint returns one endpoint's record: from the endpoint itself when it
// answers, else from the DHT (then marked offline).
func (c *Client) Endpoint(ctx context.Context, id peer.ID) (*EndpointInfo, error) {
	rec, err := c.fetchRecord(ctx, id)
	if err == nil {
		return &EndpointInfo{Record: rec, Online: true}, nil
	}
	c.log.Debug("endpoint did not answer; asking the DHT", "peer", id, "err", err)
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, gerr := c.dht.GetValue(gctx, routing.Key(id))
	if gerr != nil {
		return nil, fault.E(fault.NotFound, "client: endpoint", "no record of endpoint %s: %v", id, gerr)
	}
	rec, gerr = routing.DecodeRecord(b, c.now())
	if gerr != nil {
		return nil, fmt.Errorf("client: endpoint %s: %w", id, gerr)
	}
	return &EndpointInfo{Record: rec, Online: false}, nil
}

// fetchRecord asks the endpoint itself for its signed record.
func (c *Client) fetchRecord(ctx context.Context, id peer.ID) (*routing.EndpointRecord, error) {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := c.host.NewStream(sctx, id, wire.RecordProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(io.LimitReader(s, routing.MaxRecordBytes+1))
	if err != nil {
		s.Reset()
		return nil, err
	}
	rec, err := routing.DecodeRecord(b, c.now())
	if err != nil {
		return nil, err
	}
	if rec.ID != id.String() {
		return nil, fault.E(fault.Invalid, "client: endpoint", "peer %s answered with the record of %s", id, rec.ID)
	}
	return rec, nil
}
