package node

import (
	"context"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/p2p"
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

// liveRetention is how long a follower remembers an endpoint it no longer
// hears: the table of heartbeats holds only endpoints heard from lately.
const liveRetention = 10 * time.Minute

// loadTracker is a node's side of the heartbeat topic: the topic it beats
// on (an endpoint) and, on a follower, its subscription and the table of
// what it heard.
type loadTracker struct {
	topic *pubsub.Topic
	sub   *pubsub.Subscription // nil unless the node follows the topic
	live  routing.Liveness     // empty unless the node follows the topic
}

// FollowsLoad reports whether the node follows the heartbeat topic and
// keeps the live table of every endpoint's load (Liveness): bootstraps,
// which endpoints reach first and operators ask, and nodes that serve the
// web view. Other nodes neither receive nor relay heartbeats, so that what
// a node pays for them does not grow with the mesh; a client learns the
// load of the endpoints it routes to by asking each (StatusProtocol).
func (n *Node) FollowsLoad() bool { return n.role == RoleBootstrap || n.config().HTTPListen != "" }

// startLoad joins the heartbeat topic. A follower (FollowsLoad) subscribes
// to it; an endpoint beats on it every routing.DefaultHeartbeatInterval,
// subscribed or not: gossipsub sends a beat of a topic the publisher does
// not follow to up to D of its peers that do (fanout), and the followers
// relay it among themselves.
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
	n.loads = &loadTracker{topic: t}
	if n.FollowsLoad() {
		if n.loads.sub, err = t.Subscribe(); err != nil {
			return err
		}
		n.wg.Add(1)
		go n.followLoad()
	}
	if n.ep != nil {
		n.host.SetStreamHandler(wire.StatusProtocol, n.ep.handleStatus)
		n.wg.Add(1)
		go n.beatLoop()
	}
	return nil
}

// followLoad keeps the table of heartbeats from the subscription, and
// prunes it now and then, beats or none.
func (n *Node) followLoad() {
	defer n.wg.Done()
	var pruned time.Time
	for {
		ctx, cancel := context.WithTimeout(n.ctx, routing.DefaultHeartbeatInterval)
		m, err := n.loads.sub.Next(ctx)
		cancel()
		now := n.now()
		if now.Sub(pruned) >= liveRetention/10 {
			n.loads.live.Prune(now.Add(-liveRetention))
			pruned = now
		}
		if n.ctx.Err() != nil {
			return
		}
		if err != nil {
			continue // no beat this while
		}
		if l, err := routing.DecodeHeartbeat(m.Data); err == nil {
			n.loads.live.Observe(l.ID, l, now)
			n.dirMu.Lock()
			if n.mesh != nil {
				n.mesh.heard(l.ID)
			}
			n.dirMu.Unlock()
		}
	}
}

// Pace of an endpoint's dials to its bootstrap peers when no follower of
// the heartbeat topic is among its connections.
const (
	followerDialTimeout = 5 * time.Second
	followerDialMax     = time.Minute // the longest wait between tries
)

// beatLoop publishes the endpoint's load every heartbeat interval. When
// none of its connections follows the topic (a bootstrap dropped it to
// keep within its connection limits, or the endpoint has just joined), it
// dials its bootstrap peers again first, waiting longer after each failed
// try, so that its beats keep reaching the followers.
func (n *Node) beatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(routing.DefaultHeartbeatInterval)
	defer t.Stop()
	var nextDial time.Time
	wait := routing.DefaultHeartbeatInterval
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if len(n.boot) > 0 && len(n.loads.topic.ListPeers()) == 0 && !time.Now().Before(nextDial) {
			if got := p2p.ConnectAny(n.ctx, n.host, n.boot, followerDialTimeout); len(got) > 0 {
				wait = routing.DefaultHeartbeatInterval
			} else {
				nextDial = time.Now().Add(wait)
				wait = min(2*wait, followerDialMax)
			}
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

// Liveness is what this node knows of the endpoints' heartbeats: empty
// unless it follows them (FollowsLoad).
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
