package node

import (
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/invoke"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// fromPeer is a stream of which admission reads only the remote peer.
type fromPeer struct {
	network.Stream
	conn peerConn
}

type peerConn struct {
	network.Conn
	p peer.ID
}

func (s fromPeer) Conn() network.Conn  { return s.conn }
func (c peerConn) RemotePeer() peer.ID { return c.p }

// TestAckTravelsWithQuickResult: a call of one input that ends while its
// acknowledgement is held sends ack, result and Done in one batch (one
// write); a longer one sends its ack alone when the hold is up, long
// before its result; a call whose ack went already (ack nil) sends only
// its result and Done.
func TestAckTravelsWithQuickResult(t *testing.T) {
	f := newBoundsFixture(t, nil)
	e := f.ep.ep
	from := fromPeer{conn: peerConn{p: f.owner.ID()}}
	run := func(fn, args string, ack bool) <-chan replyBatch {
		t.Helper()
		req := invoke.Request{Invocation: f.signed(t, f.owner, fn, args)}
		adm, err := e.admit(&req, from)
		if err != nil {
			t.Fatal(err)
		}
		out := make(chan replyBatch, 8)
		var a *invoke.Reply
		if ack {
			a = &invoke.Reply{Type: invoke.ReplyAck, Call: 1, TaskID: adm.Invocation.TaskID, Count: 1}
		}
		go func() {
			defer close(out)
			e.runAndFollow(f.ctx, adm, 1, out, a)
		}()
		return out
	}
	types := func(b replyBatch) []invoke.ReplyType {
		var ts []invoke.ReplyType
		for _, r := range b {
			ts = append(ts, r.Type)
		}
		return ts
	}
	expect := func(what string, out <-chan replyBatch, want ...[]invoke.ReplyType) {
		t.Helper()
		var got [][]invoke.ReplyType
		for b := range out {
			got = append(got, types(b))
		}
		if len(got) != len(want) {
			t.Fatalf("%s: batches %v, want %v", what, got, want)
		}
		for i := range want {
			if len(got[i]) != len(want[i]) {
				t.Fatalf("%s: batches %v, want %v", what, got, want)
			}
			for j := range want[i] {
				if got[i][j] != want[i][j] {
					t.Fatalf("%s: batches %v, want %v", what, got, want)
				}
			}
		}
	}
	ack, res, done := invoke.ReplyAck, invoke.ReplyResult, invoke.ReplyDone

	e.ackHold = time.Hour // the call surely ends first
	expect("quick call", run("echo", `[1]`, true), []invoke.ReplyType{ack, res, done})
	expect("ack already sent", run("echo", `[2]`, false), []invoke.ReplyType{res, done})

	e.ackHold = 20 * time.Millisecond // the nap surely outlasts it
	out := run("nap", `[1]`, true)
	if first := <-out; len(first) != 1 || first[0].Type != ack {
		t.Fatalf("long call: first batch %v, want its ack alone", types(first))
	}
	expect("long call, after its ack", out, []invoke.ReplyType{res, done})
}
