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

// handleSession serves a session stream: many invocations, each waited for,
// whose replies share the stream. Replies are written by one goroutine that
// flushes only when none is waiting, so that under load many replies travel
// in one write.
func (e *endpoint) handleSession(s network.Stream) {
	if !e.begin() {
		s.Reset()
		return
	}
	defer e.running.Done()
	e.mu.Lock()
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

	out := make(chan invoke.Reply, 1024)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		e.writeReplies(s, out)
	}()
	var calls sync.WaitGroup
	r := bufio.NewReader(s)
	for {
		_ = s.SetReadDeadline(time.Now().Add(sessionIdle))
		var req invoke.Request
		if err := invoke.ReadMsg(r, e.n.cfg.maxInput()+64<<10, &req); err != nil {
			if !errors.Is(err, io.EOF) && fault.KindOf(err) != fault.Unavailable {
				// Bytes that are no request: say so, and end the session.
				out <- invoke.Reply{Type: invoke.ReplyError, Call: req.Call, Error: invoke.ErrorOf(err)}
			}
			break
		}
		calls.Add(1)
		go func(req invoke.Request) {
			defer calls.Done()
			e.serveCall(s, &req, out)
		}(req)
	}
	calls.Wait()
	close(out)
	<-writerDone
	_ = s.Close()
}

// writeReplies writes replies until out closes, flushing when none waits. A
// caller that stops reading loses the stream; the replies still queued are
// dropped so that no call blocks.
func (e *endpoint) writeReplies(s network.Stream, out <-chan invoke.Reply) {
	w := bufio.NewWriterSize(s, 64<<10)
	alive := true
	for rep := range out {
		if !alive {
			continue
		}
		_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
		err := invoke.WriteMsg(w, rep)
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

// serveCall admits one request of a session, runs it and sends its replies.
func (e *endpoint) serveCall(s network.Stream, req *invoke.Request, out chan<- invoke.Reply) {
	call := req.Call
	task, fn, err := e.admit(req, s)
	if err != nil {
		e.n.log.Info("invocation refused", "peer", s.Conn().RemotePeer(), "err", err)
		out <- invoke.Reply{Type: invoke.ReplyError, Call: call, Error: invoke.ErrorOf(err)}
		return
	}
	e.running.Add(1) // safe: the session handler holds one
	go func() {
		defer e.running.Done()
		e.run(task, fn)
	}()
	out <- invoke.Reply{Type: invoke.ReplyAck, Call: call, TaskID: task.TaskID, Count: len(task.Inputs)}
	ch, err := e.tasks.Follow(e.n.ctx, task.TaskID)
	if err != nil {
		out <- invoke.Reply{Type: invoke.ReplyError, Call: call, Error: invoke.ErrorOf(err)}
		return
	}
	for r := range ch {
		res := wireFromStore(r)
		out <- invoke.Reply{Type: invoke.ReplyResult, Call: call, Result: &res}
	}
	out <- invoke.Reply{Type: invoke.ReplyDone, Call: call, Status: e.status(task.TaskID)}
}
