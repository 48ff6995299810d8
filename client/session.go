package client

import (
	"bufio"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// replies is where a caller reads the replies to one invocation: its own
// stream, or its share of a session.
type replies interface {
	// next blocks for the next reply, until the deadline if one is set.
	next() (invoke.Reply, error)
	// setDeadline bounds next; the zero time removes the bound.
	setDeadline(t time.Time)
	// abort makes next fail from now on.
	abort()
	// close releases what the call holds.
	close()
}

// streamReplies reads replies from a stream of its own.
type streamReplies struct {
	s network.Stream
	r *bufio.Reader
	// writing, when not nil, gives the result of the request's write, which
	// goes on while the replies are read: an endpoint may refuse a large
	// request from its header, before it has all of it.
	writing chan error
}

func (sr *streamReplies) next() (invoke.Reply, error) {
	var rep invoke.Reply
	err := wire.ReadMsg(sr.r, wire.MaxFrame, &rep)
	return rep, err
}
func (sr *streamReplies) setDeadline(t time.Time) { _ = sr.s.SetReadDeadline(t) }
func (sr *streamReplies) abort()                  { sr.s.Reset() }

func (sr *streamReplies) close() {
	if sr.writing != nil {
		select {
		case err := <-sr.writing:
			sr.writing = nil
			if err != nil {
				sr.s.Reset()
				return
			}
		default:
			sr.s.Reset() // the endpoint did not take all of it
			<-sr.writing
			sr.writing = nil
			return
		}
	}
	sr.s.Close()
}

// session is the client side of a session stream to one endpoint: calls
// are written by one goroutine that flushes when none waits, and one
// goroutine hands each reply to its call.
type session struct {
	c   *Client
	ep  peer.ID
	s   network.Stream
	out chan []byte // encoded requests for the writer

	mu    sync.Mutex // guards calls, next and err
	calls map[uint64]*sessionCall
	next  uint64
	err   error // set once the session broke: no new calls
}

// sessionCall is one invocation on a session.
type sessionCall struct {
	sess *session
	id   uint64

	mu       sync.Mutex // guards q, err, closed and deadline
	q        []invoke.Reply
	err      error
	closed   bool // nobody reads the call any more
	deadline time.Time
	wake     chan struct{} // capacity 1: something changed
	room     chan struct{} // capacity 1: q shrank, or the call ended
}

// callQueue bounds the replies queued for one call whose caller has not
// read them yet; the session reads no further reply until it has room, so
// that a caller that reads slowly slows its session rather than filling
// memory.
const callQueue = 256

// openSession returns the client's session to ep, opening one if needed;
// ok is false when ep does not speak the session protocol.
func (c *Client) openSession(ctx context.Context, ep peer.ID) (*session, bool, error) {
	c.smu.Lock()
	if s := c.sessions[ep]; s != nil {
		c.smu.Unlock()
		return s, true, nil
	}
	c.smu.Unlock()
	st, err := c.stream(ctx, ep, wire.SessionProtocol)
	if err != nil {
		if protos, _ := c.host.Peerstore().SupportsProtocols(ep, wire.SessionProtocol); len(protos) == 0 && c.host.Network().Connectedness(ep) == network.Connected {
			return nil, false, nil // an endpoint without sessions
		}
		return nil, true, err
	}
	s := &session{c: c, ep: ep, s: st, out: make(chan []byte, 256), calls: map[uint64]*sessionCall{}}
	c.smu.Lock()
	if old := c.sessions[ep]; old != nil {
		c.smu.Unlock()
		st.Reset()
		return old, true, nil
	}
	if c.sessions == nil {
		c.sessions = map[peer.ID]*session{}
	}
	c.sessions[ep] = s
	c.smu.Unlock()
	go s.writeLoop()
	go s.readLoop()
	return s, true, nil
}

// call sends one request on the session.
func (s *session) call(env []byte) (*sessionCall, error) {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.next++
	cl := &sessionCall{sess: s, id: s.next, wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	s.calls[cl.id] = cl
	s.mu.Unlock()
	var buf frameBuffer
	if err := wire.WriteMsg(&buf, invoke.Request{Invocation: env, Wait: true, Call: cl.id}); err != nil {
		cl.close()
		return nil, err
	}
	select {
	case s.out <- buf:
	case <-s.c.done:
		cl.close()
		return nil, fault.E(fault.Unavailable, "client: session", "client closed")
	}
	return cl, nil
}

// frameBuffer collects one encoded frame.
type frameBuffer []byte

func (b *frameBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

func (s *session) writeLoop() {
	w := bufio.NewWriterSize(s.s, 64<<10)
	for {
		var frame []byte
		select {
		case frame = <-s.out:
		case <-s.c.done:
			return
		}
		_, err := w.Write(frame)
		if err == nil && len(s.out) == 0 {
			err = w.Flush()
		}
		if err != nil {
			s.fail(fault.Wrap(fault.Unavailable, "client: session", err))
			return
		}
	}
}

func (s *session) readLoop() {
	r := bufio.NewReader(s.s)
	for {
		var rep invoke.Reply
		if err := wire.ReadMsg(r, wire.MaxFrame, &rep); err != nil {
			if fault.KindOf(err) == fault.Internal || errors.Is(err, context.Canceled) {
				err = fault.Wrap(fault.Unavailable, "client: session", err)
			}
			s.fail(err)
			return
		}
		if rep.Call == 0 && rep.Type == invoke.ReplyError && rep.Error != nil {
			// The endpoint refused the session itself (denied, say): every
			// call fails with its reason.
			s.fail(rep.Error.Err())
			return
		}
		s.mu.Lock()
		cl := s.calls[rep.Call]
		s.mu.Unlock()
		if cl != nil && !cl.push(rep) {
			s.fail(fault.E(fault.Unavailable, "client: session", "client closed"))
			return
		}
	}
}

// fail breaks the session: every call fails with err, and the client
// forgets the session so that the next call opens another.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	calls := s.calls
	s.calls = map[uint64]*sessionCall{}
	s.mu.Unlock()
	s.s.Reset()
	s.c.smu.Lock()
	if s.c.sessions[s.ep] == s {
		delete(s.c.sessions, s.ep)
	}
	s.c.smu.Unlock()
	for _, cl := range calls {
		cl.fail(err)
	}
}

// push queues rep for the call, waiting while the queue is full and the
// call is read; false means the session's client closed.
func (cl *sessionCall) push(rep invoke.Reply) bool {
	for {
		cl.mu.Lock()
		if cl.closed || cl.err != nil {
			cl.mu.Unlock()
			return true // dropped: nobody will read it
		}
		if len(cl.q) < callQueue {
			cl.q = append(cl.q, rep)
			cl.mu.Unlock()
			cl.signal()
			return true
		}
		cl.mu.Unlock()
		select {
		case <-cl.room:
		case <-cl.sess.c.done:
			return false
		}
	}
}

func (cl *sessionCall) fail(err error) {
	cl.mu.Lock()
	if cl.err == nil {
		cl.err = err
	}
	cl.mu.Unlock()
	cl.signal()
	cl.makeRoom()
}

func (cl *sessionCall) makeRoom() {
	select {
	case cl.room <- struct{}{}:
	default:
	}
}

func (cl *sessionCall) signal() {
	select {
	case cl.wake <- struct{}{}:
	default:
	}
}

func (cl *sessionCall) next() (invoke.Reply, error) {
	for {
		cl.mu.Lock()
		if len(cl.q) > 0 {
			rep := cl.q[0]
			cl.q[0] = invoke.Reply{}
			cl.q = cl.q[1:]
			cl.mu.Unlock()
			cl.makeRoom()
			return rep, nil
		}
		if cl.err != nil {
			err := cl.err
			cl.mu.Unlock()
			return invoke.Reply{}, err
		}
		dl := cl.deadline
		cl.mu.Unlock()
		if dl.IsZero() {
			<-cl.wake
			continue
		}
		t := time.NewTimer(time.Until(dl))
		select {
		case <-cl.wake:
			t.Stop()
		case <-t.C:
			cl.fail(fault.E(fault.Unavailable, "client: session", "no reply from %s in time", cl.sess.ep))
		}
	}
}

func (cl *sessionCall) setDeadline(t time.Time) {
	cl.mu.Lock()
	cl.deadline = t
	cl.mu.Unlock()
	cl.signal()
}

func (cl *sessionCall) abort() {
	cl.fail(fault.E(fault.Unavailable, "client: session", "call aborted"))
}

// close forgets the call; replies still on their way are dropped.
func (cl *sessionCall) close() {
	s := cl.sess
	s.mu.Lock()
	delete(s.calls, cl.id)
	s.mu.Unlock()
	cl.mu.Lock()
	cl.closed, cl.q = true, nil
	cl.mu.Unlock()
	cl.makeRoom()
}

// closeSessions ends every session of the client.
func (c *Client) closeSessions() {
	c.smu.Lock()
	ss := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		ss = append(ss, s)
	}
	c.smu.Unlock()
	for _, s := range ss {
		s.fail(fault.E(fault.Unavailable, "client: session", "client closed"))
	}
}
