package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	osexec "os/exec"
	"runtime"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/internal/gate"
	"github.com/fxmesh/fxmesh/exec/internal/proc"
	"github.com/fxmesh/fxmesh/exec/tenant"
	"github.com/fxmesh/fxmesh/fault"
)

// Defaults of Config's zero fields.
const (
	DefaultTimeout = 10 * time.Minute
	maxWorkers     = 4096
	// waitDelay bounds how long a finished command's output may stay open
	// (held by a process that left its group).
	waitDelay = time.Second
)

// Config configures an Executor. The zero value is ready to use.
type Config struct {
	// WorkDir is where each task's fresh working directory is made; ""
	// means os.TempDir().
	WorkDir string
	// Workers is how many commands run at once; more wait. 0 means
	// runtime.NumCPU().
	Workers int
	// DefaultTimeout is the walltime of tasks without their own; 0 means
	// DefaultTimeout.
	DefaultTimeout time.Duration
	// Limits bound what commands produce; zero fields mean exec's
	// defaults. Value holds the output too, so it counts against
	// MaxResultBytes.
	Limits exec.Limits
	// Env is the commands' environment; nil means this process's.
	Env []string
	// Logger receives the executor's events; nil discards them.
	Logger *slog.Logger
	// Tenants, when not nil, runs each tenant's commands as the tenant:
	// with its uid, gid and groups, in a fresh directory inside its
	// working directory, with HOME that directory (see the package
	// documentation). Share one Table among an endpoint's executors, so
	// that a tenant has the same uid and directory in all of them.
	Tenants *tenant.Table
}

func (c Config) validate() error {
	switch {
	case c.Workers < 0 || c.Workers > maxWorkers:
		return fault.E(fault.Invalid, "exec/shell: config", "workers %d out of range [0, %d]", c.Workers, maxWorkers)
	case c.DefaultTimeout < 0:
		return fault.E(fault.Invalid, "exec/shell: config", "negative default timeout %v", c.DefaultTimeout)
	}
	return c.Limits.Validate()
}

func (c Config) withDefaults() Config {
	if c.WorkDir == "" {
		c.WorkDir = os.TempDir()
	}
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = DefaultTimeout
	}
	c.Limits = c.Limits.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Executor runs command templates, each in a fresh directory, without a
// shell.
type Executor struct {
	cfg     Config
	log     *slog.Logger
	gate    *gate.Gate // closed under mu
	closeMu sync.Once

	mu      sync.Mutex       // guards running, and orders the gate's closing with starts
	running map[int]struct{} // process groups of running commands
}

var (
	_ exec.Executor = (*Executor)(nil)
	_ exec.Statser  = (*Executor)(nil)
)

// New checks cfg and returns an executor. WorkDir must exist.
func New(cfg Config) (*Executor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if st, err := os.Stat(cfg.WorkDir); err != nil || !st.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, fault.E(fault.Invalid, "exec/shell: config", "work dir %s: %w", cfg.WorkDir, err)
	}
	return &Executor{
		cfg:     cfg,
		log:     cfg.Logger,
		gate:    gate.New(cfg.Workers),
		running: make(map[int]struct{}),
	}, nil
}

