package node

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/libp2p/go-libp2p/core/network"
)

// sessionIdle is how long a session stream may carry nothing before the
// endpoint closes it.
const sessionIdle = 10 * time.Minute

// replyBatch is what one reply writer takes at once: usually one reply; a
// task's last result with its Done, so that both travel in one write.
type replyBatch []invoke.Reply

// serveReplies writes on s what produce sends, through one writer that
// flushes only when nothing waits, so that under load many replies travel
// in one write. s is reset by close; a caller that stops reading loses the
// stream, never a worker. It returns once produce has returned and every
// reply is written.
func (e *endpoint) serveReplies(s network.Stream, produce func(out chan<- replyBatch)) {
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
	out := make(chan replyBatch, 1024)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		writeReplies(s, out)
	}()
	produce(out)
	close(out)
	<-writerDone
	_ = s.Close()
}

// discard runs produce with nobody to read what it sends.
func discard(produce func(out chan<- replyBatch)) {
	out := make(chan replyBatch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range out {
		}
	}()
	produce(out)
	close(out)
	<-done
}

// writeReplies writes replies until out closes, flushing when none waits. On
// a write error it resets s and drops the rest, so that no sender blocks.
func writeReplies(s network.Stream, out <-chan replyBatch) {
	w := bufio.NewWriterSize(s, 64<<10)
	alive := true
	for reps := range out {
		if !alive {
			continue
		}
		_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
		var err error
		for _, rep := range reps {
			if err = invoke.WriteMsg(w, rep); err != nil {
				break
			}
		}
		if err == nil && len(out) == 0 {
			err = w.Flush()
		}
		if err != nil {
			alive = false
			s.Reset()
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
func (e *endpoint) follow(id string, from, count int, call uint64, out chan<- replyBatch) {
	ch, err := e.tasks.Follow(e.n.ctx, id)
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
		res := wireFromStore(r)
		rep := invoke.Reply{Type: invoke.ReplyResult, Call: call, Result: &res}
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

// handleSession serves a session stream: many invocations, each waited for,
// whose replies share the stream.
func (e *endpoint) handleSession(s network.Stream) {
	if !e.begin() {
		s.Reset()
		return
	}
	defer e.running.Done()
	e.serveReplies(s, func(out chan<- replyBatch) {
		var calls sync.WaitGroup
		r := bufio.NewReader(s)
		for {
			_ = s.SetReadDeadline(time.Now().Add(sessionIdle))
			var req invoke.Request
			if err := invoke.ReadMsg(r, e.n.cfg.maxInput()+64<<10, &req); err != nil {
				if !errors.Is(err, io.EOF) && fault.KindOf(err) != fault.Unavailable {
					// Bytes that are no request: say so, and end the session.
					out <- replyBatch{{Type: invoke.ReplyError, Call: req.Call, Error: invoke.ErrorOf(err)}}
				}
				break
			}
			calls.Add(1)
			e.workers.Go(func() {
				defer calls.Done()
				e.serveCall(s, &req, out)
			})
		}
		calls.Wait()
	})
}

// serveCall admits one request of a session, runs it and sends its replies.
func (e *endpoint) serveCall(s network.Stream, req *invoke.Request, out chan<- replyBatch) {
	task, fn, err := e.admit(req, s)
	if err != nil {
		e.n.log.Info("invocation refused", "peer", s.Conn().RemotePeer(), "err", err)
		out <- replyBatch{{Type: invoke.ReplyError, Call: req.Call, Error: invoke.ErrorOf(err)}}
		return
	}
	out <- replyBatch{{Type: invoke.ReplyAck, Call: req.Call, TaskID: task.TaskID, Count: len(task.Inputs)}}
	e.runAndFollow(task, fn, req.Call, out)
}
