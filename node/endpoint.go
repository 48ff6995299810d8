package node

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/batchverify"
	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/container"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/exec/python"
	"github.com/fxmesh/fxmesh/exec/shell"
	"github.com/fxmesh/fxmesh/exec/tenant"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node/admission"
	"github.com/fxmesh/fxmesh/node/taskstore"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// flushInterval is how long task states and results may wait in memory
// before the task store writes them (admissions are written at once). A
// crash loses at most this much: the tasks it finished are then reported
// failed (system) after the restart.
const flushInterval = 20 * time.Millisecond

// endpoint is the part of a node that runs functions.
type endpoint struct {
	n         *Node
	tasks     *taskstore.Store
	executors executors                        // fixed once started
	pilot     *pilot.Manager                   // runs python and shell in blocks, with a provider; else nil
	mu        sync.Mutex                       // guards closing and streams
	closing   bool                             // set by close: no handler or task may start
	streams   map[network.Stream]struct{}      // results streams open, reset by close
	running   sync.WaitGroup                   // handlers and tasks; Add only via begin or while holding one
	catalog   cachedCatalog                    // the node's, as admission reads it
	policy    atomic.Pointer[admission.Policy] // the endpoint's, from its config in force; Reload swaps it
	images    images                           // the container runtime's, as admission reads them
	gpuFns    gpuFunctions                     // functions admitted with a requirement of GPUs
	// goroutines runs admissions and tasks on reused goroutines; the
	// executors' workers, which run the functions, are their own.
	goroutines *goPool
	verify     *batchverify.Verifier
	proofs     admission.ProofCache // private functions' proofs verified lately
	// observe receives the task events: audit log, metrics, recent tasks.
	observe *observer
	// callsPerSessionStream bounds the calls of one session stream being
	// admitted or run at once; the stream reads no further request until
	// one ends.
	callsPerSessionStream int
	// ackHold is how long a call of one input may hold its
	// acknowledgement back (defaultAckHold; tests change it).
	ackHold time.Duration

	cmu     sync.Mutex                    // guards cancels
	cancels map[string]context.CancelFunc // of the tasks being run, by task ID
}

// executors holds an endpoint's executors by the kind of function each
// runs: python and shell on the host, and kindContainer, whatever its
// kind, for a function with a container image; batch schedulers next.
type executors map[exec.Kind]exec.Executor

// kindContainer is the key of the container executor in executors: not a
// kind of function, but where every function with a container runs.
const kindContainer exec.Kind = "container"

var _ admission.Executors = executors(nil)

// keyOf is the key of the executor that runs fn: a function with a
// container never runs on the host's executors.
func keyOf(fn exec.Function) exec.Kind {
	if fn.Container != "" {
		return kindContainer
	}
	return fn.Kind
}

// Queued reports whether an executor runs fn and, if it reports its load,
// how many calls wait for it.
func (xs executors) Queued(fn exec.Function) (int, bool) {
	x, ok := xs[keyOf(fn)]
	if !ok {
		return 0, false
	}
	if st, ok := x.(exec.Statser); ok {
		return st.Stats().Queued, true
	}
	return 0, true
}

// load is what the executors report of their load, as one: the workers of
// the executor of loadKind, with the calls waiting at every executor
// counted as queued. An executor that does not report its load counts for
// nothing.
func (xs executors) load() exec.Stats {
	var st exec.Stats
	seen := map[exec.Executor]bool{} // one executor may serve several kinds
	for _, kind := range slices.Sorted(maps.Keys(xs)) {
		x := xs[kind]
		s, ok := x.(exec.Statser)
		if !ok {
			continue
		}
		xst := s.Stats()
		if kind == loadKind {
			st.Workers, st.Idle, st.Running = xst.Workers, xst.Idle, xst.Running
		}
		if !seen[x] {
			st.Queued += xst.Queued
		}
		seen[x] = true
	}
	return st
}

// close closes every executor, in the order of their kinds, and waits for
// each.
func (xs executors) close() error {
	var errs []error
	for _, kind := range slices.Sorted(maps.Keys(xs)) {
		if err := xs[kind].Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s executor: %w", kind, err))
		}
	}
	return errors.Join(errs...)
}

