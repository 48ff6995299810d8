package node

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/node/webview"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// directory is every endpoint a node knows, for its web view: those whose
// heartbeats it hears and those the DHT lists as providers of
// routing.KeyEndpoint, each with its signed record, fetched from the
// endpoint (or from the DHT when it cannot be reached) and checked. It
// runs only while the web view is on.
type directory struct {
	n *Node

	mu      sync.Mutex // guards entries and pending
	entries map[peer.ID]*dirEntry
	pending map[peer.ID]bool // heard of, record not fetched yet
}

// dirEntry is one endpoint's record and when it was fetched.
type dirEntry struct {
	rec     *routing.EndpointRecord
	fetched time.Time
}

// Bounds and pace of the directory.
const (
	maxKnownEndpoints = 4096             // endpoints kept, and pending
	dirTick           = time.Second      // how often pending records are fetched
	dirRefresh        = time.Minute      // how old a record may get before it is fetched again
	dirProviders      = 15 * time.Second // how often the DHT is asked for endpoints
	dirFetchers       = 8                // records fetched at once
	dirFetchTimeout   = 5 * time.Second
)

func newDirectory(n *Node) *directory {
	return &directory{n: n, entries: map[peer.ID]*dirEntry{}, pending: map[peer.ID]bool{}}
}

// heard notes an endpoint whose heartbeat arrived; its record is fetched
// on the next tick if it is not known.
func (d *directory) heard(id string) {
	p, err := peer.Decode(id)
	if err != nil || p == d.n.ID() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries[p] == nil && len(d.pending) < maxKnownEndpoints {
		d.pending[p] = true
	}
}

// run keeps the directory until the node's context ends.
func (d *directory) run() {
	defer d.n.wg.Done()
	tick := time.NewTicker(dirTick)
	defer tick.Stop()
	var asked time.Time
	for {
		now := time.Now()
		if now.Sub(asked) >= dirProviders {
			asked = now
			d.findProviders()
		}
		d.fetchDue(now)
		d.count()
		select {
		case <-d.n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// findProviders asks the DHT for every endpoint.
func (d *directory) findProviders() {
	ctx, cancel := context.WithTimeout(d.n.ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	found := 0
	for ai := range d.n.dht.FindProvidersAsync(ctx, routing.KeyCID(routing.KeyEndpoint), maxKnownEndpoints) {
		found++
		if ai.ID == d.n.ID() {
			continue
		}
		if len(ai.Addrs) > 0 {
			d.n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, 10*time.Minute)
		}
		d.heard(ai.ID.String())
	}
	var err error
	if found == 0 && ctx.Err() != nil {
		err = ctx.Err()
	}
	d.n.metrics.dht("find_providers", start, err)
}

// fetchDue fetches the records pending and those older than dirRefresh of
// endpoints still online, dirFetchers at a time.
func (d *directory) fetchDue(now time.Time) {
	live := d.n.Liveness()
	d.mu.Lock()
	var due []peer.ID
	for p := range d.pending {
		due = append(due, p)
	}
	for p, e := range d.entries {
		if now.Sub(e.fetched) >= dirRefresh && !live.Down(p.String(), now) {
			due = append(due, p)
		}
	}
	d.mu.Unlock()
	sem := make(chan struct{}, dirFetchers)
	var wg sync.WaitGroup
	for _, p := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rec := d.fetch(p)
			d.mu.Lock()
			defer d.mu.Unlock()
			delete(d.pending, p)
			switch {
			case rec != nil && len(d.entries) < maxKnownEndpoints || rec != nil && d.entries[p] != nil:
				d.entries[p] = &dirEntry{rec: rec, fetched: time.Now()}
			case d.entries[p] != nil:
				d.entries[p].fetched = time.Now() // keep the last; try again later
			}
		}()
	}
	wg.Wait()
	d.prune(now)
}

// prune forgets endpoints whose record expired and that are down.
func (d *directory) prune(now time.Time) {
	live := d.n.Liveness()
	d.mu.Lock()
	defer d.mu.Unlock()
	for p, e := range d.entries {
		if !now.Before(e.rec.ExpiresAt()) && (live.Down(p.String(), now) || !d.heardOf(p)) {
			delete(d.entries, p)
		}
	}
}

// heardOf reports whether a heartbeat of p is known.
func (d *directory) heardOf(p peer.ID) bool {
	_, ok := d.n.Liveness().Get(p.String())
	return ok
}

// fetch gets p's record: from p when connected to it, else from the DHT.
// It returns nil when neither gives a valid record of p.
func (d *directory) fetch(p peer.ID) *routing.EndpointRecord {
	ctx, cancel := context.WithTimeout(d.n.ctx, dirFetchTimeout)
	defer cancel()
	if d.n.host.Network().Connectedness(p) == network.Connected {
		if rec := d.ask(ctx, p); rec != nil {
			return rec
		}
	}
	start := time.Now()
	b, err := d.n.dht.GetValue(ctx, routing.Key(p))
	d.n.metrics.dht("get_record", start, err)
	if err != nil {
		d.n.log.Debug("web view: endpoint record", "peer", p, "err", err)
		return nil
	}
	return d.check(p, b)
}

// ask reads p's record from p itself.
func (d *directory) ask(ctx context.Context, p peer.ID) *routing.EndpointRecord {
	s, err := d.n.host.NewStream(ctx, p, wire.RecordProtocol)
	if err != nil {
		return nil
	}
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(dirFetchTimeout))
	b, err := io.ReadAll(io.LimitReader(s, routing.MaxRecordBytes+1))
	if err != nil {
		s.Reset()
		return nil
	}
	return d.check(p, b)
}

// check decodes b as p's record.
func (d *directory) check(p peer.ID, b []byte) *routing.EndpointRecord {
	rec, err := routing.DecodeRecord(b, d.n.now())
	if err != nil || rec.ID != p.String() {
		d.n.log.Debug("web view: bad endpoint record", "peer", p, "err", err)
		return nil
	}
	return rec
}

// count sets the metric of endpoints known.
func (d *directory) count() {
	online := 0
	all := d.endpoints()
	for _, e := range all {
		if e.Online {
			online++
		}
	}
	d.n.metrics.recordsKnown.WithLabelValues("online").Set(float64(online))
	d.n.metrics.recordsKnown.WithLabelValues("offline").Set(float64(len(all) - online))
}

// endpoints is the directory as the web view shows it, the node's own
// endpoint included.
func (d *directory) endpoints() []webview.Endpoint {
	now := d.n.now()
	live := d.n.Liveness()
	d.mu.Lock()
	out := make([]webview.Endpoint, 0, len(d.entries)+1)
	for p, e := range d.entries {
		if p == d.n.ID() {
			continue
		}
		we := webview.Endpoint{Record: e.rec}
		if l, ok := live.Get(p.String()); ok {
			we.Load = &l
			we.Online = !live.Down(p.String(), now)
		}
		out = append(out, we)
	}
	d.mu.Unlock()
	if d.n.role == RoleEndpoint {
		if rec, err := routing.DecodeRecord(d.n.currentRecord(), now); err == nil {
			l := d.n.ep.load()
			out = append(out, webview.Endpoint{Record: rec, Online: d.n.ctx.Err() == nil, Load: &l})
		}
	}
	return out
}
