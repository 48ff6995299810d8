package python

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	osexec "os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/internal/proc"
	"github.com/fxmesh/fxmesh/exec/tenant"
	"github.com/fxmesh/fxmesh/fault"
)

// Defaults of Config's zero fields.
const (
	DefaultPython          = "python3"
	DefaultTimeout         = 10 * time.Minute
	DefaultStartTimeout    = time.Minute
	maxWorkers             = 4096
	maxUnsent              = 2 // retries of a request whose worker had died idle
	maxChunk               = 256
	maxChunkBytes          = 1 << 20
	minPython, minorPython = 3, 8
)

// Config configures a Pool. The zero value is ready to use.
type Config struct {
	// Python is the interpreter: a path, or a name looked up in PATH; ""
	// means DefaultPython. New resolves it once, by running it, to the
	// executable it reports as sys.executable, so that wrappers such as
	// pyenv's shims (tens of milliseconds each) run once, not per worker.
	Python string
	// Workers is how many worker processes, and so tasks, run at once, of
	// all tenants together; 0 means runtime.NumCPU().
	Workers int
	// DefaultTimeout is the walltime of tasks without their own, and of
	// each input of a batch; 0 means DefaultTimeout.
	DefaultTimeout time.Duration
	// StartTimeout bounds a worker's start, from spawn to ready; 0 means
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// Limits bound what tasks produce; zero fields mean exec's defaults.
	Limits exec.Limits
	// Dir is the workers' working directory; "" means this process's.
	// Tenants, when it has a directory, gives each tenant its own instead.
	Dir string
	// Env is the workers' environment; nil means this process's.
	Env []string
	// Fallback is an interpreter to run instead of Python when the users
	// that Tenants runs workers as cannot run Python (pyenv's under /root,
	// say); New logs the switch. "" means none: New fails instead.
	Fallback string
	// Logger receives the pool's events; nil discards them.
	Logger *slog.Logger
	// Tenants says how tenants are kept apart beyond their own
	// processes: the uid, gid and working directory of each tenant's
	// workers; nil runs every worker as this process's user. Share one
	// Table among an endpoint's executors.
	Tenants *tenant.Table
}

func (c Config) validate() error {
	switch {
	case c.Workers < 0 || c.Workers > maxWorkers:
		return fault.E(fault.Invalid, "exec/python: config", "workers %d out of range [0, %d]", c.Workers, maxWorkers)
	case c.DefaultTimeout < 0:
		return fault.E(fault.Invalid, "exec/python: config", "negative default timeout %v", c.DefaultTimeout)
	case c.StartTimeout < 0:
		return fault.E(fault.Invalid, "exec/python: config", "negative start timeout %v", c.StartTimeout)
	}
	return c.Limits.Validate()
}

