package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// InvokeRequest is what a client asks one endpoint to run.
type InvokeRequest struct {
	// Endpoint is the endpoint to run on.
	Endpoint peer.ID
	// Function is the resolved function.
	Function *ResolvedFunction
	// Inputs are the arguments: one, or a batch.
	Inputs []invoke.Input
	// Timeout bounds each input's run; zero means the endpoint's default.
	Timeout time.Duration
	// Retries is how many more times the endpoint may run an input it lost
	// mid-run (a worker, a container or a batch scheduler's block gone),
	// signed with the invocation: 0, the default, means at most once. Only
	// for functions safe to repeat; at most invoke.MaxRetries.
	Retries int
	// TTL is how long the signed invocation stays valid; zero means
	// 5 minutes.
	TTL time.Duration
	// Wait streams results back; without it Invoke returns after the
	// endpoint admitted the task.
	Wait bool
	// OnResult receives each result as it arrives (with Wait).
	OnResult func(invoke.Result)
	// OnAck, when set, is called once the endpoint acknowledged the task,
	// before any result arrives (with Wait, while Invoke still waits).
	OnAck func(*Submitted)
	// WithProof sends the function's signed record along, for endpoints that
	// cannot look it up (private functions always send it).
	WithProof bool

	// onEnd, when set with Wait, makes Invoke return once the endpoint
	// acknowledged the task, and follow it on a goroutine of its own,
	// which gives onEnd what Invoke would have returned (Start's follow).
	onEnd func(*Submitted, error)
}

// Submitted is what an endpoint said of an invocation.
type Submitted struct {
	TaskID string
	Count  int
	// Endpoint is the endpoint that took the task.
	Endpoint peer.ID
	// Status is the final status, when the caller waited.
	Status *invoke.Status
	// NotRemembered says why the client could not note which endpoint holds
	// the task (fx result then needs --endpoint); nil when it did.
	NotRemembered error
}

// Invoke signs inv with the client's key and sends it straight to the
// endpoint. An endpoint's refusal comes back as an error of its kind.
func (c *Client) Invoke(ctx context.Context, inv InvokeRequest) (*Submitted, error) {
	withProof := inv.WithProof || inv.Function.Update.Update.Access.Private()
	sub, err := c.invoke(ctx, inv, withProof)
	if sub == nil && !withProof && fault.KindOf(err) == fault.NotFound && inv.Function.Proof != nil {
		// The endpoint has not heard of the function yet (gossip is on its
		// way): send its signed record along.
		return c.invoke(ctx, inv, true)
	}
	return sub, err
}

func (c *Client) invoke(ctx context.Context, inv InvokeRequest, withProof bool) (*Submitted, error) {
	ttl := inv.TTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	msg, err := invoke.New(inv.Function.ID.String(), inv.Endpoint.String(), inv.Inputs, c.now(), ttl)
	if err != nil {
		return nil, err
	}
	msg.Timeout = int64(inv.Timeout)
	msg.Retries = inv.Retries
	if withProof {
		msg.Proof = inv.Function.Proof
	}
	env, id, err := invoke.SignTask(c.key, msg)
	if err != nil {
		return nil, err
	}
	rec := TaskRecord{Function: inv.Function.ID.String(), Count: len(inv.Inputs)}
	if inv.Function.Function != nil {
		rec.FunctionRef = inv.Function.Function.Ref()
	}
	rec.onAck, rec.onEnd = inv.OnAck, inv.onEnd
	return c.send(ctx, inv.Endpoint, env, id, inv.Wait, inv.OnResult, rec)
}

// Send sends a signed invocation (as made by invoke.Sign) to endpoint. It is
// exported so that the same bytes can be sent again: the endpoint refuses
// them as replayed.
func (c *Client) Send(ctx context.Context, endpoint peer.ID, env []byte, wait bool, onResult func(invoke.Result)) (*Submitted, error) {
	want, err := invoke.TaskIDOf(env)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, endpoint, env, want, wait, onResult, TaskRecord{})
}

