package pilot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// Defaults of Config's zero fields.
const (
	DefaultHeartbeat      = 2 * time.Second
	DefaultMissedBeats    = 3
	DefaultScalePeriod    = 2 * time.Second
	DefaultMaxIdle        = 2 * time.Minute
	DefaultMaxBlocks      = 1
	DefaultWorkersPerNode = 1
	// commandTimeout bounds each command of the provider.
	commandTimeout = 30 * time.Second
	// helloTimeout bounds the wait for an agent's hello.
	helloTimeout = 30 * time.Second
	// maxBackoff bounds the wait between submissions that keep failing.
	maxBackoff = time.Minute
)

// Config configures a Manager. Provider, Prefix, Dir and Prepare are
// required; the zero value of every other field is documented there.
type Config struct {
	// Provider submits, watches and cancels the blocks' jobs.
	Provider Provider
	// Prefix starts the name of every job of this manager, and of no
	// other endpoint's: at start, the jobs the provider lists with it are
	// the last run's, and are cancelled.
	Prefix string
	// Dir holds a directory per block (the job's script, output and
	// credential); it must exist.
	Dir string
	// Job is the template of every block's job: Nodes, CPUsPerNode,
	// Exclusive, Walltime, Partition, Account, QoS, Options, WorkerInit
	// and User. Name, Dir and Command are the manager's.
	Job Job
	// Launcher wraps the agent's command (see Launch).
	Launcher string
	// WorkersPerNode is how many tasks one node's agent runs at once; 0
	// means DefaultWorkersPerNode.
	WorkersPerNode int
	// InitBlocks are submitted at start; MinBlocks stay submitted when
	// idle; MaxBlocks bounds the blocks submitted at once (0 means
	// DefaultMaxBlocks).
	InitBlocks, MinBlocks, MaxBlocks int
	// MaxIdle is how long a block runs no task before it is cancelled
	// (while more than MinBlocks are up); 0 means DefaultMaxIdle.
	MaxIdle time.Duration
	// DrainPeriod is the end of a block's walltime in which it takes no
	// new task; 0 means none. Needs Job.Walltime.
	DrainPeriod time.Duration
	// Heartbeat is how often agents beat; an agent silent for MissedBeats
	// beats is lost, and with it its block. 0 means DefaultHeartbeat and
	// DefaultMissedBeats.
	Heartbeat   time.Duration
	MissedBeats int
	// ScalePeriod is how often the manager asks the provider for its
	// blocks' states and decides to submit or cancel; 0 means
	// DefaultScalePeriod. Work that finds no worker starts a decision at
	// once.
	ScalePeriod time.Duration
	// Limits bound results from agents; zero fields mean exec's defaults.
	Limits exec.Limits
	// Prepare makes a new block's credential before its job is
	// submitted: it writes what the agent needs into dir (the block's
	// own directory, mode 0700), readable by the job alone, never on a
	// command line, and says which identity the agent will present to
	// Attach and which command starts the agent. user is the local
	// account the job is submitted as (Job.User, from UserOf), "" for
	// the endpoint's own: the files must be that account's alone.
	Prepare func(name, dir, user string) (Credential, error)
	// UserOf maps a task's tenant to the local account that the blocks
	// running its work are submitted as (identity mapping): a tenant's
	// tasks run only on blocks of its account, and blocks of one account
	// serve no other. "" (and a nil UserOf) means the endpoint's own
	// blocks, submitted as Job.User. See Manager for how the blocks of
	// several accounts share MaxBlocks.
	UserOf func(tenant string) string
	// Logger receives the manager's events; nil discards them.
	Logger *slog.Logger
}

// Credential is what Prepare made for a block.
type Credential struct {
	// Identity is what the node will present to Attach for the block's
	// agents, once it has authenticated them (a peer ID).
	Identity string
	// Command is the shell command that starts the agent, run by the job
	// after its WorkerInit, wrapped in the launcher.
	Command string
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fault.E(fault.Invalid, "exec/pilot: config", format, args...)
	}
	switch {
	case c.Provider == nil:
		return bad("no provider")
	case c.Prefix == "" || strings.ContainsAny(c.Prefix, " \t\n/'\"$`\\"):
		return bad("job name prefix %q: empty, or with spaces, quotes or slashes", c.Prefix)
	case c.Dir == "":
		return bad("no directory for blocks")
	case c.Prepare == nil:
		return bad("no Prepare")
	case c.WorkersPerNode < 0 || c.WorkersPerNode > maxAgentWorkers:
		return bad("workers_per_node %d out of range [1, %d]", c.WorkersPerNode, maxAgentWorkers)
	case c.InitBlocks < 0 || c.MinBlocks < 0 || c.MaxBlocks < 0:
		return bad("init_blocks, min_blocks and max_blocks must not be negative")
	case c.MaxIdle < 0 || c.DrainPeriod < 0 || c.Heartbeat < 0 || c.MissedBeats < 0 || c.ScalePeriod < 0:
		return bad("negative duration")
	case c.Job.Nodes < 0 || c.Job.CPUsPerNode < 0:
		return bad("negative nodes or CPUs")
	}
	if _, err := Launch(c.Launcher, 1, "x"); err != nil {
		return fault.Wrap(fault.Invalid, "exec/pilot: config", err)
	}
	max := c.MaxBlocks
	if max == 0 {
		max = DefaultMaxBlocks
	}
	if c.MinBlocks > max || c.InitBlocks > max {
		return bad("min_blocks %d and init_blocks %d may not exceed max_blocks %d", c.MinBlocks, c.InitBlocks, max)
	}
	if c.Job.Walltime != "" {
		wt, err := ParseWalltime(c.Job.Walltime)
		if err != nil {
			return fault.Wrap(fault.Invalid, "exec/pilot: config", err)
		}
		if c.DrainPeriod >= wt {
			return bad("drain_period %v is not shorter than the walltime %s", c.DrainPeriod, c.Job.Walltime)
		}
	}
	return c.Limits.Validate()
}

