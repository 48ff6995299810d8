package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// Pace of the redials of a bootstrap peer whose connection was lost.
const (
	redialFirst = 100 * time.Millisecond
	redialMost  = time.Second
)

// watchBootstrap follows the endpoint's connections to its bootstrap
// peers: when one is lost it is dialled again (from redialFirst, backing
// off to redialMost), and when one comes back, whoever dialled, the
// endpoint publishes its record at once. A bootstrap that restarted has
// lost what the endpoint published, unless it kept it (KnownFile).
func (n *Node) watchBootstrap(boot []peer.AddrInfo) {
	defer n.wg.Done()
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		n.log.Warn("cannot follow the bootstrap connections; the record is published on its schedule only", "err", err)
		return
	}
	defer sub.Close()
	addrs := map[peer.ID]peer.AddrInfo{}
	for _, ai := range boot {
		addrs[ai.ID] = ai
	}
	lost := map[peer.ID]context.CancelFunc{} // the redials under way
	defer func() {
		for _, stop := range lost {
			stop()
		}
	}()
	for {
		var ev event.EvtPeerConnectednessChanged
		select {
		case <-n.ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev = e.(event.EvtPeerConnectednessChanged)
		}
		ai, ours := addrs[ev.Peer]
		if !ours {
			continue
		}
		switch ev.Connectedness {
		case network.Connected:
			if stop, was := lost[ev.Peer]; was {
				stop()
				delete(lost, ev.Peer)
				n.log.Info("bootstrap peer back; publishing the record again", "peer", ev.Peer)
				n.publishSoon()
			}
		case network.NotConnected:
			if _, was := lost[ev.Peer]; !was {
				n.log.Warn("bootstrap peer lost; dialling it again", "peer", ev.Peer)
				ctx, stop := context.WithCancel(n.ctx)
				lost[ev.Peer] = stop
				n.wg.Add(1)
				go n.redial(ctx, ai)
			}
		}
	}
}

// redial dials ai until it answers or ctx ends.
func (n *Node) redial(ctx context.Context, ai peer.AddrInfo) {
	defer n.wg.Done()
	wait := redialFirst
	for {
		// A restarted peer has a new connection to make: forget the
		// dial backoff of the old one's failures.
		if sw, ok := n.host.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
			sw.Backoff().Clear(ai.ID)
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := n.host.Connect(dctx, ai)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, redialMost)
	}
}