// send is Send with the task ID known; rec holds what the local record of
// the task keeps besides its ID and endpoint.
func (c *Client) send(ctx context.Context, endpoint peer.ID, env []byte, want string, wait bool, onResult func(invoke.Result), rec TaskRecord) (*Submitted, error) {
	src, err := c.open(ctx, endpoint, env, wait)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, src.abort)
	behind := false // the results are read on a goroutine of their own, which releases src
	defer func() {
		if !behind {
			stop()
			src.close()
		}
	}()
	src.setDeadline(time.Now().Add(ackTimeout))
	ack, err := src.next()
	if err != nil {
		err = c.streamErr(ctx, endpoint, err)
		if fault.KindOf(err) == fault.Unavailable && c.admitted(ctx, endpoint, want) {
			// The endpoint took the task before the stream broke: it is
			// not free to send elsewhere.
			return &Submitted{TaskID: want}, fault.E(fault.System, "client: invoke",
				"endpoint %s took task %s, then the stream broke: %v", endpoint, want, err)
		}
		return nil, err
	}
	src.setDeadline(time.Time{})
	switch {
	case ack.Type == invoke.ReplyError && ack.Error != nil:
		src.abort() // whatever of the request is still being written
		return nil, ack.Error.Err()
	case ack.Type != invoke.ReplyAck:
		return nil, fault.E(fault.Invalid, "client: invoke", "endpoint answered with message type %d and no reason", ack.Type)
	case ack.TaskID != want:
		return nil, fault.E(fault.Invalid, "client: invoke", "endpoint acknowledged task %q, not %s", ack.TaskID, want)
	}
	sub := &Submitted{TaskID: ack.TaskID, Count: ack.Count, Endpoint: endpoint}
	rec.TaskID, rec.Endpoint, rec.Submitted = ack.TaskID, endpoint.String(), c.now()
	if rec.Count == 0 {
		rec.Count = ack.Count
	}
	onAck := rec.onAck
	rec.onAck = nil
	sub.NotRemembered = c.recordTask(rec)
	if onAck != nil {
		onAck(sub)
	}
	if !wait {
		return sub, nil
	}
	if onEnd := rec.onEnd; onEnd != nil {
		behind = true
		following := *sub
		go func() {
			defer src.close()
			defer stop()
			onEnd(c.follow(ctx, endpoint, src, &following, onResult))
		}()
		return sub, nil
	}
	return c.follow(ctx, endpoint, src, sub, onResult)
}

// follow reads the results of an acknowledged task into onResult until it
// ends, and sets sub.Status to its final status.
func (c *Client) follow(ctx context.Context, endpoint peer.ID, src replies, sub *Submitted, onResult func(invoke.Result)) (*Submitted, error) {
	var err error
	stopWatch := c.watch(ctx, endpoint, src.abort)
	sub.Status, err = c.readResults(ctx, endpoint, src, onResult)
	silent := stopWatch()
	if sub.Status != nil {
		c.noteTask(sub.TaskID, sub.Status)
	}
	if err != nil && ctx.Err() == nil {
		// After the acknowledgement a broken stream is the endpoint's
		// failure: the task failed (system).
		why := "the connection broke"
		if silent {
			why = "it stopped answering"
		}
		err = fault.E(fault.System, "client: invoke", "endpoint %s failed while running task %s: %s (%v)", endpoint, sub.TaskID, why, err)
	}
	return sub, err
}

// sessionMax is the largest invocation sent on a session; a larger one
// goes on a stream of its own, so that it holds up no other call and the
// endpoint can refuse it (too large, say) before it has all of it.
const sessionMax = 64 << 10