func (n *Node) startEndpoint() error {
	tasks, err := taskstore.Open(filepath.Join(n.dir, "tasks.db"), taskstore.Options{
		Retention: n.config().TaskRetention, Now: n.now, Logger: n.log, FlushInterval: flushInterval,
		SyncAdmissions: n.config().SyncAdmissions,
		MaxResultBytes: n.config().maxOutput() + 3*exec.DefaultMaxOutputBytes + 64<<10,
	})
	if err != nil {
		return err
	}
	if n.executors != nil {
		n.refreshModules("", false) // no interpreter of its own: the file's, if any
		n.ep = n.newEndpoint(tasks, n.executors, nil, "")
		n.serveEndpoint()
		return nil
	}
	lim := exec.Limits{MaxResultBytes: n.config().maxOutput()}
	xs := executors{}
	iso, err := n.config().isolation(n.dir, runsAsRoot())
	if err != nil {
		tasks.Close()
		return err
	}
	ownerOnly := hostOwnerOnly(iso)
	if ownerOnly != "" {
		n.log.Warn("this endpoint runs functions on its host for its owner alone", "why", ownerOnly)
	}
	tenants, err := tenant.New(iso) // one table: a user has one uid and directory in every executor
	if err != nil {
		tasks.Close()
		return fmt.Errorf("node: config: %w", err)
	}
	var blocks *pilot.Manager
	if n.config().Batch.Provider != "" {
		// Python and shell functions run in the blocks' agents, with the
		// same executors and tenancy as the local pool below.
		if blocks, err = n.startPilot(lim); err != nil {
			tasks.Close()
			return err
		}
		xs[exec.KindPython], xs[exec.KindShell] = blocks, blocks
		// The blocks run the configured interpreter, on the scheduler's
		// nodes: its modules here are the best guess of theirs.
		n.refreshModules(cmp.Or(n.config().pythonPath(), python.DefaultPython), iso.Switches())
	} else {
		py, err := python.New(python.Config{Python: n.config().pythonPath(), Fallback: fallbackPython, Workers: n.config().Workers, Limits: lim, Logger: n.log, Tenants: tenants})
		if err != nil {
			tasks.Close()
			if iso.Switches() && fault.KindOf(err) == fault.Invalid {
				return fmt.Errorf("node: %w; set python: in config.yaml to an interpreter that the worker uids and accounts can run", err)
			}
			return err
		}
		xs[exec.KindPython] = py
		n.refreshModules(py.Python(), iso.Switches())
		n.noteWorkerPython(py.Python(), py.Version())
		sh, err := shell.New(shell.Config{Limits: lim, Logger: n.log, Tenants: tenants})
		if err != nil {
			xs.close()
			tasks.Close()
			return err
		}
		xs[exec.KindShell] = sh
	}
	ep := n.newEndpoint(tasks, xs, blocks, ownerOnly)
	rt, err := n.config().Containers.containerRuntime(n.ctx, n.log)
	if err == nil && rt != nil {
		var cx *container.Executor
		cx, err = container.New(n.config().Containers.executorConfig(rt, n.config().Hardware, lim, n.config().Workers, ep.gpuFns.needs, n.log))
		if err == nil {
			xs[kindContainer] = cx
			ep.images.rt, ep.images.pull = rt, n.config().Containers.Pull
		}
	}
	if err != nil {
		xs.close()
		tasks.Close()
		return err
	}
	if blocks != nil && n.config().Containers.Runtime != RuntimeNone {
		// Functions with container images run in the blocks too, on
		// nodes with a runtime; on this host's, while they have none.
		xs[kindContainer] = &blockContainers{blocks: blocks, local: xs[kindContainer]}
	}
	n.ep = ep
	n.serveEndpoint()
	return nil
}

// newEndpoint is the endpoint part of n, with its task store and executors.
func (n *Node) newEndpoint(tasks *taskstore.Store, xs executors, blocks *pilot.Manager, ownerOnly string) *endpoint {
	ep := &endpoint{
		n: n, tasks: tasks, executors: xs, pilot: blocks,
		catalog:    cachedCatalog{Store: n.catalog},
		goroutines: newGoPool(time.Minute, n.ctx.Done()), verify: batchverify.New(0),
		observe:               &observer{log: n.log, metrics: n.metrics, audit: n.audit, now: n.now},
		callsPerSessionStream: defaultCallsPerSessionStream,
		ackHold:               defaultAckHold,
	}
	ep.images.ctx, ep.images.now = n.ctx, n.now
	ep.policy.Store(admissionPolicy(n.ID(), n.config(), ownerOnly))
	return ep
}

