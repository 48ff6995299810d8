package node

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/catalog/boltstore"
	"github.com/fxmesh/fxmesh/wire"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// syncInterval is how often a node pulls the catalog from a random peer, on
// top of the pulls on joining and on each new connection.
const syncInterval = 30 * time.Second

// gossipTopic adapts a gossipsub topic to catalog.Topic.
type gossipTopic struct {
	t   *pubsub.Topic
	sub *pubsub.Subscription
}

func (g *gossipTopic) Publish(ctx context.Context, data []byte) error { return g.t.Publish(ctx, data) }

func (g *gossipTopic) Next(ctx context.Context) ([]byte, error) {
	m, err := g.sub.Next(ctx)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// startCatalog opens the node's catalog store, joins the catalog topic with
// a validator that never forwards a bad record, serves the sync and client
// protocols, and keeps the store in sync with peers.
func (n *Node) startCatalog() error {
	lim := catalog.Limits{}
	st, err := boltstore.Open(filepath.Join(n.dir, "catalog.db"), boltstore.Options{
		Catalog: catalog.Options{OwnerQuota: n.config().CatalogOwnerQuota, Logger: n.log},
	})
	if err != nil {
		return err
	}
	n.catalog = st
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithMaxMessageSize(catalog.DefaultLimits().MaxRecordBytes+64<<10),
		pubsub.WithPeerExchange(true))
	if err != nil {
		return fmt.Errorf("node: start gossipsub: %w", err)
	}
	n.pubsub = ps
	if err := ps.RegisterTopicValidator(wire.CatalogTopic, func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if from == n.host.ID() {
			return pubsub.ValidationAccept // Publish applied and checked it already
		}
		_, err := st.Check(m.Data)
		switch catalog.VerdictOf(err) {
		case catalog.Accept:
			n.metrics.gossip.WithLabelValues("catalog", "accepted").Inc()
			return pubsub.ValidationAccept
		case catalog.Ignore:
			n.metrics.gossip.WithLabelValues("catalog", "ignored").Inc()
			return pubsub.ValidationIgnore
		}
		n.metrics.gossip.WithLabelValues("catalog", "rejected").Inc()
		n.log.Debug("catalog gossip rejected", "from", from, "err", err)
		return pubsub.ValidationReject
	}); err != nil {
		return fmt.Errorf("node: catalog validator: %w", err)
	}
	t, err := ps.Join(wire.CatalogTopic)
	if err != nil {
		return fmt.Errorf("node: join catalog topic: %w", err)
	}
	sub, err := t.Subscribe()
	if err != nil {
		return fmt.Errorf("node: subscribe catalog topic: %w", err)
	}
	n.topic = &gossipTopic{t: t, sub: sub}
	n.host.SetStreamHandler(wire.SyncProtocol, n.handleSync)
	n.host.SetStreamHandler(wire.CatalogProtocol, n.handleCatalog)
	n.syncNow = make(chan peer.ID, 64)
	// A new peer is pulled from once identify has told its protocols: a
	// connection closed before that, or a light client, is no sync peer.
	identified, err := n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return fmt.Errorf("node: subscribe to identify: %w", err)
	}
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		defer identified.Close()
		for {
			select {
			case <-n.ctx.Done():
				return
			case e, ok := <-identified.Out():
				if !ok {
					return
				}
				if ev, ok := e.(event.EvtPeerIdentificationCompleted); ok {
					select {
					case n.syncNow <- ev.Peer:
					default:
					}
				}
			}
		}
	}()
	go func() {
		defer n.wg.Done()
		_ = st.Follow(n.ctx, n.topic)
	}()
	go n.syncLoop(lim)
	return nil
}

// syncLoop pulls from each newly identified peer and, every syncInterval,
// from a random connected peer.
func (n *Node) syncLoop(lim catalog.Limits) {
	defer n.wg.Done()
	tick := time.NewTicker(syncInterval)
	defer tick.Stop()
	recent := map[peer.ID]time.Time{}
	for {
		var p peer.ID
		select {
		case <-n.ctx.Done():
			return
		case p = <-n.syncNow:
			if time.Since(recent[p]) < 2*time.Second {
				continue
			}
		case <-tick.C:
			peers := n.host.Network().Peers()
			if len(peers) == 0 {
				continue
			}
			p = peers[rand.IntN(len(peers))]
		}
		recent[p] = time.Now()
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, wire.SyncProtocol); len(ok) == 0 {
			continue // a light client, or identify has not finished
		}
		ctx, cancel := context.WithTimeout(n.ctx, 20*time.Second)
		stats, err := n.catalog.Pull(ctx, &syncPeer{n: n, p: p, lim: lim})
		cancel()
		if err != nil {
			n.log.Debug("catalog pull", "peer", p, "err", err)
		} else if stats.Received > 0 || stats.Pushed > 0 {
			n.log.Info("catalog synced", "peer", p, "received", stats.Received, "pushed", stats.Pushed)
		}
	}
}

// syncPeer is the far side of a pull, over a SyncProtocol stream.
type syncPeer struct {
	n   *Node
	p   peer.ID
	lim catalog.Limits
}

func (sp *syncPeer) Sync(ctx context.Context, req *catalog.SyncRequest) (*catalog.SyncResponse, error) {
	b, err := catalog.EncodeSyncRequest(req, sp.lim)
	if err != nil {
		return nil, err
	}
	s, err := sp.n.host.NewStream(ctx, sp.p, wire.SyncProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := wire.WriteFrame(s, b); err != nil {
		s.Reset()
		return nil, err
	}
	_ = s.CloseWrite()
	rb, err := wire.ReadFrame(bufio.NewReader(s), catalog.DefaultLimits().MaxSyncBytes)
	if err != nil {
		s.Reset()
		return nil, err
	}
	return catalog.DecodeSyncResponse(rb, sp.lim)
}

func (n *Node) handleSync(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(30 * time.Second))
	b, err := readRequest(n.frameReader(s, catalog.DefaultLimits().MaxSyncBytes))
	if err != nil {
		s.Reset()
		return
	}
	req, err := catalog.DecodeSyncRequest(b, catalog.Limits{})
	if err != nil {
		n.log.Debug("bad sync request", "peer", s.Conn().RemotePeer(), "err", err)
		s.Reset()
		return
	}
	resp, err := catalog.EncodeSyncResponse(n.catalog.HandleSync(req), catalog.Limits{})
	if err != nil {
		s.Reset()
		return
	}
	if err := wire.WriteFrame(s, resp); err != nil {
		s.Reset()
	}
}