func (c Config) withDefaults() Config {
	if c.Python == "" {
		c.Python = DefaultPython
	}
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = DefaultTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	c.Limits = c.Limits.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Pool runs Python functions on a bounded number of warm worker processes,
// each serving one tenant.
type Pool struct {
	cfg      Config
	python   string // the resolved interpreter
	version  string // its version, "3.11.2"
	log      *slog.Logger
	tenants  *tenant.Table
	ctx      context.Context // ends at Close; bounds worker starts
	cancel   context.CancelFunc
	done     chan struct{} // closed by Close
	warmSem  chan struct{} // one Warm at a time: it holds every worker
	closed   atomic.Bool   // set under mu
	calls    sync.WaitGroup
	wg       sync.WaitGroup // replace goroutines
	running  atomic.Int64
	nextID   atomic.Int64
	closeOne sync.Once

	// mu guards the fields below, and orders closed with calls.Add and
	// wg.Add. A slot is the right to one live or starting worker: there
	// are cfg.Workers of them.
	mu      sync.Mutex
	workers map[*worker]struct{} // every live worker, idle or busy
	total   int                  // slots taken: workers live or starting
	held    map[string]int       // per tenant: workers its calls hold or start
	idle    map[string][]*worker // per tenant: free workers, longest idle first
	nidle   int                  // free workers of all tenants
	waiting map[string][]*waiter // per tenant: calls waiting, first come first
	nwait   int                  // calls waiting
	seq     uint64               // numbers waiters
}

// waiter is a call waiting for a worker. It receives one of its tenant's
// workers, or nil: a slot in which to start one.
type waiter struct {
	tenant string
	seq    uint64
	ch     chan *worker // buffered: the grant never blocks
}

var (
	_ exec.Executor = (*Pool)(nil)
	_ exec.Statser  = (*Pool)(nil)
	_ exec.Warmer   = (*Pool)(nil)
	_ exec.Batcher  = (*Pool)(nil)
)

// New resolves the interpreter, starts cfg.Workers workers and waits until
// they are ready.
func New(cfg Config) (*Pool, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{
		cfg:     cfg,
		log:     cfg.Logger,
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		warmSem: make(chan struct{}, 1),
		workers: make(map[*worker]struct{}, cfg.Workers),
		held:    make(map[string]int),
		idle:    make(map[string][]*worker),
		waiting: make(map[string][]*waiter),
	}
	python, version, err := usablePython(ctx, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	p.python, p.version = python, version
	p.tenants = cfg.Tenants
	type started struct {
		w   *worker
		err error
	}
	ch := make(chan started, cfg.Workers)
	for range cfg.Workers {
		go func() {
			w, err := p.startWorker(ctx, "")
			ch <- started{w, err}
		}()
	}
	var firstErr error
	for range cfg.Workers {
		s := <-ch
		if s.err != nil {
			firstErr = s.err
			continue
		}
		p.workers[s.w] = struct{}{}
		p.total++
		p.putLocked(s.w) // no call can wait yet, nor share p
	}
	if firstErr != nil {
		p.Close()
		return nil, firstErr
	}
	p.log.Debug("python pool started", "python", python, "workers", cfg.Workers)
	return p, nil
}

// usablePython resolves cfg.Python and checks that every user the
// workers run as can run it; where they cannot, it turns to cfg.Fallback,
// and says so.
func usablePython(ctx context.Context, cfg Config) (python, version string, err error) {
	python, version, err = resolvePython(ctx, cfg, cfg.Python)
	if err != nil {
		return "", "", err
	}
	err = checkInterpreter(ctx, cfg, python)
	if err == nil || cfg.Fallback == "" {
		return python, version, err
	}
	fallback, fversion, ferr := resolvePython(ctx, cfg, cfg.Fallback)
	if ferr == nil {
		ferr = checkInterpreter(ctx, cfg, fallback)
	}
	if ferr != nil {
		return "", "", fmt.Errorf("%w; nor can they run the fallback: %w", err, ferr)
	}
	cfg.Logger.Warn("the workers' users cannot run the interpreter; running the fallback instead", "python", python, "fallback", fallback, "why", err)
	return fallback, fversion, nil
}

// checkInterpreter makes sure that workers running as other users can run
// the interpreter, and says why not where they cannot: a directory on its
// path they may not search, or a failure to run it as them (a library
// they may not read).
func checkInterpreter(ctx context.Context, cfg Config, python string) error {
	creds := cfg.Tenants.Credentials()
	for _, who := range slices.Sorted(maps.Keys(creds)) {
		err := tenant.CheckUsable(python, creds[who])
		if err == nil {
			err = tryAs(ctx, cfg, python, creds[who])
		}
		if err != nil {
			return fmt.Errorf("exec/python: interpreter for %s: %w; choose an interpreter every user can run, such as /usr/bin/python3", who, err)
		}
	}
	return nil
}

// tryAs runs python once as c, in /, and reports how it failed.
func tryAs(ctx context.Context, cfg Config, python string, c *tenant.Credential) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, python, "-c", "import json, os, sys")
	cmd.Dir = "/"
	cmd.Env = cfg.Env
	cmd.SysProcAttr = proc.SysProcAttr()
	c.Apply(cmd.SysProcAttr)
	var out exec.OutputBuffer
	out.Max = 4 << 10
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fault.E(fault.Invalid, "exec/python", "%s does not run as uid %d: %v%s", python, c.UID, err, quote(out.String()))
	}
	return nil
}