// admissionPolicy is the admission policy that cfg sets for endpoint
// self; ownerOnly is admission.Policy.HostOwnerOnly.
func admissionPolicy(self peer.ID, cfg *Config, ownerOnly string) *admission.Policy {
	return &admission.Policy{
		Self: self, Callers: callerPolicy(cfg), Functions: cfg.Functions, Skew: cfg.ClockSkew,
		MaxInvocationBytes: cfg.maxInput(), MaxQueue: cfg.maxQueue(),
		RequireMapping: cfg.RequireMapping, Mapped: cfg.mapped(), HostOwnerOnly: ownerOnly,
	}
}

// serveEndpoint serves the endpoint's protocols.
func (n *Node) serveEndpoint() {
	n.host.SetStreamHandler(wire.InvokeProtocol, n.ep.handleInvoke)
	n.host.SetStreamHandler(wire.TaskProtocol, n.ep.handleTask)
	n.host.SetStreamHandler(wire.SessionProtocol, n.ep.handleSessionStream)
	n.host.SetStreamHandler(wire.CancelProtocol, n.ep.handleCancel)
	if n.ep.pilot != nil {
		n.host.SetStreamHandler(wire.BlockProtocol, n.ep.handleBlock)
		n.wg.Add(1)
		go n.watchBatch()
	}
}

// close stops taking work, stops running tasks, waits for every handler
// and task goroutine, and closes the stores. The node's context is already
// cancelled, so that followers of results end.
func (e *endpoint) close() error {
	e.mu.Lock()
	e.closing = true
	for s := range e.streams {
		s.Reset() // a caller that does not read must not hold up the close
	}
	e.mu.Unlock()
	e.n.host.RemoveStreamHandler(wire.InvokeProtocol)
	e.n.host.RemoveStreamHandler(wire.TaskProtocol)
	e.n.host.RemoveStreamHandler(wire.SessionProtocol)
	e.n.host.RemoveStreamHandler(wire.BlockProtocol)
	e.n.host.RemoveStreamHandler(wire.CancelProtocol)
	xerr := e.executors.close()
	e.running.Wait()
	return errors.Join(xerr, e.tasks.Close())
}

// begin registers a handler or task goroutine with close; false means the
// endpoint is closing and nothing may start.
func (e *endpoint) begin() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	e.running.Add(1)
	return true
}

// writeTimeout bounds each write to a caller: one that stops reading loses
// its stream, never a worker.
const writeTimeout = 30 * time.Second

// refuse answers a request with an error and closes the stream. The
// caller may still be writing its request: the stream is closed, not reset,
// so that the answer reaches it; what it writes after is dropped.
func refuse(w *bufio.Writer, s network.Stream, err error) {
	_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
	_ = wire.WriteMsg(w, invoke.Reply{Type: invoke.ReplyError, Error: invoke.ErrorOf(err)})
	_ = w.Flush()
	_ = s.Close()
}

// requestWait bounds the wait for the first byte of a stream's request.
const requestWait = 30 * time.Second

// frames reads the frames a peer sends on s, each of at most max bytes,
// under the node's budget of bytes in unfinished frames.
func (n *Node) frameReader(s network.Stream, max int) *wire.FrameReader {
	return &wire.FrameReader{
		R: bufio.NewReader(s), Max: max, Stream: s,
		Budget: n.frames, Peer: s.Conn().RemotePeer().String(),
	}
}

// readRequest reads the one request of a stream. A stream that ends before
// its request is invalid.
func readRequest(fr *wire.FrameReader) ([]byte, error) {
	b, err := fr.Next(requestWait)
	if errors.Is(err, io.EOF) {
		return nil, fault.E(fault.Invalid, "", "the stream ended before its request")
	}
	return b, err
}