// open sends env to endpoint: on the client's session to it when the caller
// waits (many invocations then share one stream), else on a stream of its
// own.
func (c *Client) open(ctx context.Context, endpoint peer.ID, env []byte, wait bool) (replies, error) {
	if wait && len(env) <= sessionMax {
		sess, ok, err := c.openSession(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		if ok {
			cl, err := sess.call(env)
			if err != nil {
				return nil, c.streamErr(ctx, endpoint, err)
			}
			return cl, nil
		}
	}
	s, err := c.stream(ctx, endpoint, wire.InvokeProtocol)
	if err != nil {
		return nil, err
	}
	var frame frameBuffer
	if err := wire.WriteMsg(&frame, invoke.Request{Invocation: env, Wait: wait}); err != nil {
		s.Reset()
		return nil, err
	}
	sr := &streamReplies{s: s, r: bufio.NewReader(s)}
	if len(frame) <= sessionMax {
		if _, err := s.Write(frame); err != nil {
			s.Reset()
			return nil, c.streamErr(ctx, endpoint, err)
		}
		return sr, nil
	}
	// The endpoint may answer before it has read the whole request (it
	// refuses from the header what it will not take): read while writing.
	sr.writing = make(chan error, 1)
	go func() {
		_, err := s.Write(frame)
		sr.writing <- err
	}()
	return sr, nil
}

// watch asks the endpoint for its status every heartbeat interval while a
// task runs there, and aborts the call once MissedBeats asks in a row went
// unanswered: a silent endpoint fails the task within the heartbeat timeout.
// The returned function says whether that happened; the watch ends with ctx
// or when s closes.
func (c *Client) watch(ctx context.Context, endpoint peer.ID, abort func()) func() bool {
	var (
		fired   atomic.Bool
		mu      sync.Mutex // guards stopped, missed and t
		stopped bool
		missed  int
		t       *time.Timer
	)
	// A timer, not a goroutine: most calls end before the first beat.
	var beat func()
	beat = func() {
		pctx, cancel := context.WithTimeout(ctx, routing.DefaultHeartbeatInterval)
		_, _, err := c.Status(pctx, endpoint)
		cancel()
		mu.Lock()
		defer mu.Unlock()
		if stopped || ctx.Err() != nil {
			return
		}
		if err == nil {
			missed = 0
		} else if missed++; missed >= routing.DefaultMissedBeats {
			fired.Store(true)
			abort()
			return
		}
		t = time.AfterFunc(routing.DefaultHeartbeatInterval, beat)
	}
	mu.Lock()
	t = time.AfterFunc(routing.DefaultHeartbeatInterval, beat)
	mu.Unlock()
	return func() bool {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
		return fired.Load()
	}
}

// ackTimeout bounds the wait for an endpoint's acknowledgement: admission
// is a signature check and a disk sync, not the function's run.
const ackTimeout = 30 * time.Second

// admitted asks endpoint, briefly, whether it holds task id.
func (c *Client) admitted(ctx context.Context, endpoint peer.ID, id string) bool {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.Task(qctx, endpoint, id, false, false, nil)
	return err == nil
}

// Status asks an endpoint directly for its load, and measures the round trip.
func (c *Client) Status(ctx context.Context, endpoint peer.ID) (routing.Load, time.Duration, error) {
	start := time.Now()
	s, err := c.stream(ctx, endpoint, wire.StatusProtocol)
	if err != nil {
		return routing.Load{}, 0, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetReadDeadline(dl)
	}
	b, err := io.ReadAll(io.LimitReader(s, routing.MaxHeartbeatBytes+1))
	if err != nil {
		s.Reset()
		return routing.Load{}, 0, fault.Wrap(fault.Unavailable, "client: status", err)
	}
	rtt := time.Since(start)
	l, err := routing.DecodeHeartbeat(b)
	if err != nil {
		return routing.Load{}, 0, err
	}
	if l.ID != endpoint.String() {
		return routing.Load{}, 0, fault.E(fault.Invalid, "client: status", "%s answered for %s", endpoint, l.ID)
	}
	return l, rtt, nil
}

// readResults reads Result replies until Done.
func (c *Client) readResults(ctx context.Context, endpoint peer.ID, src replies, onResult func(invoke.Result)) (*invoke.Status, error) {
	for {
		rep, err := src.next()
		if err != nil {
			return nil, c.streamErr(ctx, endpoint, err)
		}
		switch rep.Type {
		case invoke.ReplyResult:
			if rep.Result != nil && onResult != nil {
				onResult(*rep.Result)
			}
		case invoke.ReplyDone:
			return rep.Status, nil
		case invoke.ReplyError:
			if rep.Error == nil {
				return nil, fault.E(fault.Invalid, "client: invoke", "endpoint sent an error without a reason")
			}
			return nil, rep.Error.Err()
		default:
			return nil, fault.E(fault.Invalid, "client: invoke", "unexpected message type %d", rep.Type)
		}
	}
}

// streamErr explains a broken stream: the caller's deadline, or the
// endpoint gone.
func (c *Client) streamErr(ctx context.Context, endpoint peer.ID, err error) error {
	if ctx.Err() != nil {
		return fault.Wrap(fault.Timeout, "client: invoke", ctx.Err())
	}
	if errors.Is(err, io.EOF) {
		return fault.E(fault.Unavailable, "client: invoke", "endpoint %s closed the stream", endpoint)
	}
	if fault.KindOf(err) == fault.Internal {
		return fault.Wrap(fault.Unavailable, "client: invoke", err)
	}
	return err
}

// stream opens a stream to endpoint, finding its addresses in the DHT when
// the client does not know them.
func (c *Client) stream(ctx context.Context, endpoint peer.ID, proto protocol.ID) (network.Stream, error) {
	if len(c.host.Peerstore().Addrs(endpoint)) == 0 && c.host.Network().Connectedness(endpoint) != network.Connected {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ai, err := c.dht.FindPeer(fctx, endpoint)
		cancel()
		if err != nil {
			return nil, fault.E(fault.NotFound, "client: invoke", "endpoint %s not found in the mesh: %v", endpoint, err)
		}
		c.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
	}
	s, err := c.host.NewStream(ctx, endpoint, proto)
	if err != nil {
		return nil, fault.E(fault.Unavailable, "client: invoke", "cannot reach endpoint %s: %v", endpoint, err)
	}
	return s, nil
}

// Task asks endpoint for a task's status and, with results or wait, its
// results (wait blocks until the task ends).
func (c *Client) Task(ctx context.Context, endpoint peer.ID, taskID string, results, wait bool, onResult func(invoke.Result)) (*invoke.Status, error) {
	s, err := c.stream(ctx, endpoint, wire.TaskProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := wire.WriteMsg(s, invoke.Query{TaskID: taskID, Wait: wait, Results: results}); err != nil {
		return nil, c.streamErr(ctx, endpoint, err)
	}
	src := &streamReplies{s: s, r: bufio.NewReader(s)}
	st, err := src.next()
	if err != nil {
		return nil, c.streamErr(ctx, endpoint, err)
	}
	if st.Type == invoke.ReplyError && st.Error != nil {
		return nil, st.Error.Err()
	}
	if st.Type != invoke.ReplyStatus || st.Status == nil {
		return nil, fault.E(fault.Invalid, "client: task", "unexpected message type %d", st.Type)
	}
	c.noteTask(taskID, st.Status)
	if !results && !wait {
		return st.Status, nil
	}
	final, err := c.readResults(ctx, endpoint, src, onResult)
	if final != nil {
		c.noteTask(taskID, final)
	}
	return final, err
}

// Cancel asks endpoint to cancel a task of the user's: inputs not yet
// started never run, running ones are stopped, and the task ends
// cancelled. The task's status comes back: StateCancelled, or the final
// state it had reached before. Another user's task is denied.
func (c *Client) Cancel(ctx context.Context, endpoint peer.ID, taskID string) (*invoke.Status, error) {
	s, err := c.stream(ctx, endpoint, wire.CancelProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := wire.WriteMsg(s, invoke.Cancel{TaskID: taskID}); err != nil {
		return nil, c.streamErr(ctx, endpoint, err)
	}
	src := &streamReplies{s: s, r: bufio.NewReader(s)}
	rep, err := src.next()
	if err != nil {
		return nil, c.streamErr(ctx, endpoint, err)
	}
	if rep.Type == invoke.ReplyError && rep.Error != nil {
		return nil, rep.Error.Err()
	}
	if rep.Type != invoke.ReplyStatus || rep.Status == nil {
		return nil, fault.E(fault.Invalid, "client: cancel", "unexpected message type %d", rep.Type)
	}
	c.noteTask(taskID, rep.Status)
	return rep.Status, nil
}