// Python returns the interpreter the workers run.
func (p *Pool) Python() string { return p.python }

// Version returns the version of the interpreter the workers run
// ("3.11.2").
func (p *Pool) Version() string { return p.version }

// resolvePython finds the interpreter and asks it for its real path and
// its version ("3.11.2").
func resolvePython(ctx context.Context, cfg Config, python string) (string, string, error) {
	path, err := osexec.LookPath(python)
	if err != nil {
		return "", "", fault.Wrap(fault.Invalid, "exec/python: find interpreter", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, path, "-c",
		"import sys; sys.stdout.write('%d.%d.%d\\n%s' % (sys.version_info[:3] + (sys.executable or '',)))")
	cmd.Dir = cfg.Dir
	cmd.Env = cfg.Env
	var stderr exec.OutputBuffer
	stderr.Max = 4 << 10
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("exec/python: run %s: %w%s", path, err, quote(stderr.String()))
	}
	version, real, _ := strings.Cut(string(out), "\n")
	major, rest, _ := strings.Cut(version, ".")
	minor, _, _ := strings.Cut(rest, ".")
	if ma, _ := strconv.Atoi(major); ma < minPython || ma == minPython && atoi(minor) < minorPython {
		return "", "", fault.E(fault.Invalid, "exec/python: interpreter", "%s is python %s; %d.%d or later needed", path, version, minPython, minorPython)
	}
	if st, err := os.Stat(real); real == "" || err != nil || st.IsDir() {
		return path, version, nil // no sys.executable (embedded interpreters): keep what ran
	}
	return real, version, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Execute runs t on a free worker, waiting for one if none is.
func (p *Pool) Execute(ctx context.Context, t exec.Task) (exec.Result, error) {
	if err := ctx.Err(); err != nil {
		return exec.Result{}, exec.ContextError("exec/python: execute", err)
	}
	if err := checkFunction(&t.Function); err != nil {
		return exec.Result{}, err
	}
	if err := t.Check(); err != nil {
		return exec.Result{}, err
	}
	if err := p.begin(); err != nil {
		return exec.Result{}, err
	}
	defer p.calls.Done()
	timeout := t.Timeout
	if timeout == 0 {
		timeout = p.cfg.DefaultTimeout
	}
	var s single
	in := [1]exec.Input{{Args: t.Args, Kwargs: t.Kwargs}}
	err := p.runInputs(ctx, t.Tenant, &t.Function, in[:], 0, timeout, s.emit)
	if err != nil {
		return exec.Result{}, err
	}
	return s.r, nil
}

// single receives the result of one input.
type single struct{ r exec.Result }

func (s *single) emit(_ int, r exec.Result) { s.r = r }

// ExecuteBatch runs b's function on every input, in chunks spread over the workers:
// one request carries a chunk's inputs, and the worker answers each as it
// finishes. An input that times out or crashes its worker fails alone; the
// rest of its chunk runs on a fresh worker.
func (p *Pool) ExecuteBatch(ctx context.Context, b exec.Batch, emit func(int, exec.Result)) error {
	fn, inputs := b.Function, b.Inputs
	if err := ctx.Err(); err != nil {
		return exec.ContextError("exec/python: execute batch", err)
	}
	if err := checkFunction(&fn); err != nil {
		return err
	}
	if err := p.begin(); err != nil {
		return err
	}
	defer p.calls.Done()

	var mu sync.Mutex // serialises emit
	emitLocked := func(i int, r exec.Result) {
		mu.Lock()
		defer mu.Unlock()
		emit(i, r)
	}
	// Malformed inputs fail alone; index maps the others back.
	valid, index := inputs, []int(nil)
	for i, in := range inputs {
		err := in.Check()
		if err == nil {
			if index != nil {
				valid = append(valid, in)
				index = append(index, i)
			}
			continue
		}
		if index == nil {
			valid = append(make([]exec.Input, 0, len(inputs)), inputs[:i]...)
			index = make([]int, i, len(inputs))
			for j := range i {
				index[j] = j
			}
		}
		now := time.Now()
		emitLocked(i, exec.Result{Error: &exec.TaskError{Kind: fault.Invalid, Message: err.Error()}, Started: now, Finished: now})
	}
	out := emitLocked
	if index != nil {
		out = func(i int, r exec.Result) { emitLocked(index[i], r) }
	}
	chunks := chunk(valid, p.cfg.Workers)
	if len(chunks) == 0 {
		return nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for range min(p.cfg.Workers, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1)) - 1
				if c >= len(chunks) {
					return
				}
				lo, hi := chunks[c][0], chunks[c][1]
				if err := p.runInputs(ctx, b.Tenant, &fn, valid[lo:hi], lo, p.cfg.DefaultTimeout, out); err != nil {
					errOnce.Do(func() {
						firstErr = err
						cancel()
					})
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// chunk splits inputs into [lo, hi) ranges, which the workers take in
// turn: each a 1/(2·workers) share of the inputs not yet in a chunk
// (guided scheduling). Large chunks come first, for few round trips to the
// workers, then smaller and smaller ones down to single inputs, so that
// the workers run out of work together instead of one running a long last
// chunk alone while the others idle (with 2 workers and equal chunks of
// an eighth, a 1,000-input batch of 10 ms calls lost about half a second
// so). None is over maxChunk inputs or (unless of one input)
// maxChunkBytes.
func chunk(inputs []exec.Input, workers int) [][2]int {
	n := len(inputs)
	share := 2 * max(workers, 1)
	var chunks [][2]int
	for lo := 0; lo < n; {
		size := min(max((n-lo+share-1)/share, 1), maxChunk)
		hi, bytes := lo, 0
		for hi < n && hi-lo < size {
			b := len(inputs[hi].Args) + len(inputs[hi].Kwargs) + 8
			if hi > lo && bytes+b > maxChunkBytes {
				break
			}
			bytes += b
			hi++
		}
		chunks = append(chunks, [2]int{lo, hi})
		lo = hi
	}
	return chunks
}

// runInputs runs inputs on workers of tenant and calls emit(base+i,
// result) for each. The inputs a dead worker left unrun go to a fresh one;
// when no worker can start for the tenant, they fail with the reason. It
// returns an error only when ctx ends or the pool closes.
func (p *Pool) runInputs(ctx context.Context, tenant string, fn *exec.Function, inputs []exec.Input, base int, timeout time.Duration, emit func(int, exec.Result)) error {
	unsent := 0
	for len(inputs) > 0 {
		w, err := p.acquire(ctx, tenant)
		if err != nil {
			return p.failStart(err, inputs, base, emit)
		}
		exec.Started(ctx)
		p.running.Add(1)
		done, f := w.run(ctx, fn, inputs, base, timeout, emit)
		p.running.Add(-1)
		if f == nil {
			p.release(w)
			return nil
		}
		p.retire(w, f)
		if p.closed.Load() {
			return exec.ErrClosed
		}
		switch f.kind {
		case failTainted:
			return nil
		case failContext:
			return exec.ContextError("exec/python: execute", f.err)
		case failUnsent:
			if unsent++; unsent <= maxUnsent {
				continue
			}
		}
		emit(base+done, f.result())
		done++
		inputs, base = inputs[done:], base+done
	}
	return nil
}

// failStart ends runInputs on an error of acquire: inputs fail with the
// reason no worker could start for them; other errors are returned.
func (p *Pool) failStart(err error, inputs []exec.Input, base int, emit func(int, exec.Result)) error {
	var sf *startFailure
	if !errors.As(err, &sf) {
		return err
	}
	kind := fault.KindOf(sf.err)
	if kind == fault.Internal {
		kind = fault.System
	}
	now := time.Now()
	for i := range inputs {
		emit(base+i, exec.Result{Error: &exec.TaskError{Kind: kind, Type: "WorkerStart", Message: sf.err.Error()}, Started: now, Finished: now})
	}
	return nil
}

// Warm compiles fn in Config.Workers workers of the endpoint's own tenant
// (""), so that no call of it by that tenant waits for compiling. It
// returns the error that loading fn raised, as a *exec.TaskError.
func (p *Pool) Warm(ctx context.Context, fn exec.Function) error {
	if err := ctx.Err(); err != nil {
		return exec.ContextError("exec/python: warm", err)
	}
	if err := checkFunction(&fn); err != nil {
		return err
	}
	if err := p.begin(); err != nil {
		return err
	}
	defer p.calls.Done()
	select {
	case p.warmSem <- struct{}{}:
	case <-ctx.Done():
		return exec.ContextError("exec/python: warm", ctx.Err())
	case <-p.done:
		return exec.ErrClosed
	}
	defer func() { <-p.warmSem }()

	var held []*worker // each worker once: held until all are warm
	defer func() {
		for _, w := range held {
			p.release(w)
		}
	}()
	for deaths := 0; len(held) < p.cfg.Workers; {
		w, err := p.acquire(ctx, "")
		var sf *startFailure
		if errors.As(err, &sf) {
			return sf.err
		}
		if err != nil {
			return err
		}
		te, f := w.load(ctx, &fn, p.cfg.DefaultTimeout)
		if f == nil {
			held = append(held, w)
			if te != nil {
				return te
			}
			continue
		}
		p.retire(w, f)
		switch {
		case p.closed.Load():
			return exec.ErrClosed
		case f.kind == failContext:
			return exec.ContextError("exec/python: warm", f.err)
		case f.kind == failTainted:
			continue
		}
		if deaths++; deaths > p.cfg.Workers {
			return fault.Wrap(fault.System, "exec/python: warm", f.task)
		}
	}
	return nil
}

// Stats reports the pool's load. Idle counts what a call of any tenant
// could have at once: free workers, and slots no worker holds.
func (p *Pool) Stats() exec.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return exec.Stats{
		Workers: p.cfg.Workers,
		Idle:    p.cfg.Workers - p.total + p.nidle,
		Running: int(p.running.Load()),
		Queued:  p.nwait,
	}
}

// Close kills every worker, makes running calls return exec.ErrClosed, and
// waits for them and for the pool's goroutines.
func (p *Pool) Close() error {
	p.closeOne.Do(func() {
		p.mu.Lock()
		p.closed.Store(true)
		live := make([]*worker, 0, len(p.workers))
		for w := range p.workers {
			live = append(live, w)
		}
		p.mu.Unlock()
		p.cancel()
		close(p.done)
		for _, w := range live {
			w.kill()
		}
		p.calls.Wait()
		p.wg.Wait()
		p.mu.Lock()
		var idle []*worker
		for _, ws := range p.idle {
			idle = append(idle, ws...)
		}
		clear(p.idle)
		p.nidle = 0
		p.mu.Unlock()
		for _, w := range idle {
			w.kill()
			w.reap()
		}
		p.log.Debug("python pool closed")
	})
	return nil
}

// begin admits a call, unless the pool is closed; the call ends with
// p.calls.Done().
func (p *Pool) begin() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return exec.ErrClosed
	}
	p.calls.Add(1)
	return nil
}