func (c Config) withDefaults() Config {
	if c.WorkersPerNode == 0 {
		c.WorkersPerNode = DefaultWorkersPerNode
	}
	if c.MaxBlocks == 0 {
		c.MaxBlocks = DefaultMaxBlocks
	}
	if c.MaxIdle == 0 {
		c.MaxIdle = DefaultMaxIdle
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.MissedBeats == 0 {
		c.MissedBeats = DefaultMissedBeats
	}
	if c.ScalePeriod == 0 {
		c.ScalePeriod = DefaultScalePeriod
	}
	if c.Job.Nodes == 0 {
		c.Job.Nodes = 1
	}
	if c.Job.CPUsPerNode == 0 {
		c.Job.CPUsPerNode = c.WorkersPerNode
	}
	c.Limits = c.Limits.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ParseWalltime reads a scheduler's walltime: HH:MM:SS, MM:SS, or
// D-HH:MM:SS.
func ParseWalltime(s string) (time.Duration, error) {
	days := 0
	rest := s
	if d, r, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("walltime %q: not HH:MM:SS or D-HH:MM:SS", s)
		}
		days, rest = n, r
	}
	parts := strings.Split(rest, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("walltime %q: not HH:MM:SS or D-HH:MM:SS", s)
	}
	var total time.Duration
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (i > 0 && n > 59) || len(p) == 0 {
			return 0, fmt.Errorf("walltime %q: not HH:MM:SS or D-HH:MM:SS", s)
		}
		total = total*60 + time.Duration(n)
	}
	total = total*time.Second + time.Duration(days)*24*time.Hour
	if total <= 0 {
		return 0, fmt.Errorf("walltime %q is zero", s)
	}
	return total, nil
}

// The states of a block, as the manager sees it.
type blockState int

const (
	blockPending  blockState = iota // submitted; no agent yet
	blockRunning                    // an agent is connected and takes tasks
	blockDraining                   // takes no new task: near its walltime, or idle and being cancelled
	blockEnded                      // its job ended, or was cancelled
)

// block is one pilot job.
type block struct {
	name, dir, ident string
	jobID            string
	state            blockState
	job              JobStatus // as the provider last reported it
	nodes            int
	user             string // the account its job was submitted as; "" for the endpoint's own
	conns            int    // connections made with its credential
	agents           map[*agent]struct{}
	submitted        time.Time
	started          time.Time // its first agent connected
	lastBusy         time.Time // a task last ended or started on it
	cancelled        bool      // the manager cancelled its job
}

// agent is one connected agent of a block.
type agent struct {
	b        *block
	conn     io.ReadWriteCloser
	workers  int
	host     string
	runtime  string // its node's container runtime, "" for none
	ready    bool   // it said hello
	gone     bool
	running  map[uint64]*call
	served   map[string]bool // tenants it has run tasks of: their workers may be warm
	lastBeat time.Time

	outMu sync.Mutex // guards outq
	outq  []*message
	wake  chan struct{} // cap 1: outq has messages
	quit  chan struct{} // closed when the agent is gone
}

// call is one Execute.
type call struct {
	id        uint64
	task      exec.Task
	retries   int
	user      string // the account whose blocks run it (Config.UserOf)
	container bool   // its function runs in a container
	agent     *agent // where it runs; nil while queued
	started   func() // exec.StartedHook of its caller's context: called as it goes to an agent
	abandoned bool   // its caller left
	finished  bool
	done      chan outcome // cap 1
}

type outcome struct {
	r   exec.Result
	err error
}

// Manager is an exec.Executor that runs Python and shell tasks on blocks
// of a batch scheduler: it submits and cancels them through its Provider,
// and dispatches tasks to the agents the node attaches.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	done   chan struct{} // closed by Close: waiting calls return ErrClosed
	kick   chan struct{} // cap 1: decide on blocks now
	loop   sync.WaitGroup
	wg     sync.WaitGroup // agents' and losses' goroutines
	once   sync.Once
	run    string // this run's part of block names

	mu       sync.Mutex // guards the fields below
	closed   bool
	seq      uint64
	nblock   int
	queue    []*call
	blocks   map[string]*block // by name, until they end
	byIdent  map[string]*block
	problem  string    // why blocks keep failing; "" when they do not
	failures int       // submissions or starts failed in a row
	retryAt  time.Time // no submission before, after failures
	served   int       // tasks the blocks' agents answered
	noBoxes  bool      // the last agent to say hello had no container runtime, and no ready one has
}

