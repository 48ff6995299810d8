package node

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/network"
)

// sessionStreamIdle is how long a session stream may carry nothing before
// the endpoint closes it.
const sessionStreamIdle = 10 * time.Minute

// replyBatch is what one reply writer takes at once: usually one reply; a
// task's last result with its Done, so that both travel in one write.
type replyBatch []invoke.Reply

// watchStream, given to serveReplies, has it read the stream while it
// writes, so that the call ends when the caller resets the stream: for a
// stream whose caller sends nothing after its request.
const watchStream = true

// serveReplies writes on s what produce sends, through one writer that
// flushes only when nothing waits, so that under load many replies travel
// in one write. s is reset by close; a caller that stops reading loses the
// stream, never a worker. produce's context ends when the stream breaks
// (a write fails or, with watch, the caller resets it), so that what it
// follows for the caller ends with the stream. It returns once produce has
// returned and every reply is written.
func (e *endpoint) serveReplies(s network.Stream, watch bool, produce func(ctx context.Context, out chan<- replyBatch)) {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		s.Reset()
		discard(produce) // what produce runs must still end
		return
	}
	if e.streams == nil {
		e.streams = make(map[network.Stream]struct{})
	}
	e.streams[s] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.streams, s)
		e.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(e.n.ctx)
	defer cancel()
	if watch {
		go func() {
			// Nothing more should come; a read ends with the stream.
			var b [1]byte
			for {
				if _, err := s.Read(b[:]); err != nil {
					if !errors.Is(err, io.EOF) {
						cancel()
					}
					return
				}
			}
		}()
	}
	out := make(chan replyBatch, 1024)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		writeReplies(s, out, cancel)
	}()
	produce(ctx, out)
	close(out)
	<-writerDone
	_ = s.Close()
}

// discard runs produce with nobody to read what it sends.
func discard(produce func(ctx context.Context, out chan<- replyBatch)) {
	out := make(chan replyBatch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range out {
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nobody follows
	produce(ctx, out)
	close(out)
	<-done
}

// writeReplies writes replies until out closes, flushing when none waits. On
// a write error it resets s, calls broken and drops the rest, so that no
// sender blocks.
func writeReplies(s network.Stream, out <-chan replyBatch, broken func()) {
	w := bufio.NewWriterSize(s, 64<<10)
	alive := true
	for reps := range out {
		if !alive {
			continue
		}
		_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
		var err error
		for _, rep := range reps {
			if err = wire.WriteMsg(w, rep); err != nil {
				break
			}
		}
		if err == nil && len(out) == 0 {
			err = w.Flush()
		}
		if err != nil {
			alive = false
			s.Reset()
			broken()
		}
	}
	if alive {
		_ = w.Flush()
		_ = s.CloseWrite()
	}
}

// follow sends the results of task id from index from on as they are
// stored, then Done, each tagged with call. count is the task's number of
// inputs: the last result travels with Done.
func (e *endpoint) follow(ctx context.Context, id string, from, count int, call uint64, out chan<- replyBatch) {
	ch, err := e.tasks.Follow(ctx, id)
	if err != nil {
		out <- replyBatch{{Type: invoke.ReplyError, Call: call, Error: invoke.ErrorOf(err)}}
		return
	}
	var last *invoke.Reply
	sent := 0
	for r := range ch {
		if r.Index < from {
			continue
		}
		rep := invoke.Reply{Type: invoke.ReplyResult, Call: call, Result: &r}
		if sent++; sent >= count-from {
			last = &rep
			continue
		}
		out <- replyBatch{rep}
	}
	done := invoke.Reply{Type: invoke.ReplyDone, Call: call, Status: e.status(id)}
	if last != nil {
		out <- replyBatch{*last, done}
		return
	}
	out <- replyBatch{done}
}

// defaultCallsPerSessionStream is the default of
// endpoint.callsPerSessionStream.
const defaultCallsPerSessionStream = 1024

// handleSessionStream serves a session stream: many calls (invocations,
// each waited for) whose replies share the stream. Only a peer the
// endpoint's policy admits may open one.
func (e *endpoint) handleSessionStream(s network.Stream) {
	if !e.begin() {
		s.Reset()
		return
	}
	defer e.running.Done()
	if err := e.admits(s); err != nil {
		e.observe.refused(s.Conn().RemotePeer(), nil, err)
		refuse(bufio.NewWriter(s), s, err)
		return
	}
	e.serveReplies(s, !watchStream, func(ctx context.Context, out chan<- replyBatch) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var calls sync.WaitGroup
		slots := make(chan struct{}, e.callsPerSessionStream)
		fr := e.n.frameReader(s, e.maxRequest())
		for {
			var req invoke.Request
			b, err := fr.Next(sessionStreamIdle)
			if err == nil {
				err = wire.DecodeMsg(b, &req)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					if k := fault.KindOf(err); k != fault.Unavailable && k != fault.Timeout {
						// Bytes that are no request, or one this endpoint
						// will not read: say so, and end the session.
						out <- replyBatch{{Type: invoke.ReplyError, Call: req.Call, Error: invoke.ErrorOf(err)}}
					} else {
						cancel() // the caller is gone: stop following for it
					}
				}
				break
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			calls.Add(1)
			e.goroutines.Go(func() {
				defer calls.Done()
				defer func() { <-slots }()
				e.serveSessionCall(ctx, s, &req, out)
			})
		}
		calls.Wait()
	})
}

// serveSessionCall admits one call of a session stream, runs it and sends
// its replies.
func (e *endpoint) serveSessionCall(ctx context.Context, s network.Stream, req *invoke.Request, out chan<- replyBatch) {
	adm, err := e.admit(req, s)
	if err != nil {
		e.n.log.Info("invocation refused", "peer", s.Conn().RemotePeer(), "err", err)
		out <- replyBatch{{Type: invoke.ReplyError, Call: req.Call, Error: invoke.ErrorOf(err)}}
		return
	}
	inv := adm.Invocation
	ack := invoke.Reply{Type: invoke.ReplyAck, Call: req.Call, TaskID: inv.TaskID, Count: len(inv.Inputs)}
	e.runAndFollow(ctx, adm, req.Call, out, &ack)
}