// startFailure is a worker that could not start for a tenant: the
// tenant's inputs fail with it.
type startFailure struct{ err error }

func (e *startFailure) Error() string { return e.err.Error() }
func (e *startFailure) Unwrap() error { return e.err }

// acquire takes a worker of tenant: a free one of its own; else a fresh
// one, in a free slot or in the slot of the longest idle worker of another
// tenant, which is killed (workers are never handed from one tenant to
// another); else it waits for what release and retire give it.
func (p *Pool) acquire(ctx context.Context, tenant string) (*worker, error) {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return nil, exec.ErrClosed
	}
	if ws := p.idle[tenant]; len(ws) > 0 {
		w := ws[len(ws)-1]
		ws[len(ws)-1] = nil
		if ws = ws[:len(ws)-1]; len(ws) == 0 {
			delete(p.idle, tenant)
		} else {
			p.idle[tenant] = ws
		}
		p.nidle--
		p.held[tenant]++
		p.mu.Unlock()
		return w, nil
	}
	var victim *worker
	switch {
	case p.total < p.cfg.Workers:
		p.total++
	case p.nidle > 0:
		victim = p.reclaimLocked()
	default:
		return p.wait(ctx, tenant) // unlocks
	}
	p.held[tenant]++
	p.mu.Unlock()
	if victim != nil {
		p.log.Debug("python worker reclaimed", "worker", victim.id, "from", victim.tenant, "for", tenant)
		victim.kill()
		victim.reap()
	}
	return p.start(ctx, tenant)
}