var (
	_ exec.Executor = (*Manager)(nil)
	_ exec.Statser  = (*Manager)(nil)
	_ exec.Batcher  = (*Manager)(nil)
)

// New checks cfg, cancels the jobs an earlier run of the endpoint left
// (those the provider lists with cfg.Prefix), submits cfg.InitBlocks and
// starts deciding.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if st, err := os.Stat(cfg.Dir); err != nil || !st.IsDir() {
		return nil, fault.E(fault.Invalid, "exec/pilot: config", "block directory %s: not a directory", cfg.Dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), kick: make(chan struct{}, 1),
		run:    strconv.FormatInt(time.Now().Unix()%(1<<30), 36),
		blocks: map[string]*block{}, byIdent: map[string]*block{},
	}
	if err := m.cancelOrphans(); err != nil {
		cancel()
		return nil, err
	}
	// The directories of an earlier run's blocks hold keys no one will
	// use again.
	if old, err := filepath.Glob(filepath.Join(cfg.Dir, cfg.Prefix+"*")); err == nil {
		for _, d := range old {
			_ = os.RemoveAll(d)
		}
	}
	m.decide(true) // init_blocks and min_blocks, submitted before New returns
	m.loop.Add(1)
	go m.decideLoop()
	return m, nil
}

// cancelOrphans cancels the jobs of an earlier run of the endpoint.
func (m *Manager) cancelOrphans() error {
	ctx, cancel := context.WithTimeout(m.ctx, commandTimeout)
	defer cancel()
	jobs, err := m.cfg.Provider.Jobs(ctx, m.cfg.Prefix)
	if err != nil {
		return fmt.Errorf("exec/pilot: list the blocks of an earlier run: %w", err)
	}
	if len(jobs) == 0 {
		return nil
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	m.log.Info("cancelling the blocks of an earlier run", "jobs", ids)
	if err := m.cfg.Provider.Cancel(ctx, ids); err != nil {
		return fmt.Errorf("exec/pilot: cancel the blocks of an earlier run: %w", err)
	}
	return nil
}

// Execute queues t for a worker of a block's agent and waits for its
// result. A task whose block is lost fails as fault.System, naming the
// block's job and its state, unless t.Retries allows running it again.
func (m *Manager) Execute(ctx context.Context, t exec.Task) (exec.Result, error) {
	if err := ctx.Err(); err != nil {
		return exec.Result{}, exec.ContextError("exec/pilot: execute", err)
	}
	if err := checkTask(&t); err != nil {
		return exec.Result{}, err
	}
	c := &call{task: t, retries: max(0, t.Retries), container: t.Function.Container != "", started: exec.StartedHook(ctx), done: make(chan outcome, 1)}
	if m.cfg.UserOf != nil {
		c.user = m.cfg.UserOf(t.Tenant)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return exec.Result{}, exec.ErrClosed
	}
	if c.container && m.noBoxes {
		m.mu.Unlock()
		return exec.Result{}, ErrNoContainerRuntime
	}
	m.seq++
	c.id = m.seq
	m.queue = append(m.queue, c)
	m.dispatchLocked()
	short := c.agent == nil
	m.mu.Unlock()
	if short {
		m.kickNow()
	}
	select {
	case o := <-c.done:
		return o.r, o.err
	case <-ctx.Done():
		m.abandon(c)
		return exec.Result{}, exec.ContextError("exec/pilot: execute", ctx.Err())
	case <-m.done:
		return exec.Result{}, exec.ErrClosed
	}
}

// KindContainer is the key, in AgentConfig.Executors, of the executor
// that runs every function with a container image, whatever its kind.
const KindContainer exec.Kind = "container"

// ErrNoContainerRuntime is Execute's error for a function with a
// container image when the blocks' nodes have no container runtime: the
// last agent to connect said it has none, and no connected agent has one.
// The node runs such functions on a container executor of its own, where
// it has one.
var ErrNoContainerRuntime error = &fault.Error{Kind: fault.Unavailable,
	Err: errors.New("exec/pilot: the blocks' nodes have no container runtime (docker or podman) to run a function with a container image")}

// checkTask refuses, as fault.Invalid, a malformed task or one of a kind
// no agent runs.
func checkTask(t *exec.Task) error {
	if t.Function.Kind != exec.KindPython && t.Function.Kind != exec.KindShell {
		return fault.E(fault.Invalid, "exec/pilot", "function kind %q: blocks run python and shell", t.Function.Kind)
	}
	return t.Check()
}

// ExecuteBatch runs every input as a task of its own, all queued at once,
// so that the blocks scale to the whole batch.
func (m *Manager) ExecuteBatch(ctx context.Context, b exec.Batch, emit func(int, exec.Result)) error {
	if err := ctx.Err(); err != nil {
		return exec.ContextError("exec/pilot: execute batch", err)
	}
	if b.Function.Kind != exec.KindPython && b.Function.Kind != exec.KindShell {
		return fault.E(fault.Invalid, "exec/pilot", "function kind %q: blocks run python and shell", b.Function.Kind)
	}
	if m.isClosed() {
		return exec.ErrClosed
	}
	var (
		mu       sync.Mutex // serializes emit; guards firstErr
		firstErr error
		wg       sync.WaitGroup
	)
	for i, in := range b.Inputs {
		t := exec.Task{Tenant: b.Tenant, Function: b.Function, Args: in.Args, Kwargs: in.Kwargs, Retries: b.Retries}
		if err := in.Check(); err != nil {
			mu.Lock()
			emit(i, exec.Result{Error: &exec.TaskError{Kind: fault.Invalid, Message: err.Error()}})
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := m.Execute(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			if firstErr == nil {
				emit(i, r)
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// abandon forgets a call whose caller left: a queued one leaves the queue;
// a running one is cancelled at its agent, whose answer frees the worker.
func (m *Manager) abandon(c *call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c.abandoned = true
	if i := slices.Index(m.queue, c); i >= 0 {
		m.queue = slices.Delete(m.queue, i, i+1)
		return
	}
	if a := c.agent; a != nil && !a.gone {
		a.send(&message{Type: msgCancel, ID: c.id})
	}
}

// kickNow asks the decide loop for a decision now.
func (m *Manager) kickNow() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// dispatchLocked gives queued calls, first come first, to agents with a
// free worker that may run them: of a block of the call's account, with a
// container runtime for a function with a container image. A call that
// finds none keeps its place; later calls of other accounts go on.
func (m *Manager) dispatchLocked() {
	type class struct {
		user      string
		container bool
	}
	stuck := map[class]bool{} // found no agent in this pass
	kept := m.queue[:0]
	for i, c := range m.queue {
		k := class{c.user, c.container}
		var a *agent
		if !stuck[k] {
			a = m.pickLocked(c)
		}
		if a == nil {
			stuck[k] = true
			kept = append(kept, c)
			continue
		}
		m.queue[i] = nil
		c.agent = a
		a.running[c.id] = c
		c.started()
		a.served[c.task.Tenant] = true
		a.b.lastBusy = time.Now()
		a.send(&message{Type: msgTask, ID: c.id, Task: &c.task})
	}
	clear(m.queue[len(kept):])
	m.queue = kept
}

// pickLocked chooses an agent with a free worker for call c, of a block of
// c's account (and with a container runtime for a container function): one
// that served c's tenant before (its worker may be warm), else the one
// with the most free workers; nil if none is free.
func (m *Manager) pickLocked(c *call) *agent {
	var best *agent
	bestScore := 0
	for _, b := range m.blocks {
		if b.state != blockRunning || b.user != c.user {
			continue
		}
		for a := range b.agents {
			free := a.workers - len(a.running)
			if !a.ready || free <= 0 || c.container && a.runtime == "" {
				continue
			}
			score := free
			if a.served[c.task.Tenant] {
				score += maxAgentWorkers
			}
			if score > bestScore {
				best, bestScore = a, score
			}
		}
	}
	return best
}

// send queues m for the agent's writer.
func (a *agent) send(msg *message) {
	a.outMu.Lock()
	a.outq = append(a.outq, msg)
	a.outMu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Attach serves a block's agent on conn: identity is who the node has
// authenticated at the other end. It refuses, before reading anything,
// an identity that is no credential of a block this manager submitted and
// that has not ended, and a credential already in use (a block's agents
// may connect once per node). Once it returns nil the manager owns conn
// and closes it.
func (m *Manager) Attach(identity string, conn io.ReadWriteCloser) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.byIdent[identity]
	switch {
	case m.closed:
		return exec.ErrClosed
	case b == nil || b.state == blockEnded:
		return fault.E(fault.Denied, "exec/pilot", "%s holds no credential of a live block of this endpoint", identity)
	case b.conns >= b.nodes:
		return fault.E(fault.Denied, "exec/pilot", "the credential of block %s (job %s) is in use already", b.name, b.jobID)
	}
	b.conns++
	a := &agent{
		b: b, conn: conn, running: map[uint64]*call{}, served: map[string]bool{},
		lastBeat: time.Now(), wake: make(chan struct{}, 1), quit: make(chan struct{}),
	}
	b.agents[a] = struct{}{}
	m.wg.Add(2)
	go m.serveAgent(a)
	go m.writeAgent(a)
	return nil
}

// serveAgent reads what an agent sends until its connection ends.
func (m *Manager) serveAgent(a *agent) {
	defer m.wg.Done()
	r := bufio.NewReader(a.conn)
	limit := maxResultFrame(m.cfg.Limits)
	hello, err := readMessage(r, 4<<10)
	if err == nil && hello.Type != msgHello {
		err = fault.E(fault.Invalid, "exec/pilot", "agent spoke %q before hello", hello.Type)
	}
	if err != nil {
		m.agentGone(a, fmt.Sprintf("its agent failed to say hello: %v", err))
		return
	}
	m.mu.Lock()
	if !a.gone {
		a.workers, a.host, a.runtime, a.ready = min(hello.Workers, m.cfg.WorkersPerNode), hello.Host, hello.Runtime, true
		a.lastBeat = time.Now()
		m.noteRuntimeLocked(a)
		b := a.b
		if b.state == blockPending {
			b.state = blockRunning
			b.started, b.lastBusy = time.Now(), time.Now()
		}
		m.problem, m.failures = "", 0
		a.send(&message{Type: msgWelcome, Block: b.name, Beat: m.cfg.Heartbeat})
		m.log.Info("block agent connected", "block", b.name, "job", b.jobID, "user", b.user, "host", a.host, "workers", a.workers, "runtime", a.runtime)
		m.dispatchLocked()
	}
	m.mu.Unlock()
	for {
		msg, err := readMessage(r, limit)
		if err != nil {
			why := "its agent's connection closed"
			if !errors.Is(err, io.EOF) {
				why = fmt.Sprintf("its agent's connection broke: %v", err)
			}
			m.agentGone(a, why)
			return
		}
		m.mu.Lock()
		a.lastBeat = time.Now()
		switch msg.Type {
		case msgResult:
			c := a.running[msg.ID]
			if c == nil {
				break
			}
			delete(a.running, msg.ID)
			a.b.lastBusy = time.Now()
			m.served++
			o := outcome{}
			if msg.Err != nil {
				o.err = msg.Err.asError()
			} else {
				o.r = *msg.Result
			}
			if b := a.b; o.r.Error != nil && o.r.Error.Kind == fault.System && b.jobID != "" {
				// A worker that died as its job was cancelled or hit its
				// walltime (the scheduler signals every process of the
				// job, the worker may go before its agent) lost its block:
				// ask the scheduler before saying the worker crashed.
				m.mu.Unlock()
				st := m.settle(b)
				m.mu.Lock()
				if st.State.Ended() || st.State == Completing {
					// The whole block is lost, not only this call: end it
					// before the call is requeued, or dispatch could hand
					// the call straight back to the block's dying agents.
					if !a.gone && b.state != blockEnded {
						a.running[msg.ID] = c
						m.loseLocked(b, &st, "its worker died as the job ended", nil)
					} else {
						m.failLocked(b, []*call{c}, st, "its worker died as the job ended")
					}
					m.dispatchLocked()
					break
				}
			}
			m.finishLocked(c, o)
			m.dispatchLocked()
		case msgBeat:
		default:
			m.mu.Unlock()
			m.agentGone(a, fmt.Sprintf("its agent sent %q", msg.Type))
			return
		}
		m.mu.Unlock()
	}
}

// noteRuntimeLocked learns from agent a, which said hello, whether the
// blocks' nodes run containers: with no runtime on a's node and on no
// other ready agent's, the container functions queued fail with
// ErrNoContainerRuntime, and those to come are refused at once, until an
// agent with a runtime connects.
func (m *Manager) noteRuntimeLocked(a *agent) {
	if a.runtime != "" {
		m.noBoxes = false
		return
	}
	for _, b := range m.blocks {
		for o := range b.agents {
			if o.ready && o.runtime != "" {
				return
			}
		}
	}
	m.noBoxes = true
	kept := m.queue[:0]
	for _, c := range m.queue {
		if c.container {
			m.finishLocked(c, outcome{err: ErrNoContainerRuntime})
			continue
		}
		kept = append(kept, c)
	}
	clear(m.queue[len(kept):])
	m.queue = kept
}

// finishLocked hands a call its outcome, once.
func (m *Manager) finishLocked(c *call, o outcome) {
	if c.finished {
		return
	}
	c.finished = true
	c.done <- o
}

// writeAgent writes what is queued for an agent until it is gone.
func (m *Manager) writeAgent(a *agent) {
	defer m.wg.Done()
	w := bufio.NewWriter(a.conn)
	for {
		select {
		case <-a.quit:
			return
		case <-a.wake:
		}
		a.outMu.Lock()
		q := a.outq
		a.outq = nil
		a.outMu.Unlock()
		for _, msg := range q {
			if err := writeMessage(w, msg); err != nil {
				m.agentGone(a, fmt.Sprintf("its agent's connection broke: %v", err))
				return
			}
		}
	}
}

// agentGone forgets an agent whose connection ended or that fell silent;
// its block is lost with it.
func (m *Manager) agentGone(a *agent, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.gone {
		return
	}
	a.gone = true
	close(a.quit)
	_ = a.conn.Close()
	delete(a.b.agents, a)
	if m.closed {
		return
	}
	m.loseLocked(a.b, nil, why, a)
}

// loseLocked ends block b, lost while it served (its job ended, an agent
// went away or fell silent): every agent of it goes, its job is
// cancelled, and its calls go back to the queue as their retries allow or
// fail, naming the job and its scheduler state. With st nil the state is
// asked of the provider first, in the background.
func (m *Manager) loseLocked(b *block, st *JobStatus, why string, gone *agent) {
	if b.state == blockEnded {
		return
	}
	b.state = blockEnded
	delete(m.byIdent, b.ident)
	delete(m.blocks, b.name)
	var calls []*call
	collect := func(a *agent) {
		for _, c := range a.running {
			calls = append(calls, c)
		}
		a.running = map[uint64]*call{}
	}
	if gone != nil {
		collect(gone)
	}
	for a := range b.agents {
		collect(a)
		a.gone = true
		close(a.quit)
		_ = a.conn.Close()
	}
	b.agents = map[*agent]struct{}{}
	if st != nil {
		m.failLocked(b, calls, *st, why)
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		s := m.settle(b)
		if !b.cancelled && !s.State.Ended() {
			m.cancelJobs([]string{b.jobID})
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.failLocked(b, calls, s, why)
	}()
}

// settle asks the provider for the state of a lost block's job, for a
// little while, until it says the job ended.
func (m *Manager) settle(b *block) JobStatus {
	st := JobStatus{ID: b.jobID, Name: b.name, State: Unknown, Raw: "UNKNOWN"}
	deadline := time.Now().Add(min(2*time.Second, m.cfg.Heartbeat))
	for b.jobID != "" {
		ctx, cancel := context.WithTimeout(m.ctx, commandTimeout)
		got, err := m.cfg.Provider.Status(ctx, []string{b.jobID})
		cancel()
		if s, ok := got[b.jobID]; err == nil && ok {
			st = s
		}
		if st.State.Ended() || time.Now().After(deadline) || m.ctx.Err() != nil {
			break
		}
		select {
		case <-m.ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return st
}

// failLocked requeues, or fails, the calls a lost block ran.
func (m *Manager) failLocked(b *block, calls []*call, st JobStatus, why string) {
	msg := lostMessage(b, st, why)
	if b.cancelled && len(calls) == 0 {
		m.log.Info("block ended", "block", b.name, "job", b.jobID, "state", st.Raw)
		return
	}
	m.log.Warn("block lost", "block", b.name, "job", b.jobID, "state", st.Raw, "why", why, "tasks", len(calls))
	var requeue []*call
	for _, c := range calls {
		if c.abandoned || c.finished {
			continue
		}
		if c.retries > 0 {
			c.retries--
			c.agent = nil
			requeue = append(requeue, c)
			continue
		}
		now := time.Now()
		m.finishLocked(c, outcome{r: exec.Result{
			Error:   &exec.TaskError{Kind: fault.System, Message: msg},
			Started: now, Finished: now,
		}})
	}
	if len(requeue) > 0 && !m.closed {
		m.queue = append(requeue, m.queue...)
		m.dispatchLocked()
		m.kickNow()
	}
}

// lostMessage says how a block was lost: "block lost: job 123 CANCELLED".
func lostMessage(b *block, st JobStatus, why string) string {
	raw := st.Raw
	if raw == "" {
		raw = strings.ToUpper(string(st.State))
	}
	s := fmt.Sprintf("block lost: job %s %s", b.jobID, raw)
	if st.Reason != "" {
		s += " (" + st.Reason + ")"
	}
	if why != "" {
		s += ": " + why
	}
	return s
}

// cancelJobs cancels jobs, logging what fails.
func (m *Manager) cancelJobs(ids []string) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if err := m.cfg.Provider.Cancel(ctx, ids); err != nil {
		m.log.Warn("cancel blocks", "jobs", ids, "err", err)
	}
}

// decideLoop keeps the blocks: it follows their states, drops silent
// agents, submits and cancels.
func (m *Manager) decideLoop() {
	defer m.loop.Done()
	scale := time.NewTicker(m.cfg.ScalePeriod)
	defer scale.Stop()
	beat := time.NewTicker(max(m.cfg.Heartbeat/2, 10*time.Millisecond))
	defer beat.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-beat.C:
			m.checkBeats()
			continue
		case <-scale.C:
		case <-m.kick:
		}
		m.refresh()
		m.decide(false)
	}
}

// checkBeats drops agents silent for MissedBeats heartbeats.
func (m *Manager) checkBeats() {
	limit := m.cfg.Heartbeat * time.Duration(m.cfg.MissedBeats)
	m.mu.Lock()
	var silent []*agent
	for _, b := range m.blocks {
		for a := range b.agents {
			if time.Since(a.lastBeat) > limit && (a.ready || time.Since(a.lastBeat) > helloTimeout) {
				silent = append(silent, a)
			}
		}
	}
	m.mu.Unlock()
	for _, a := range silent {
		m.agentGone(a, fmt.Sprintf("its agent sent no heartbeat for %v", limit))
	}
}

// refresh asks the provider for the state of every block's job.
func (m *Manager) refresh() {
	m.mu.Lock()
	var ids []string
	for _, b := range m.blocks {
		if b.jobID != "" {
			ids = append(ids, b.jobID)
		}
	}
	m.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, commandTimeout)
	sts, err := m.cfg.Provider.Status(ctx, ids)
	cancel()
	if err != nil {
		m.log.Warn("block states", "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.blocks {
		st, ok := sts[b.jobID]
		if !ok || b.jobID == "" {
			continue
		}
		b.job = st
		if !st.State.Ended() {
			continue
		}
		switch {
		case len(b.agents) > 0 || b.state == blockRunning || b.state == blockDraining:
			m.loseLocked(b, &st, "", nil)
		default:
			b.state = blockEnded
			delete(m.byIdent, b.ident)
			delete(m.blocks, b.name)
			if !b.cancelled {
				m.noteFailureLocked(fmt.Sprintf("block job %s ended before its agent connected: %s%s%s",
					b.jobID, st.Raw, reasonOf(st), tailOf(filepath.Join(b.dir, ErrFile))))
			}
		}
	}
}

func reasonOf(st JobStatus) string {
	if st.Reason == "" {
		return ""
	}
	return " (" + st.Reason + ")"
}

// tailOf is the last line of a job's error file, for messages: ": LINE".
func tailOf(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[len(s)-300:]
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// noteFailureLocked records that a block failed to submit or to start:
// the endpoint's error state, until an agent connects.
func (m *Manager) noteFailureLocked(why string) {
	m.failures++
	m.problem = why
	backoff := m.cfg.ScalePeriod << min(m.failures-1, 10)
	m.retryAt = time.Now().Add(min(backoff, maxBackoff))
	m.log.Warn("block failed", "why", why, "failures", m.failures)
}

// decide drains, cancels and submits blocks, for each account apart
// (Config.UserOf): the blocks of an account serve its work alone.
//
// An account's blocks start when its queued work exceeds its idle and
// expected workers; MaxBlocks bounds the blocks of every account together,
// and within it the accounts whose work has waited longest come first.
// MinBlocks and InitBlocks are the endpoint's own blocks (account ""); a
// mapped user's blocks start from none. A block idle for MaxIdle is
// cancelled; so is, at once, an idle block of an account with no work
// queued while the work of another waits for want of room under
// MaxBlocks.
func (m *Manager) decide(first bool) {
	now := time.Now()
	wpb := m.cfg.WorkersPerNode * m.cfg.Job.Nodes
	walltime, _ := ParseWalltime(m.cfg.Job.Walltime)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	type account struct {
		queued, capacity, live int
		order                  int // where its first queued call is
	}
	accounts := map[string]*account{}
	acct := func(user string) *account {
		a := accounts[user]
		if a == nil {
			a = &account{order: len(m.queue)}
			accounts[user] = a
		}
		return a
	}
	for i, c := range m.queue {
		a := acct(c.user)
		if a.queued == 0 {
			a.order = i
		}
		a.queued++
	}
	live := 0
	busy := map[*block]int{}
	for _, b := range m.blocks {
		if b.cancelled {
			continue
		}
		live++
		a := acct(b.user)
		a.live++
		for ag := range b.agents {
			busy[b] += len(ag.running)
		}
		if b.state == blockRunning && walltime > 0 && m.cfg.DrainPeriod > 0 && now.After(b.started.Add(walltime-m.cfg.DrainPeriod)) {
			b.state = blockDraining
			m.log.Info("block draining before its walltime", "block", b.name, "job", b.jobID)
		}
		switch b.state {
		case blockPending:
			a.capacity += wpb
		case blockRunning:
			for ag := range b.agents {
				a.capacity += ag.workers - len(ag.running)
			}
		}
	}
	starved := false // work waits that only room under MaxBlocks would serve
	for _, a := range accounts {
		if a.queued > a.capacity && live >= m.cfg.MaxBlocks {
			starved = true
		}
	}
	var cancel []string
	for _, b := range m.blocks {
		if b.cancelled || busy[b] > 0 {
			continue
		}
		a := accounts[b.user]
		if a.queued > 0 && b.state != blockDraining {
			continue
		}
		floor := 0
		if b.user == "" {
			floor = m.cfg.MinBlocks
		}
		idle := b.state == blockRunning && (now.Sub(b.lastBusy) >= m.cfg.MaxIdle || starved)
		if b.state == blockDraining || idle && a.live > floor {
			b.cancelled = true
			b.state = blockDraining
			a.live--
			live--
			cancel = append(cancel, b.jobID)
		}
	}
	acct("") // the endpoint's own blocks keep their floor
	type wanted struct {
		user  string
		n     int
		order int
	}
	var wants []wanted
	for user, a := range accounts {
		n := 0
		if need := a.queued - a.capacity; need > 0 {
			n = (need + wpb - 1) / wpb
		}
		if user == "" {
			floor := m.cfg.MinBlocks
			if first {
				floor = max(floor, m.cfg.InitBlocks)
			}
			n = max(n, floor-a.live)
		}
		if n > 0 {
			wants = append(wants, wanted{user, n, a.order})
		}
	}
	// A block each, in the order their work came, then a second each…:
	// one account's burst does not take all the room from the others.
	slices.SortFunc(wants, func(x, y wanted) int { return x.order - y.order })
	var submit []string
	for room := m.cfg.MaxBlocks - live; room > 0 && len(wants) > 0; {
		next := wants[:0]
		for _, w := range wants {
			if room == 0 {
				break
			}
			submit = append(submit, w.user)
			room--
			if w.n--; w.n > 0 {
				next = append(next, w)
			}
		}
		wants = next
	}
	if now.Before(m.retryAt) {
		submit = nil
	}
	m.mu.Unlock()
	if len(cancel) > 0 {
		m.log.Info("cancelling idle blocks", "jobs", cancel)
		m.cancelJobs(cancel)
	}
	for _, user := range submit {
		if err := m.submit(user); err != nil {
			if m.ctx.Err() != nil {
				return
			}
			m.mu.Lock()
			m.noteFailureLocked(err.Error())
			var pe *prepareError
			if user != "" && errors.As(err, &pe) {
				m.failUserLocked(user, err)
			}
			m.mu.Unlock()
			return
		}
	}
}

// prepareError is a failure of Config.Prepare: of the node, not the
// scheduler, and the same at every try (an account that may not reach
// its block's directory).
type prepareError struct{ err error }

func (e *prepareError) Error() string { return e.err.Error() }
func (e *prepareError) Unwrap() error { return e.err }

// failUserLocked fails the queued calls of account user, whose blocks
// cannot be made: they would wait for none.
func (m *Manager) failUserLocked(user string, err error) {
	msg := fmt.Sprintf("no block can be submitted as account %s: %v", user, err)
	kept := m.queue[:0]
	for _, c := range m.queue {
		if c.user != user {
			kept = append(kept, c)
			continue
		}
		now := time.Now()
		m.finishLocked(c, outcome{r: exec.Result{
			Error:   &exec.TaskError{Kind: fault.System, Message: msg},
			Started: now, Finished: now,
		}})
	}
	clear(m.queue[len(kept):])
	m.queue = kept
}

// submit makes a block's directory and credential and submits its job,
// as account user ("" for the endpoint's own, Job.User).
func (m *Manager) submit(user string) error {
	m.mu.Lock()
	m.nblock++
	name := fmt.Sprintf("%s%s-%d", m.cfg.Prefix, m.run, m.nblock)
	m.mu.Unlock()
	dir := filepath.Join(m.cfg.Dir, name)
	_ = os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("block %s: %w", name, err)
	}
	job := m.cfg.Job
	if user != "" {
		job.User = user
	}
	cred, err := m.cfg.Prepare(name, dir, job.User)
	if err != nil {
		return &prepareError{fmt.Errorf("block %s: credential: %w", name, err)}
	}
	cmd, err := Launch(m.cfg.Launcher, m.cfg.Job.Nodes, cred.Command)
	if err != nil {
		return err
	}
	job.Name, job.Dir, job.Command = name, dir, cmd
	b := &block{
		name: name, dir: dir, ident: cred.Identity, nodes: job.Nodes, user: user,
		agents: map[*agent]struct{}{}, submitted: time.Now(),
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return exec.ErrClosed
	}
	// Known before the job runs: its agent may connect before Submit
	// returns.
	m.blocks[name] = b
	m.byIdent[b.ident] = b
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(m.ctx, commandTimeout)
	id, err := m.cfg.Provider.Submit(ctx, job)
	cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		delete(m.blocks, name)
		delete(m.byIdent, b.ident)
		for a := range b.agents {
			a.gone = true
			close(a.quit)
			_ = a.conn.Close()
		}
		return fmt.Errorf("submit block: %w", err)
	}
	b.jobID = id
	m.log.Info("block submitted", "block", name, "job", id, "user", job.User)
	return nil
}

// Stats reports the blocks' workers: those of connected agents that take
// tasks, and those of blocks still pending, which will.
func (m *Manager) Stats() exec.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st exec.Stats
	wpb := m.cfg.WorkersPerNode * m.cfg.Job.Nodes
	for _, b := range m.blocks {
		switch b.state {
		case blockPending:
			if !b.cancelled {
				st.Workers += wpb
				st.Idle += wpb
			}
		case blockRunning, blockDraining:
			for a := range b.agents {
				st.Running += len(a.running)
				if b.state == blockRunning && a.ready {
					st.Workers += a.workers
					st.Idle += max(0, a.workers-len(a.running))
				}
			}
		}
	}
	st.Queued = len(m.queue)
	return st
}

// Summary is the state of an endpoint's blocks, for its record.
type Summary struct {
	Provider  string // Provider.Name()
	Partition string // the partition (queue) blocks are submitted to; "" for the default
	Pending   int    // blocks submitted whose agent has not connected
	Running   int    // blocks whose agents take tasks
	Draining  int    // blocks that take no new task
	Workers   int    // workers of connected agents
	// Users are the blocks (pending, running or draining) submitted as
	// each mapped user's account, by account; nil when there are none.
	Users map[string]int
	// Served counts the tasks that the blocks' agents have answered.
	Served int
	// Error is why blocks keep failing to submit or to start, with the
	// scheduler's message; "" when they do not.
	Error string
}

// Summary reports the blocks.
func (m *Manager) Summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Summary{Provider: m.cfg.Provider.Name(), Partition: m.cfg.Job.Partition, Error: m.problem, Served: m.served}
	for _, b := range m.blocks {
		if b.user != "" && b.state != blockEnded {
			if s.Users == nil {
				s.Users = map[string]int{}
			}
			s.Users[b.user]++
		}
		switch b.state {
		case blockPending:
			s.Pending++
		case blockRunning:
			s.Running++
		case blockDraining:
			s.Draining++
		}
		for a := range b.agents {
			if a.ready {
				s.Workers += a.workers
			}
		}
	}
	return s
}

// Close stops deciding, makes waiting calls return exec.ErrClosed, closes
// every agent's connection, cancels every block's job and waits for its
// goroutines. It is idempotent.
func (m *Manager) Close() error {
	m.once.Do(func() {
		m.cancel()
		m.loop.Wait() // no submission after this
		m.mu.Lock()
		m.closed = true
		close(m.done)
		var ids []string
		for _, b := range m.blocks {
			if b.jobID != "" {
				ids = append(ids, b.jobID)
			}
			for a := range b.agents {
				a.gone = true
				close(a.quit)
				_ = a.conn.Close()
			}
			b.agents = nil
			b.state = blockEnded
		}
		m.blocks, m.byIdent, m.queue = map[string]*block{}, map[string]*block{}, nil
		m.mu.Unlock()
		m.cancelJobs(ids)
		m.wg.Wait()
	})
	return nil
}