// admits reports whether the endpoint's policy lets p invoke anything
// here: a peer it does not admit gets no more than a refusal, before any
// of what it sends is read.
func (e *endpoint) admits(s network.Stream) error {
	if p := s.Conn().RemotePeer(); !e.policy.Load().Callers.Allows(p) {
		return fault.E(fault.Denied, "", "%s may not use this endpoint", p)
	}
	return nil
}

// accept registers a handler with close and reads the stream's one
// request, of at most max bytes, into v; with gate, only from a peer the
// endpoint's policy admits. When it returns true the caller must call
// e.running.Done; otherwise the stream was answered already, and refused,
// if not nil, was told why.
func (e *endpoint) accept(s network.Stream, gate bool, max int, v any, refused func(error)) (*bufio.Writer, bool) {
	w := bufio.NewWriter(s)
	if !e.begin() {
		refuse(w, s, fault.E(fault.Unavailable, "", "endpoint is shutting down"))
		return nil, false
	}
	err := error(nil)
	if gate {
		err = e.admits(s)
	}
	if err == nil {
		var b []byte
		if b, err = readRequest(e.n.frameReader(s, max)); err == nil {
			err = wire.DecodeMsg(b, v)
		}
	}
	if err != nil {
		if refused != nil {
			refused(err)
		}
		refuse(w, s, err)
		e.running.Done()
		return nil, false
	}
	_ = s.SetReadDeadline(time.Time{})
	return w, true
}

// maxRequest bounds one request: the largest invocation and its framing.
func (e *endpoint) maxRequest() int { return e.policy.Load().MaxInvocationBytes + 64<<10 }

// handleInvoke admits one signed invocation and runs it.
func (e *endpoint) handleInvoke(s network.Stream) {
	var req invoke.Request
	w, ok := e.accept(s, true, e.maxRequest(), &req, func(err error) {
		e.observe.refused(s.Conn().RemotePeer(), nil, err)
	})
	if !ok {
		return
	}
	defer e.running.Done()
	adm, err := e.admit(&req, s)
	if err != nil {
		e.n.log.Info("invocation refused", "peer", s.Conn().RemotePeer(), "err", err)
		refuse(w, s, err)
		return
	}
	// The task is admitted: it runs whatever happens to this stream.
	inv := adm.Invocation
	_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
	err = wire.WriteMsg(w, invoke.Reply{Type: invoke.ReplyAck, TaskID: inv.TaskID, Count: len(inv.Inputs)})
	if err == nil {
		err = w.Flush() // the caller fails over until it has this
	}
	if err != nil || !req.Wait {
		e.runBehind(adm)
		_ = s.Close()
		return
	}
	e.serveReplies(s, watchStream, func(ctx context.Context, out chan<- replyBatch) { e.runAndFollow(ctx, adm, 0, out, nil) })
}

// admit decides on an invocation (see package admission) and records the
// task; nothing runs before it returns without error.
func (e *endpoint) admit(req *invoke.Request, s network.Stream) (*admission.Admitted, error) {
	e.n.mu.Lock()
	offers := e.n.rec
	e.n.mu.Unlock()
	adm, err := admission.Decide(&admission.Input{
		Envelope: req.Invocation, Sender: s.Conn().RemotePeer(), Now: e.n.now(),
		Policy: e.policy.Load(), Offers: offers,
		Catalog: &e.catalog, Tasks: e.tasks, Executors: e.executors,
		Containers: &e.images, Verifier: e.verify, Proofs: &e.proofs,
	})
	if err == nil {
		err = e.tasks.Admit(adm.Task)
		if fault.KindOf(err) == fault.Internal {
			// The endpoint cannot record tasks (a full disk, say): another
			// endpoint can take the work.
			err = fault.Wrap(fault.Unavailable, "endpoint cannot record tasks", err)
		}
	}
	if err != nil {
		e.observe.refused(s.Conn().RemotePeer(), req.Invocation, err)
		return nil, err
	}
	adm.Task.Received = e.n.now() // as the store stamped it, near enough
	e.observe.admitted(&adm.Task)
	e.gpuFns.note(adm)
	return adm, nil
}