// wait queues a call of tenant until release or retire gives it a worker
// or a slot. Called with p.mu held; it unlocks it.
func (p *Pool) wait(ctx context.Context, tenant string) (*worker, error) {
	p.seq++
	wt := &waiter{tenant: tenant, seq: p.seq, ch: make(chan *worker, 1)}
	p.waiting[tenant] = append(p.waiting[tenant], wt)
	p.nwait++
	p.mu.Unlock()
	var err error
	select {
	case w := <-wt.ch:
		if w != nil {
			return w, nil
		}
		return p.start(ctx, tenant)
	case <-ctx.Done():
		err = exec.ContextError("exec/python: wait for a worker", ctx.Err())
	case <-p.done:
		err = exec.ErrClosed
	}
	p.mu.Lock()
	ws := p.waiting[tenant]
	for i, o := range ws {
		if o == wt {
			p.dequeueLocked(tenant, i)
			p.mu.Unlock()
			return nil, err
		}
	}
	p.mu.Unlock()
	// Given something as it gave up: give it back.
	if w := <-wt.ch; w != nil {
		p.release(w)
	} else {
		p.freeSlot(tenant)
	}
	return nil, err
}

// dequeueLocked removes the i'th waiter of tenant.
func (p *Pool) dequeueLocked(tenant string, i int) *waiter {
	ws := p.waiting[tenant]
	wt := ws[i]
	ws = append(ws[:i], ws[i+1:]...)
	if len(ws) == 0 {
		delete(p.waiting, tenant)
	} else {
		p.waiting[tenant] = ws
	}
	p.nwait--
	return wt
}

