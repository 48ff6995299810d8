package node

import (
	"context"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// loadKind is the kind whose executor's workers a heartbeat reports: the
// warm Python pool's.
const loadKind = exec.KindPython

// load is the endpoint's current load as a heartbeat (see executors.load).
func (e *endpoint) load() routing.Load {
	st := e.executors.load()
	now := e.n.now()
	return routing.Load{
		ID: e.n.ID().String(), Seq: uint64(now.UnixNano()),
		Workers: st.Workers, Idle: st.Idle, Running: st.Running, Queued: st.Queued,
		Accepting: st.Queued < e.n.config().maxQueue() && e.n.ctx.Err() == nil && e.tasks.Healthy() == nil && !e.batchFailing(),
		At:        now,
	}
}

func (e *endpoint) handleStatus(s network.Stream) {
	defer s.Close()
	b, err := routing.EncodeHeartbeat(e.load())
	if err != nil {
		s.Reset()
		return
	}
	_ = s.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write(b); err != nil {
		s.Reset()
	}
}

// liveRetention is how long a full node remembers an endpoint it no longer
// hears: the table of heartbeats holds only endpoints heard from lately.
const liveRetention = 10 * time.Minute

// loadTracker follows the heartbeats of every endpoint on a full node.
type loadTracker struct {
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	live  routing.Liveness
}

// startLoad joins the heartbeat topic: every full node follows it, and an
// endpoint beats on it every routing.DefaultHeartbeatInterval.
func (n *Node) startLoad() error {
	if err := n.pubsub.RegisterTopicValidator(wire.LoadTopic, func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		l, err := routing.DecodeHeartbeat(m.Data)
		// Gossipsub signs each message with its origin's key; a heartbeat is
		// believed only from the endpoint it speaks of.
		if err != nil || l.ID != m.GetFrom().String() {
			n.metrics.gossip.WithLabelValues("load", "rejected").Inc()
			return pubsub.ValidationReject
		}
		n.metrics.gossip.WithLabelValues("load", "accepted").Inc()
		return pubsub.ValidationAccept
	}); err != nil {
		return err
	}
	t, err := n.pubsub.Join(wire.LoadTopic)
	if err != nil {
		return err
	}
	sub, err := t.Subscribe()
	if err != nil {
		return err
	}
	n.loads = &loadTracker{topic: t, sub: sub}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		var pruned time.Time
		for {
			m, err := sub.Next(n.ctx)
			if err != nil {
				return
			}
			if l, err := routing.DecodeHeartbeat(m.Data); err == nil {
				now := n.now()
				n.loads.live.Observe(l.ID, l, now)
				n.dirMu.Lock()
				if n.mesh != nil {
					n.mesh.heard(l.ID)
				}
				n.dirMu.Unlock()
				if now.Sub(pruned) >= liveRetention/10 {
					n.loads.live.Prune(now.Add(-liveRetention))
					pruned = now
				}
			}
		}
	}()
	if n.ep != nil {
		n.host.SetStreamHandler(wire.StatusProtocol, n.ep.handleStatus)
		n.wg.Add(1)
		go n.beatLoop()
	}
	return nil
}

// beatLoop publishes the endpoint's load every heartbeat interval.
func (n *Node) beatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(routing.DefaultHeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		b, err := routing.EncodeHeartbeat(n.ep.load())
		if err != nil {
			n.log.Error("encode heartbeat", "err", err)
			continue
		}
		if err := n.loads.topic.Publish(n.ctx, b); err != nil && n.ctx.Err() == nil {
			n.log.Debug("publish heartbeat", "err", err)
		}
	}
}

// Liveness is what this node knows of the endpoints' heartbeats.
func (n *Node) Liveness() *routing.Liveness { return &n.loads.live }

// provideCapabilities announces the endpoint under each capability key of
// its record, so that clients find it by requirement.
func (n *Node) provideCapabilities(ctx context.Context, rec *routing.EndpointRecord) error {
	keys := routing.CapabilityKeys(rec)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func(i int, k string) {
			defer wg.Done()
			start := time.Now()
			errs[i] = n.dht.Provide(ctx, routing.KeyCID(k), true)
			n.metrics.dht("provide", start, errs[i])
		}(i, k)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
