package python

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	osexec "os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/exec"
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
	chunksPerWorker        = 4
	minPython, minorPython = 3, 8
)

// Config configures a Pool. The zero value is ready to use.
type Config struct {
	// Python is the interpreter: a path, or a name looked up in PATH; ""
	// means DefaultPython. New resolves it once, by running it, to the
	// executable it reports as sys.executable, so that wrappers such as
	// pyenv's shims (tens of milliseconds each) run once, not per worker.
	Python string
	// Workers is how many worker processes, and so tasks, run at once; 0
	// means runtime.NumCPU().
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
	Dir string
	// Env is the workers' environment; nil means this process's.
	Env []string
	// Logger receives the pool's events; nil discards them.
	Logger *slog.Logger
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

// Pool runs Python functions on a fixed number of warm worker processes.
type Pool struct {
	cfg      Config
	python   string // the resolved interpreter
	log      *slog.Logger
	ctx      context.Context // ends at Close; bounds worker starts
	cancel   context.CancelFunc
	idle     chan *worker  // free workers; capacity cfg.Workers
	done     chan struct{} // closed by Close
	warmSem  chan struct{} // one Warm at a time: it holds every worker
	closed   atomic.Bool   // set under mu
	calls    sync.WaitGroup
	wg       sync.WaitGroup // replace goroutines
	running  atomic.Int64
	queued   atomic.Int64
	nextID   atomic.Int64
	closeOne sync.Once

	mu      sync.Mutex           // guards workers, and orders closed with calls.Add and wg.Add
	workers map[*worker]struct{} // every live worker, idle or busy
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
		idle:    make(chan *worker, cfg.Workers),
		done:    make(chan struct{}),
		warmSem: make(chan struct{}, 1),
		workers: make(map[*worker]struct{}, cfg.Workers),
	}
	python, err := resolvePython(ctx, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	p.python = python
	type started struct {
		w   *worker
		err error
	}
	ch := make(chan started, cfg.Workers)
	for range cfg.Workers {
		go func() {
			w, err := p.startWorker(ctx)
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
		p.idle <- s.w
	}
	if firstErr != nil {
		p.Close()
		return nil, firstErr
	}
	p.log.Debug("python pool started", "python", python, "workers", cfg.Workers)
	return p, nil
}

// Python returns the interpreter the workers run.
func (p *Pool) Python() string { return p.python }

// resolvePython finds the interpreter and asks it for its real path and
// version.
func resolvePython(ctx context.Context, cfg Config) (string, error) {
	path, err := osexec.LookPath(cfg.Python)
	if err != nil {
		return "", fault.Wrap(fault.Invalid, "exec/python: find interpreter", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, path, "-c",
		"import sys; sys.stdout.write('%d.%d\\n%s' % (sys.version_info[0], sys.version_info[1], sys.executable or ''))")
	cmd.Dir = cfg.Dir
	cmd.Env = cfg.Env
	var stderr exec.OutputBuffer
	stderr.Max = 4 << 10
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("exec/python: run %s: %w%s", path, err, quote(stderr.String()))
	}
	version, real, _ := strings.Cut(string(out), "\n")
	major, minor, _ := strings.Cut(version, ".")
	if ma, _ := strconv.Atoi(major); ma < minPython || ma == minPython && atoi(minor) < minorPython {
		return "", fault.E(fault.Invalid, "exec/python: interpreter", "%s is python %s; %d.%d or later needed", path, version, minPython, minorPython)
	}
	if st, err := os.Stat(real); real == "" || err != nil || st.IsDir() {
		return path, nil // no sys.executable (embedded interpreters): keep what ran
	}
	return real, nil
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
	err := p.runInputs(ctx, &t.Function, in[:], 0, timeout, s.emit)
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
				if err := p.runInputs(ctx, &fn, valid[lo:hi], lo, p.cfg.DefaultTimeout, out); err != nil {
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

// chunk splits inputs into [lo, hi) ranges: about chunksPerWorker per
// worker, none over maxChunk inputs or (unless of one input) maxChunkBytes.
func chunk(inputs []exec.Input, workers int) [][2]int {
	n := len(inputs)
	size := min(max((n+workers*chunksPerWorker-1)/(workers*chunksPerWorker), 1), maxChunk)
	var chunks [][2]int
	lo, bytes := 0, 0
	for i, in := range inputs {
		b := len(in.Args) + len(in.Kwargs) + 8
		if i > lo && (i-lo == size || bytes+b > maxChunkBytes) {
			chunks = append(chunks, [2]int{lo, i})
			lo, bytes = i, 0
		}
		bytes += b
	}
	if lo < n {
		chunks = append(chunks, [2]int{lo, n})
	}
	return chunks
}

// runInputs runs inputs on workers and calls emit(base+i, result) for each.
// The inputs a dead worker left unrun go to a fresh one. It returns an
// error only when ctx ends or the pool closes.
func (p *Pool) runInputs(ctx context.Context, fn *exec.Function, inputs []exec.Input, base int, timeout time.Duration, emit func(int, exec.Result)) error {
	unsent := 0
	for len(inputs) > 0 {
		w, err := p.acquire(ctx)
		if err != nil {
			return err
		}
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

// Warm compiles fn in every worker, so that no call of it waits for
// compiling. It returns the error that loading fn raised, as a
// *exec.TaskError.
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
		w, err := p.acquire(ctx)
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

// Stats reports the pool's load.
func (p *Pool) Stats() exec.Stats {
	return exec.Stats{
		Workers: p.cfg.Workers,
		Idle:    len(p.idle),
		Running: int(p.running.Load()),
		Queued:  int(p.queued.Load()),
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
		for {
			select {
			case w := <-p.idle:
				w.kill()
				w.reap()
			default:
				p.log.Debug("python pool closed")
				return
			}
		}
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

// acquire takes a free worker, waiting for one.
func (p *Pool) acquire(ctx context.Context) (*worker, error) {
	select {
	case w := <-p.idle:
		return w, nil
	default:
	}
	p.queued.Add(1)
	defer p.queued.Add(-1)
	select {
	case w := <-p.idle:
		return w, nil
	case <-ctx.Done():
		return nil, exec.ContextError("exec/python: wait for a worker", ctx.Err())
	case <-p.done:
		return nil, exec.ErrClosed
	}
}

// release returns a healthy worker to the idle channel.
func (p *Pool) release(w *worker) {
	if p.closed.Load() {
		w.kill()
		w.reap()
		return
	}
	p.idle <- w // never blocks: there are never more workers than room
}

// retire forgets a dead worker and starts its replacement.
func (p *Pool) retire(w *worker, f *failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.workers, w)
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
	p.wg.Add(1)
	go p.replace()
}

// replace starts a worker to replace a dead one, retrying with backoff
// until it succeeds or the pool closes.
func (p *Pool) replace() {
	defer p.wg.Done()
	delay := 50 * time.Millisecond
	for {
		w, err := p.startWorker(p.ctx)
		if err == nil {
			p.mu.Lock()
			if p.closed.Load() {
				p.mu.Unlock()
				w.kill()
				w.reap()
				return
			}
			p.workers[w] = struct{}{}
			p.mu.Unlock()
			p.idle <- w
			return
		}
		if p.ctx.Err() != nil {
			return
		}
		p.log.Error("python worker start failed", "err", err, "retry_in", delay)
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
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