// nextLocked picks the tenant whose waiting call gets the next worker or
// slot: of the tenants waiting, the one whose calls hold the fewest
// workers; on a tie own (the tenant of the worker being freed), else the
// one whose first call has waited longest. So a tenant that holds every
// worker gives one up, as each of its tasks ends, to each other tenant
// that waits, until all hold about as many; and a tenant never loses a
// warm worker to one that holds as many as it.
func (p *Pool) nextLocked(own string) (string, bool) {
	best, found := "", false
	for t, ws := range p.waiting {
		switch {
		case !found:
		case p.held[t] < p.held[best]:
		case p.held[t] == p.held[best] && best != own && (t == own || ws[0].seq < p.waiting[best][0].seq):
		default:
			continue
		}
		best, found = t, true
	}
	return best, found
}

// reclaimLocked takes the longest idle worker out of the pool; the caller
// kills it and reuses its slot.
func (p *Pool) reclaimLocked() *worker {
	var oldest *worker
	for _, ws := range p.idle {
		if oldest == nil || ws[0].idleSince.Before(oldest.idleSince) {
			oldest = ws[0]
		}
	}
	ws := p.idle[oldest.tenant]
	if ws = ws[1:]; len(ws) == 0 {
		delete(p.idle, oldest.tenant)
	} else {
		p.idle[oldest.tenant] = ws
	}
	p.nidle--
	delete(p.workers, oldest)
	return oldest
}

// start starts a worker for tenant in a slot the caller took.
func (p *Pool) start(ctx context.Context, tenant string) (*worker, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()
	w, err := p.startWorker(ctx, tenant)
	if err != nil {
		p.freeSlot(tenant)
		switch {
		case p.closed.Load():
			return nil, exec.ErrClosed
		case ctx.Err() != nil:
			return nil, exec.ContextError("exec/python: start a worker", ctx.Err())
		}
		return nil, &startFailure{err}
	}
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		w.kill()
		w.reap()
		return nil, exec.ErrClosed
	}
	p.workers[w] = struct{}{}
	p.mu.Unlock()
	return w, nil
}