// cachedCatalog is the node's catalog as admission reads it, with the
// functions it returns kept by ID: a function's content never changes under
// its ID, so entries never go stale, and the cache is simply emptied when
// full. Access and Head always ask the catalog.
type cachedCatalog struct {
	*catalog.Store
	mu sync.Mutex // guards m
	m  map[catalog.ID]*catalog.Function
}

var _ admission.Catalog = (*cachedCatalog)(nil)

const functionCacheSize = 4096

// Get returns the function with ID id, from the cache if it holds it.
func (c *cachedCatalog) Get(id catalog.ID) (*catalog.Function, error) {
	c.mu.Lock()
	f := c.m[id]
	c.mu.Unlock()
	if f != nil {
		return f, nil
	}
	f, err := c.Store.Get(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= functionCacheSize {
		c.m = make(map[catalog.ID]*catalog.Function)
	}
	c.m[id] = f
	return f, nil
}

// runAndFollow runs an admitted task and sends its results, then Done,
// each tagged with call; ack, when not nil, is the task's acknowledgement,
// not yet sent. A task of one input runs in this goroutine and its result
// travels with Done (and with ack, when it ends within ackHold): no other
// goroutine is on the way of a single call. The results of a batch come
// through the store's follower, so that a caller that reads slowly holds
// up no worker.
func (e *endpoint) runAndFollow(ctx context.Context, adm *admission.Admitted, call uint64, out chan<- replyBatch, ack *invoke.Reply) {
	inv := adm.Invocation
	if len(inv.Inputs) != 1 {
		if ack != nil {
			out <- replyBatch{*ack}
		}
		e.runBehind(adm)
		e.follow(ctx, inv.TaskID, 0, len(inv.Inputs), call, out)
		return
	}
	var (
		mu    sync.Mutex // orders the ack before the result
		acked = ack == nil
	)
	if !acked {
		hold := time.AfterFunc(e.ackHold, func() {
			mu.Lock()
			defer mu.Unlock()
			if !acked {
				acked = true
				out <- replyBatch{*ack}
			}
		})
		defer hold.Stop()
	}
	var reps replyBatch
	e.run(adm, func(r invoke.Result) {
		reps = append(reps, invoke.Reply{Type: invoke.ReplyResult, Call: call, Result: &r})
	})
	reps = append(reps, invoke.Reply{Type: invoke.ReplyDone, Call: call, Status: e.status(inv.TaskID)})
	mu.Lock()
	defer mu.Unlock()
	if !acked {
		acked = true
		reps = append(replyBatch{*ack}, reps...)
	}
	out <- reps
}

// defaultAckHold is how long a call of one input may hold its
// acknowledgement back, so that a call that ends by then sends it with its
// result: one write and one wake-up of the caller instead of two. Callers
// fail over only when they get no acknowledgement for seconds
// (client.ackTimeout).
const defaultAckHold = time.Millisecond

// runBehind runs an admitted task on a goroutine of its own. The caller
// is a handler, registered with close, so that close waits for the task.
func (e *endpoint) runBehind(adm *admission.Admitted) {
	e.running.Add(1) // safe: the caller's handler holds one
	e.goroutines.Go(func() {
		defer e.running.Done()
		e.run(adm, nil)
	})
}

// run executes an admitted task and stores every result; the task always
// ends done, failed or, when its caller cancels it (handleCancel),
// cancelled. stored, when not nil, is given each result as it was stored.
func (e *endpoint) run(adm *admission.Admitted, stored func(invoke.Result)) {
	inv, fn := adm.Invocation, adm.Function.Exec
	id, tenant := inv.TaskID, inv.Caller.String()
	ctx, cancelled := e.cancellable(id)
	defer e.forget(id)
	if t, err := e.tasks.Get(id); err == nil && t.State.Finished() {
		return // cancelled before it started: nothing of it runs
	}
	// Queued until the executor gives an input a worker (exec.Started),
	// or at the latest when the first result comes.
	_ = e.tasks.SetState(id, invoke.StateQueued)
	e.observe.queued(id)
	started := sync.OnceFunc(func() {
		_ = e.tasks.SetState(id, invoke.StateRunning)
		e.observe.started(adm, e.n.now())
	})
	ctx = exec.WithStarted(ctx, started)
	x := e.executors[keyOf(fn)] // admission refuses a function without one
	var (
		storeErr error
		out      outcome // what the results said; emit is never called concurrently
	)
	defer func() {
		t, err := e.tasks.Get(id)
		if err != nil {
			t = adm.Task // the store is closing: the task ends failed
			t.Error = invoke.ErrorOf(err)
		}
		out.task = t
		e.observe.finished(out)
	}()
	emit := func(i int, r exec.Result) {
		started()
		res := resultOf(i, r)
		if res.Error != nil {
			if out.failedInputs++; out.firstKind == "" {
				out.firstKind = res.Error.Kind
			}
		}
		err := e.tasks.PutResult(id, res)
		if err != nil && cancelled() {
			return // what a stopped input left behind
		}
		if err != nil {
			// Keep the input's place with an error of its own, so that the
			// task still ends; if even that fails, fail the task below.
			e.n.log.Warn("store result", "task", id, "index", i, "err", err)
			res = invoke.Result{Index: i, Error: &invoke.Error{
				Kind: string(fault.KindOf(err)), Message: "the endpoint could not keep this result: " + err.Error(),
			}}
			if err = e.tasks.PutResult(id, res); err != nil {
				if storeErr == nil {
					storeErr = err
				}
				return
			}
		}
		if stored != nil {
			stored(res)
		}
	}
	timeout := e.n.config().capTimeout(time.Duration(inv.Timeout))
	var err error
	if b, ok := x.(exec.Batcher); ok && len(inv.Inputs) > 1 && timeout == 0 {
		inputs := make([]exec.Input, len(inv.Inputs))
		for i, in := range inv.Inputs {
			inputs[i] = exec.Input{Args: in.Args, Kwargs: in.Kwargs}
		}
		err = b.ExecuteBatch(ctx, exec.Batch{Tenant: tenant, Function: fn, Inputs: inputs, Retries: inv.Retries}, emit)
	} else {
		err = e.runEach(ctx, x, exec.Task{ID: id, Tenant: tenant, Function: fn, Timeout: timeout, Retries: inv.Retries}, inv.Inputs, emit)
	}
	if err == nil && storeErr != nil {
		err = storeErr
	}
	if err != nil && cancelled() {
		return // the task is cancelled already
	}
	if err != nil {
		reason := fault.Wrap(fault.System, "", fmt.Errorf("endpoint stopped the task: %w", err))
		if errors.Is(err, exec.ErrClosed) || ctx.Err() != nil {
			reason = fault.E(fault.System, "", "endpoint shut down while the task ran")
		}
		if ferr := e.tasks.Fail(id, *invoke.ErrorOf(reason)); ferr != nil {
			e.n.log.Error("fail task", "task", id, "err", ferr)
		}
	}
}

// cancellable registers task id as running, for handleCancel: the context
// it returns ends when the node closes or the task is cancelled, and
// cancelled reports whether the task was.
func (e *endpoint) cancellable(id string) (ctx context.Context, cancelled func() bool) {
	ctx, cancel := context.WithCancel(e.n.ctx)
	e.cmu.Lock()
	if e.cancels == nil {
		e.cancels = map[string]context.CancelFunc{}
	}
	e.cancels[id] = cancel
	e.cmu.Unlock()
	return ctx, func() bool { return ctx.Err() != nil && e.n.ctx.Err() == nil }
}

// forget ends what cancellable registered.
func (e *endpoint) forget(id string) {
	e.cmu.Lock()
	cancel := e.cancels[id]
	delete(e.cancels, id)
	e.cmu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// handleCancel cancels a task for its caller: the store ends it as
// cancelled first, so that a run that has not started finds it finished
// and runs nothing, then what runs is stopped through its context. Another
// peer's cancel is denied.
func (e *endpoint) handleCancel(s network.Stream) {
	var req invoke.Cancel
	w, ok := e.accept(s, false, 4<<10, &req, nil)
	if !ok {
		return
	}
	defer e.running.Done()
	t, err := e.tasks.Get(req.TaskID)
	if err == nil && t.Caller != s.Conn().RemotePeer().String() {
		err = fault.E(fault.Denied, "", "task %s is not yours to cancel", req.TaskID)
	}
	if err == nil {
		t, err = e.tasks.Cancel(req.TaskID)
	}
	if err != nil {
		refuse(w, s, err)
		return
	}
	e.cmu.Lock()
	stop := e.cancels[req.TaskID]
	e.cmu.Unlock()
	if stop != nil && t.State == invoke.StateCancelled {
		stop()
	}
	e.n.log.Info("task cancelled", "task", req.TaskID, "state", t.State)
	_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
	_ = wire.WriteMsg(w, invoke.Reply{Type: invoke.ReplyStatus, TaskID: t.ID, Count: t.Count, Status: t.Status()})
	_ = w.Flush()
	_ = s.Close()
}

// runEach runs the inputs one Execute each, as many at once as the executor
// has workers.
func (e *endpoint) runEach(ctx context.Context, x exec.Executor, task exec.Task, inputs []invoke.Input, emit func(int, exec.Result)) error {
	if len(inputs) == 1 {
		task.Args, task.Kwargs = inputs[0].Args, inputs[0].Kwargs
		r, err := x.Execute(ctx, task)
		if err != nil {
			return err
		}
		emit(0, r)
		return nil
	}
	par := 4
	if st, ok := x.(exec.Statser); ok {
		par = max(1, st.Stats().Workers)
	}
	var (
		mu       sync.Mutex // serializes emit and guards firstErr
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, par)
	)
	for i, in := range inputs {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int, in invoke.Input) {
			defer wg.Done()
			defer func() { <-sem }()
			t := task
			t.Args, t.Kwargs = in.Args, in.Kwargs
			r, err := x.Execute(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			emit(i, r)
		}(i, in)
	}
	wg.Wait()
	return firstErr
}

// resultOf is what executor produced for input i, in the one form of a
// result that the task store keeps and the wire carries: the only
// conversion a result goes through.
func resultOf(i int, r exec.Result) invoke.Result {
	res := invoke.Result{
		Index: i, Value: r.Value, Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode,
		Started: unixNanos(r.Started), Finished: unixNanos(r.Finished),
	}
	if r.Error != nil {
		res.Error = &invoke.Error{Kind: string(r.Error.Kind), Type: r.Error.Type, Message: r.Error.Message, Traceback: r.Error.Traceback}
	}
	return res
}

// unixNanos is t in Unix nanoseconds, 0 for the zero time.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// status reads a task's state for the wire.
func (e *endpoint) status(id string) *invoke.Status {
	t, err := e.tasks.Get(id)
	if err != nil {
		return &invoke.Status{State: invoke.StateUnknown, Error: invoke.ErrorOf(err)}
	}
	return t.Status()
}

// handleTask answers a query for a task's state and results; only the task's
// caller may ask.
func (e *endpoint) handleTask(s network.Stream) {
	var q invoke.Query
	w, ok := e.accept(s, false, 4<<10, &q, nil)
	if !ok {
		return
	}
	defer e.running.Done()
	t, err := e.tasks.Get(q.TaskID)
	if err == nil && t.Caller != s.Conn().RemotePeer().String() {
		err = fault.E(fault.NotFound, "", "no task %s", q.TaskID) // do not reveal others' tasks
	}
	if err != nil {
		refuse(w, s, err)
		return
	}
	_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := wire.WriteMsg(w, invoke.Reply{Type: invoke.ReplyStatus, TaskID: t.ID, Count: t.Count, Status: t.Status()}); err != nil {
		s.Reset()
		return
	}
	switch {
	case q.Wait:
		if err := w.Flush(); err != nil {
			s.Reset()
			return
		}
		e.serveReplies(s, watchStream, func(ctx context.Context, out chan<- replyBatch) { e.follow(ctx, q.TaskID, q.From, t.Count, 0, out) })
	case q.Results:
		rs, err := e.tasks.Results(q.TaskID, q.From, 0)
		if err == nil {
			for i := range rs {
				if wire.WriteMsg(w, invoke.Reply{Type: invoke.ReplyResult, Result: &rs[i]}) != nil {
					s.Reset()
					return
				}
			}
		}
		_ = wire.WriteMsg(w, invoke.Reply{Type: invoke.ReplyDone, Status: e.status(q.TaskID)})
		_ = w.Flush()
		_ = s.Close()
	default:
		_ = w.Flush()
		_ = s.Close()
	}
}