// output is a command's Result.Value.
type output struct {
	ReturnCode int    `json:"returncode"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
}

// Execute expands t's template with its kwargs and runs the command.
func (e *Executor) Execute(ctx context.Context, t exec.Task) (exec.Result, error) {
	if err := ctx.Err(); err != nil {
		return exec.Result{}, exec.ContextError("exec/shell: execute", err)
	}
	if t.Function.Kind != exec.KindShell {
		return exec.Result{}, fault.E(fault.Invalid, "exec/shell", "function kind %q, want %q", t.Function.Kind, exec.KindShell)
	}
	if err := t.Check(); err != nil {
		return exec.Result{}, err
	}
	if err := e.gate.Begin(); err != nil {
		return exec.Result{}, err
	}
	defer e.gate.End()

	argv, err := command(t)
	var id tenant.Identity
	if err == nil {
		id, err = e.cfg.Tenants.Identity(t.Tenant)
	}
	if err != nil {
		now := time.Now()
		return exec.Result{Error: &exec.TaskError{Kind: fault.KindOf(err), Message: err.Error()}, Started: now, Finished: now}, nil
	}
	if err := e.gate.Acquire(ctx, "exec/shell: wait for a slot"); err != nil {
		return exec.Result{}, err
	}
	defer e.gate.Release()
	timeout := t.Timeout
	if timeout == 0 {
		timeout = e.cfg.DefaultTimeout
	}
	return e.run(ctx, argv, timeout, id)
}

// command returns the argv a task runs.
func command(t exec.Task) ([]string, error) {
	tmpl, err := Parse(t.Function.Command)
	if err != nil {
		return nil, err
	}
	if !exec.IsEmptyJSON(t.Args) {
		var args []json.RawMessage
		if json.Unmarshal(t.Args, &args) == nil && len(args) > 0 {
			return nil, fault.E(fault.Invalid, "exec/shell", "commands take keyword arguments only, not %d positional ones", len(args))
		}
	}
	values := map[string]string{}
	if !exec.IsEmptyJSON(t.Kwargs) {
		if values, err = Values(t.Kwargs); err != nil {
			return nil, err
		}
	}
	return tmpl.Expand(values)
}

// run runs argv in a fresh directory, as id.
func (e *Executor) run(ctx context.Context, argv []string, timeout time.Duration, id tenant.Identity) (exec.Result, error) {
	started := time.Now()
	failed := func(kind fault.Kind, typ, msg string) (exec.Result, error) {
		return exec.Result{Error: &exec.TaskError{Kind: kind, Type: typ, Message: msg}, Started: started, Finished: time.Now()}, nil
	}
	parent := e.cfg.WorkDir
	if id.Dir != "" {
		parent = id.Dir
	}
	dir, err := os.MkdirTemp(parent, "fxmesh-task-")
	if err != nil {
		return failed(fault.System, "", fmt.Sprintf("make a working directory: %v", err))
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			e.log.Warn("remove task directory", "dir", dir, "err", err)
		}
	}()
	if id.Cred != nil {
		if err := os.Lchown(dir, int(id.Cred.UID), int(id.Cred.GID)); err != nil {
			return failed(fault.System, "", fmt.Sprintf("give the working directory to uid %d: %v", id.Cred.UID, err))
		}
	}

	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stdout := &exec.OutputBuffer{Max: e.cfg.Limits.MaxOutputBytes}
	stderr := &exec.OutputBuffer{Max: e.cfg.Limits.MaxOutputBytes}
	path, err := lookPath(argv[0])
	if err != nil {
		return failed(fault.User, "StartError", "exec: "+err.Error())
	}
	cmd := osexec.CommandContext(tctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Dir = dir
	cmd.Env = withPATH(e.cfg.Env)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = proc.SysProcAttr()
	if id.Dir != "" {
		cmd.Env = append(withPATH(tenant.Env(e.cfg.Env, id)), "PWD="+dir)
	}
	if id.Cred != nil {
		id.Cred.Apply(cmd.SysProcAttr)
		// The child changes its uid before its directory, and the tenant's
		// uid may not search the directories above its own: it enters it
		// through a descriptor of this process instead.
		f, err := os.Open(dir)
		if err != nil {
			return failed(fault.System, "", fmt.Sprintf("open the working directory: %v", err))
		}
		defer f.Close()
		cmd.Dir = viaDescriptor(f, dir)
	}
	cmd.Cancel = func() error { return proc.KillGroup(cmd.Process.Pid) }
	cmd.WaitDelay = waitDelay
	serr, werr := e.spawn(cmd)
	if serr != nil {
		if errors.Is(serr, exec.ErrClosed) {
			return exec.Result{}, serr
		}
		return failed(fault.User, "StartError", serr.Error())
	}
	e.finish(cmd.Process.Pid)
	res := exec.Result{Stdout: stdout.String(), Stderr: stderr.String(), Started: started, Finished: time.Now()}
	x := proc.ExitOf(cmd.ProcessState)
	res.ExitCode = x.ShellCode()
	switch {
	case e.gate.Closed():
		return exec.Result{}, exec.ErrClosed
	case ctx.Err() != nil:
		return exec.Result{}, exec.ContextError("exec/shell: execute", ctx.Err())
	case tctx.Err() != nil:
		res.Error = &exec.TaskError{Kind: fault.Timeout, Type: "Timeout", Message: "command timed out after " + timeout.String()}
	case x.Signal != 0:
		res.Error = &exec.TaskError{Kind: fault.User, Type: "Signal", Message: "killed by " + x.String()}
	case x.Code != 0:
		res.Error = &exec.TaskError{Kind: fault.User, Type: "ExitStatus", Message: x.String()}
	case werr != nil && !errors.Is(werr, osexec.ErrWaitDelay):
		res.Error = &exec.TaskError{Kind: fault.System, Message: werr.Error()}
	}
	value, err := json.Marshal(output{ReturnCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr})
	if err != nil {
		return failed(fault.Internal, "", err.Error())
	}
	if len(value) > e.cfg.Limits.MaxResultBytes {
		if res.Error == nil {
			res.Error = &exec.TaskError{Kind: fault.TooLarge, Type: "ResultTooLarge",
				Message: fmt.Sprintf("result is %d bytes of JSON, over the limit of %d", len(value), e.cfg.Limits.MaxResultBytes)}
		}
		return res, nil
	}
	res.Value = value
	return res, nil
}

// start starts cmd and notes its process group, for Close.
func (e *Executor) start(cmd *osexec.Cmd) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gate.Closed() {
		return exec.ErrClosed
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.running[cmd.Process.Pid] = struct{}{}
	return nil
}

// finish forgets a reaped command, whose pid may now be reused.
func (e *Executor) finish(pid int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, pid)
}

// Stats reports the executor's load.
func (e *Executor) Stats() exec.Stats {
	running := e.gate.Running()
	return exec.Stats{
		Workers: e.cfg.Workers,
		Idle:    e.cfg.Workers - running,
		Running: running,
		Queued:  e.gate.Queued(),
	}
}

// Close kills running commands, whose Execute calls return exec.ErrClosed,
// and waits for them.
func (e *Executor) Close() error {
	e.closeMu.Do(func() {
		e.mu.Lock()
		e.gate.Close()
		for pid := range e.running {
			_ = proc.KillGroup(pid)
		}
		e.mu.Unlock()
		e.gate.Wait()
	})
	return nil
}