// freeSlot gives back a slot held for tenant that holds no worker.
func (p *Pool) freeSlot(tenant string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unholdLocked(tenant)
	p.total--
	p.grantSlotLocked()
}

func (p *Pool) unholdLocked(tenant string) {
	if p.held[tenant]--; p.held[tenant] <= 0 {
		delete(p.held, tenant)
	}
}

// grantSlotLocked gives a free slot to the next waiting call, if any.
func (p *Pool) grantSlotLocked() {
	if p.closed.Load() {
		return
	}
	if t, ok := p.nextLocked(""); ok {
		wt := p.dequeueLocked(t, 0)
		p.held[t]++
		p.total++
		wt.ch <- nil
	}
}

// putLocked gives a live worker that no call holds to the next waiting
// call: itself if the call is of its tenant, else its slot, and the worker
// is returned for the caller to kill. With no call waiting, the worker is
// idle.
func (p *Pool) putLocked(w *worker) (victim *worker) {
	t, ok := p.nextLocked(w.tenant)
	if !ok {
		w.idleSince = time.Now()
		p.idle[w.tenant] = append(p.idle[w.tenant], w)
		p.nidle++
		return nil
	}
	wt := p.dequeueLocked(t, 0)
	p.held[t]++
	if t == w.tenant {
		wt.ch <- w
		return nil
	}
	delete(p.workers, w)
	wt.ch <- nil
	return w
}

// release gives back a healthy worker.
func (p *Pool) release(w *worker) {
	p.mu.Lock()
	p.unholdLocked(w.tenant)
	if p.closed.Load() {
		p.mu.Unlock()
		w.kill()
		w.reap()
		return
	}
	victim := p.putLocked(w)
	p.mu.Unlock()
	if victim != nil {
		p.log.Debug("python worker reclaimed", "worker", victim.id, "from", victim.tenant)
		victim.kill()
		victim.reap()
	}
}

// retire forgets a dead worker whose holder gives it up. Its slot goes to
// a waiting call; with none, a replacement for its tenant starts in it.
func (p *Pool) retire(w *worker, f *failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.workers, w)
	p.unholdLocked(w.tenant)
	p.total--
	if p.closed.Load() {
		return
	}
	reason := "tainted by a cancelled context"
	if f.task != nil {
		reason = f.task.Message
	} else if f.err != nil {
		reason = f.err.Error()
	}
	p.log.Debug("python worker replaced", "worker", w.id, "pid", w.pid, "reason", reason)
	if p.nwait > 0 {
		p.grantSlotLocked()
		return
	}
	p.total++
	p.wg.Add(1)
	go p.replace(w.tenant)
}

// replace starts a worker for tenant in a slot taken for it, to replace a
// dead one. If it cannot, the slot is freed: the next call of the tenant
// tries again, and fails with the reason.
func (p *Pool) replace(tenant string) {
	defer p.wg.Done()
	w, err := p.startWorker(p.ctx, tenant)
	p.mu.Lock()
	if err != nil {
		p.total--
		p.grantSlotLocked()
		p.mu.Unlock()
		if p.ctx.Err() == nil {
			p.log.Error("python worker start failed", "err", err)
		}
		return
	}
	if p.closed.Load() {
		p.mu.Unlock()
		w.kill()
		w.reap()
		return
	}
	p.workers[w] = struct{}{}
	victim := p.putLocked(w)
	p.mu.Unlock()
	if victim != nil {
		victim.kill()
		victim.reap()
	}
}

// checkFunction refuses, as fault.Invalid, functions a pool cannot run.
func checkFunction(fn *exec.Function) error {
	if fn.Kind != exec.KindPython {
		return fault.E(fault.Invalid, "exec/python", "function kind %q, want %q", fn.Kind, exec.KindPython)
	}
	if !isIdentifier(fn.Entry) {
		return fault.E(fault.Invalid, "exec/python", "entry %q is not a Python identifier", fn.Entry)
	}
	return nil
}

// isIdentifier reports whether s is an ASCII Python identifier.
func isIdentifier(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}
