package node

import (
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/routing"
)

// TestHeartbeatsReachOnlyFollowers: an endpoint's beats reach the nodes
// that follow the load topic (a bootstrap here) and no other endpoint, so
// that an endpoint's cost does not grow with the mesh; and an endpoint
// that a follower drops (as its connection manager does over its limits)
// dials its bootstrap again and is heard before the heartbeat timeout.
func TestHeartbeatsReachOnlyFollowers(t *testing.T) {
	boot := startNode(t, RoleBootstrap, "boot", nil)
	a := startNode(t, RoleEndpoint, "a", boot.Addrs())
	b := startNode(t, RoleEndpoint, "b", append(boot.Addrs(), a.Addrs()...))
	waitJoined(t, a, b)
	if !boot.FollowsLoad() || a.FollowsLoad() {
		t.Fatalf("follows: bootstrap %v, endpoint %v; want true, false", boot.FollowsLoad(), a.FollowsLoad())
	}
	beats := routing.DefaultHeartbeatInterval * routing.DefaultMissedBeats
	heard := func(obs, of *Node) (routing.Load, bool) { return obs.Liveness().Get(of.ID().String()) }
	waitUntil(t, 15*time.Second, "the bootstrap hears both endpoints", func() bool {
		_, okA := heard(boot, a)
		_, okB := heard(boot, b)
		return okA && okB
	})
	// Two more of b's beats reach the bootstrap; none reaches a, though a
	// and b are connected.
	first, _ := heard(boot, b)
	waitUntil(t, 3*beats, "two more beats of b at the bootstrap", func() bool {
		l, _ := heard(boot, b)
		return l.Seq > first.Seq && l.At.Sub(first.At) >= routing.DefaultHeartbeatInterval
	})
	if l, ok := heard(a, b); ok {
		t.Fatalf("endpoint a heard endpoint b's beat %+v: endpoints must not follow the load topic", l)
	}

	// The bootstrap drops a; a's next beats find no follower among its
	// connections, and a dials the bootstrap again.
	if err := boot.Host().Network().ClosePeer(a.ID()); err != nil {
		t.Fatal(err)
	}
	dropped := time.Now()
	before, _ := heard(boot, a)
	waitUntil(t, beats, "a heard again after the bootstrap dropped it", func() bool {
		l, _ := heard(boot, a)
		return l.Seq > before.Seq && l.At.After(dropped)
	})
	t.Logf("a heard again %s after it was dropped (heartbeat timeout %s)", time.Since(dropped).Round(time.Millisecond), beats)
}
