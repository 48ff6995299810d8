package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/internal/gate"
	"github.com/fxmesh/fxmesh/exec/shell"
	"github.com/fxmesh/fxmesh/fault"
)

// Defaults of Config's zero fields.
const (
	DefaultPython         = "python3"
	DefaultShell          = "/bin/sh"
	DefaultUser           = "65534:65534" // nobody:nogroup
	DefaultNetwork        = "none"
	DefaultCPUs           = 1.0
	DefaultMemory         = 512 << 20
	DefaultPIDs           = 256
	DefaultTmpSize        = 64 << 20
	DefaultPerImage       = 2
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultTimeout        = 10 * time.Minute
	DefaultStartTimeout   = time.Minute
	DefaultPullTimeout    = 5 * time.Minute
	DefaultNamePrefix     = "fxmesh-"
	maxWorkers            = 4096
	imageCheckTTL         = time.Minute // how long a present image is believed present
	exitWait              = 5 * time.Second
	removeTimeout         = 30 * time.Second
	LabelExecutor         = "org.fxmesh.executor" // the label every container of an executor carries
	ImageUser             = "image"               // Config.User for the image's own user
	labelTenant           = "org.fxmesh.tenant"
	minIdleCheck          = 50 * time.Millisecond
	maxContainersPerSlot  = 2
	defaultRuntimeTimeout = 30 * time.Second
)

// Config configures an Executor. The zero value is ready to use: Docker,
// no network, one CPU and 512 MiB per container, as nobody.
type Config struct {
	// Runtime runs the containers; nil means Docker().
	Runtime Runtime
	// Python is the interpreter in images, a path or a name in the
	// image's PATH; "" means DefaultPython.
	Python string
	// Shell is the shell in images; "" means DefaultShell.
	Shell string
	// Workers is how many tasks run at once, in all; 0 means
	// runtime.NumCPU().
	Workers int
	// PerImage bounds the containers of one image, tenant and kind; 0
	// means DefaultPerImage.
	PerImage int
	// MaxContainers bounds the running containers, idle ones included;
	// when it is reached a new container first replaces the idle
	// container unused the longest. 0 means twice Workers.
	MaxContainers int
	// IdleTimeout is how long a container may stay idle before it is
	// removed; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// DefaultTimeout is the walltime of tasks without their own; 0 means
	// DefaultTimeout.
	DefaultTimeout time.Duration
	// StartTimeout bounds a container's start, from run to its worker's
	// ready message; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// Pull says to pull an image that is not present, once, before its
	// first container; the runtime must implement Puller. Off by
	// default: an absent image is then fault.NotFound.
	Pull bool
	// PullTimeout bounds a pull; 0 means DefaultPullTimeout.
	PullTimeout time.Duration
	// Limits bound what tasks produce; zero fields mean exec's defaults.
	Limits exec.Limits

	// User is the uid:gid the worker runs as; "" means DefaultUser, and
	// ImageUser the image's own user (often root).
	User string
	// Network is the containers' network: "none", "bridge", or the name
	// of a network; "" means DefaultNetwork.
	Network string
	// CPUs is each container's CPU limit in cores; 0 means DefaultCPUs,
	// negative none.
	CPUs float64
	// Memory is each container's memory limit in bytes, swap included;
	// 0 means DefaultMemory, negative none.
	Memory int64
	// PIDs bounds each container's processes; 0 means DefaultPIDs,
	// negative none.
	PIDs int
	// TmpSize is the size of the tmpfs mounted at /tmp, counted against
	// Memory; 0 means DefaultTmpSize, negative mounts none.
	TmpSize int64
	// Mounts are host paths every container sees; each must lie under
	// one of AllowedHostPaths. None by default.
	Mounts []Mount
	// AllowedHostPaths are the host directories Mounts may name.
	AllowedHostPaths []string
	// GPUs is what a container that needs GPUs gets, as Docker's --gpus
	// takes it ("all", "device=0"); "" gives GPUs to no container.
	GPUs string
	// NeedsGPU says whether a function needs GPUs (the endpoint knows it
	// from the function's requirements); nil means none does.
	NeedsGPU func(exec.Function) bool

	// NamePrefix starts the names of containers; "" means
	// DefaultNamePrefix.
	NamePrefix string
	// Logger receives the executor's events; nil discards them.
	Logger *slog.Logger
}

func (c Config) validate() error {
	const op = "exec/container: config"
	switch {
	case c.Workers < 0 || c.Workers > maxWorkers:
		return fault.E(fault.Invalid, op, "workers %d out of range [0, %d]", c.Workers, maxWorkers)
	case c.PerImage < 0 || c.PerImage > maxWorkers:
		return fault.E(fault.Invalid, op, "per-image %d out of range [0, %d]", c.PerImage, maxWorkers)
	case c.MaxContainers < 0:
		return fault.E(fault.Invalid, op, "negative max containers %d", c.MaxContainers)
	case c.IdleTimeout < 0 || c.DefaultTimeout < 0 || c.StartTimeout < 0 || c.PullTimeout < 0:
		return fault.E(fault.Invalid, op, "negative timeout")
	case strings.HasPrefix(c.Network, "-") || strings.ContainsAny(c.Network, " \t\n"):
		return fault.E(fault.Invalid, op, "network %q", c.Network)
	case strings.HasPrefix(c.User, "-") || strings.ContainsAny(c.User, " \t\n"):
		return fault.E(fault.Invalid, op, "user %q", c.User)
	case strings.HasPrefix(c.GPUs, "-"):
		return fault.E(fault.Invalid, op, "gpus %q", c.GPUs)
	}
	for _, m := range c.Mounts {
		if err := checkMount(m, c.AllowedHostPaths); err != nil {
			return err
		}
	}
	return c.Limits.Validate()
}

// checkMount refuses a mount outside the allowed host paths, or one whose
// paths the runtime's --mount syntax could misread.
func checkMount(m Mount, allowed []string) error {
	const op = "exec/container: config"
	for _, p := range []string{m.Host, m.Container} {
		if strings.ContainsAny(p, ",\n") {
			return fault.E(fault.Invalid, op, "mount path %q has a comma or newline", p)
		}
	}
	if !filepath.IsAbs(m.Host) || filepath.Clean(m.Host) != m.Host {
		return fault.E(fault.Invalid, op, "mount of %q: not a clean absolute path", m.Host)
	}
	if m.Container != "" && (!filepath.IsAbs(m.Container) || filepath.Clean(m.Container) != m.Container) {
		return fault.E(fault.Invalid, op, "mount at %q: not a clean absolute path", m.Container)
	}
	real, err := filepath.EvalSymlinks(m.Host)
	if err != nil {
		return fault.E(fault.Invalid, op, "mount of %q: %v", m.Host, err)
	}
	for _, a := range allowed {
		ra, err := filepath.EvalSymlinks(a)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(ra, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return nil
		}
	}
	return fault.E(fault.Denied, op, "mount of %q: not under an allowed host path", m.Host)
}

func (c Config) withDefaults() Config {
	if c.Runtime == nil {
		c.Runtime = Docker()
	}
	if c.Python == "" {
		c.Python = DefaultPython
	}
	if c.Shell == "" {
		c.Shell = DefaultShell
	}
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.PerImage == 0 {
		c.PerImage = DefaultPerImage
	}
	if c.MaxContainers == 0 {
		c.MaxContainers = maxContainersPerSlot * c.Workers
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.PullTimeout == 0 {
		c.PullTimeout = DefaultPullTimeout
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = DefaultTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	c.Limits = c.Limits.WithDefaults()
	switch c.User {
	case "":
		c.User = DefaultUser
	case ImageUser:
		c.User = ""
	}
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.CPUs == 0 {
		c.CPUs = DefaultCPUs
	}
	if c.Memory == 0 {
		c.Memory = DefaultMemory
	}
	if c.PIDs == 0 {
		c.PIDs = DefaultPIDs
	}
	if c.TmpSize == 0 {
		c.TmpSize = DefaultTmpSize
	}
	if c.NamePrefix == "" {
		c.NamePrefix = DefaultNamePrefix
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// key names a group of interchangeable containers. Tenants never share a
// container, and neither do the two kinds, whose workers differ.
type key struct {
	image  string
	tenant string
	kind   exec.Kind
	gpu    bool
}

// group is the containers of one key.
type group struct {
	key   key
	slots chan struct{} // one token per live or starting container; capacity PerImage
	idle  chan *box     // free containers; capacity PerImage
	users int           // Execute calls holding the group; guarded by Executor.mu
}

// Executor runs Python and shell functions in containers of their images:
// it implements exec.Executor and exec.Statser.
type Executor struct {
	cfg     Config
	rt      Runtime
	log     *slog.Logger
	id      string         // this executor's label value, and its containers' name stem
	gate    *gate.Gate     // admits calls, one token per running task; closed under mu
	reaped  chan struct{}  // closed when reapIdle returns
	wg      sync.WaitGroup // container waiters, removals, the idle reaper
	running atomic.Int64
	nextID  atomic.Int64
	once    sync.Once

	mu     sync.Mutex           // guards groups, live and images, and orders the gate's closing with wg.Add
	groups map[key]*group       // by key
	live   map[*box]struct{}    // every container started and not yet removed
	images map[string]time.Time // images found present, and when
	pulls  map[string]*pull     // pulls under way, by image
}

var (
	_ exec.Executor = (*Executor)(nil)
	_ exec.Statser  = (*Executor)(nil)
)

// New checks that the runtime can run containers and returns an executor.
// It starts no container: those start at the first task of their image.
func New(cfg Config) (*Executor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), defaultRuntimeTimeout)
	defer cancel()
	if err := cfg.Runtime.Check(ctx); err != nil {
		return nil, err
	}
	if _, ok := cfg.Runtime.(Puller); cfg.Pull && !ok {
		return nil, fault.E(fault.Invalid, "exec/container: config", "pull is on but runtime %s cannot pull images", cfg.Runtime.Name())
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	e := &Executor{
		cfg:    cfg,
		rt:     cfg.Runtime,
		log:    cfg.Logger,
		id:     cfg.NamePrefix + hex.EncodeToString(id[:]),
		gate:   gate.New(cfg.Workers),
		reaped: make(chan struct{}),
		groups: make(map[key]*group),
		live:   make(map[*box]struct{}),
		images: make(map[string]time.Time),
		pulls:  make(map[string]*pull),
	}
	e.wg.Add(1)
	go e.reapIdle()
	return e, nil
}

// spec describes a new container of k.
func (e *Executor) spec(k key) Spec {
	s := Spec{
		Name:    fmt.Sprintf("%s-%d", e.id, e.nextID.Add(1)),
		Image:   k.image,
		User:    e.cfg.User,
		Network: e.cfg.Network,
		Mounts:  e.cfg.Mounts,
		Labels:  map[string]string{LabelExecutor: e.id, labelTenant: k.tenant},
	}
	if e.cfg.CPUs > 0 {
		s.CPUs = e.cfg.CPUs
	}
	if e.cfg.Memory > 0 {
		s.Memory = e.cfg.Memory
	}
	if e.cfg.PIDs > 0 {
		s.PIDs = e.cfg.PIDs
	}
	if e.cfg.TmpSize > 0 {
		s.TmpSize = e.cfg.TmpSize
	}
	if k.gpu {
		s.GPUs = e.cfg.GPUs
	}
	switch k.kind {
	case exec.KindShell:
		s.Command = []string{e.cfg.Shell, "-c", shellWorker}
	default:
		s.Command = []string{e.cfg.Python, "-u", "-B", "-c", pythonWorker,
			fmt.Sprint(e.cfg.Limits.MaxOutputBytes), fmt.Sprint(e.cfg.Limits.MaxResultBytes)}
	}
	return s
}

// Execute runs t in a container of t.Function.Container, for t.Tenant.
// Beyond exec.Executor's errors it returns fault.Invalid for a function
// that names no image, and fault.NotFound, before anything is queued, for
// an image that is not present on the runtime.
func (e *Executor) Execute(ctx context.Context, t exec.Task) (exec.Result, error) {
	if err := ctx.Err(); err != nil {
		return exec.Result{}, exec.ContextError("exec/container: execute", err)
	}
	fn := &t.Function
	if fn.Kind != exec.KindPython && fn.Kind != exec.KindShell {
		return exec.Result{}, fault.E(fault.Invalid, "exec/container", "function kind %q, want %q or %q", fn.Kind, exec.KindPython, exec.KindShell)
	}
	if err := t.Check(); err != nil {
		return exec.Result{}, err
	}
	if fn.Container == "" {
		return exec.Result{}, fault.E(fault.Invalid, "exec/container", "function %s names no container image", fn.ID)
	}
	var argv []string
	if fn.Kind == exec.KindShell {
		var err error
		if argv, err = command(t); err != nil {
			now := time.Now()
			return exec.Result{Error: &exec.TaskError{Kind: fault.KindOf(err), Message: err.Error()}, Started: now, Finished: now}, nil
		}
	}
	if err := e.gate.Begin(); err != nil {
		return exec.Result{}, err
	}
	defer e.gate.End()
	if err := e.checkImage(ctx, fn.Container); err != nil {
		return exec.Result{}, err
	}
	if err := e.gate.Acquire(ctx, "exec/container: execute"); err != nil {
		return exec.Result{}, err
	}
	defer e.gate.Release()
	e.running.Add(1)
	defer e.running.Add(-1)

	k := e.keyOf(t)
	g := e.group(k)
	defer e.release(g)
	b, err := e.get(ctx, g)
	if err != nil {
		if fault.Is(err, fault.System) {
			e.mu.Lock()
			delete(e.images, k.image) // it may have gone: look again next time
			e.mu.Unlock()
			now := time.Now()
			return exec.Result{Error: &exec.TaskError{Kind: fault.System, Type: "ContainerStart", Message: err.Error()}, Started: now, Finished: now}, nil
		}
		return exec.Result{}, err
	}
	timeout := t.Timeout
	if timeout == 0 {
		timeout = e.cfg.DefaultTimeout
	}
	stop := context.AfterFunc(ctx, b.interrupt)
	deadline := time.Now().Add(timeout)
	var res exec.Result
	if k.kind == exec.KindShell {
		res, err = b.runShell(argv, deadline, e.cfg.Limits)
	} else {
		res, err = b.runPython(fn, t.Input(), deadline, e.cfg.Limits)
	}
	interrupted := !stop()
	switch {
	case err == nil && !interrupted:
		b.used = time.Now()
		g.idle <- b
		return res, nil
	case e.gate.Closed():
		e.retire(b, false)
		return exec.Result{}, exec.ErrClosed
	case ctx.Err() != nil:
		e.retire(b, false)
		return exec.Result{}, exec.ContextError("exec/container: execute", ctx.Err())
	case err == nil:
		// ctx ended as the task did: the interrupt may yet hit the
		// pipes, so the box goes, but the result stands.
		e.retire(b, false)
		return res, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		e.retire(b, false)
		return exec.Result{Error: &exec.TaskError{Kind: fault.Timeout, Type: "Timeout", Message: "task timed out after " + timeout.String()},
			Started: deadline.Add(-timeout), Finished: time.Now()}, nil
	}
	msg := e.diagnose(b, err)
	return exec.Result{Error: &exec.TaskError{Kind: fault.System, Type: "ContainerDied", Message: msg},
		Stderr: b.stderr.String(), Started: deadline.Add(-timeout), Finished: time.Now()}, nil
}

// keyOf returns the group that runs t.
func (e *Executor) keyOf(t exec.Task) key {
	fn := &t.Function
	return key{image: fn.Container, tenant: t.Tenant, kind: fn.Kind, gpu: e.cfg.GPUs != "" && e.cfg.NeedsGPU != nil && e.cfg.NeedsGPU(*fn)}
}

// command returns the argv of a shell task, as exec/shell expands it.
func command(t exec.Task) ([]string, error) {
	tmpl, err := shell.Parse(t.Function.Command)
	if err != nil {
		return nil, err
	}
	if !exec.IsEmptyJSON(t.Args) {
		var args []json.RawMessage
		if json.Unmarshal(t.Args, &args) == nil && len(args) > 0 {
			return nil, fault.E(fault.Invalid, "exec/container", "commands take keyword arguments only, not %d positional ones", len(args))
		}
	}
	values := map[string]string{}
	if !exec.IsEmptyJSON(t.Kwargs) {
		if values, err = shell.Values(t.Kwargs); err != nil {
			return nil, err
		}
	}
	return tmpl.Expand(values) // which refuses NUL bytes, as no argv can hold one
}

// diagnose says why box b broke with err, from the container's end state,
// and retires it.
func (e *Executor) diagnose(b *box, err error) string {
	if errors.Is(err, errProtocol) {
		e.retire(b, false)
		return fmt.Sprintf("the worker in container %s broke the protocol: %v", b.name, err)
	}
	select {
	case <-b.exited:
	case <-time.After(exitWait):
		e.retire(b, false)
		return fmt.Sprintf("container %s stopped answering: %v", b.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
	st, serr := e.rt.State(ctx, b.name)
	cancel()
	e.retire(b, false)
	switch {
	case serr != nil:
		return fmt.Sprintf("container %s ended while running the task (%v)", b.name, serr)
	case st.OOMKilled:
		return fmt.Sprintf("container %s ran out of memory (limit %d MiB) and was killed while running the task", b.name, e.cfg.Memory>>20)
	case st.ExitCode == 137 && st.OOMUnknown && e.cfg.Memory > 0:
		return fmt.Sprintf("container %s was killed (exit status 137) while running the task: perhaps it ran out of memory (limit %d MiB); runtime %s does not say", b.name, e.cfg.Memory>>20, e.rt.Name())
	case st.ExitCode == 137:
		return fmt.Sprintf("container %s was killed (exit status 137) while running the task", b.name)
	}
	return fmt.Sprintf("container %s exited with status %d while running the task", b.name, st.ExitCode)
}

// checkImage returns a fault.NotFound error when image is not present.
// Images found present are believed so for imageCheckTTL.
func (e *Executor) checkImage(ctx context.Context, image string) error {
	e.mu.Lock()
	at, ok := e.images[image]
	e.mu.Unlock()
	if ok && time.Since(at) < imageCheckTTL {
		return nil
	}
	err := e.rt.HasImage(ctx, image)
	if err != nil && e.cfg.Pull && fault.Is(err, fault.NotFound) {
		err = e.pull(ctx, image)
	}
	if err != nil {
		if ctx.Err() != nil {
			return exec.ContextError("exec/container: execute", ctx.Err())
		}
		return err
	}
	e.mu.Lock()
	e.images[image] = time.Now()
	e.mu.Unlock()
	return nil
}

// pull is one image's pull, which the calls that need the image share.
type pull struct {
	done chan struct{} // closed when it ends
	err  error         // then, its error
}

// pull pulls image, or waits for the pull under way. The pull runs for
// PullTimeout or until Close, whatever happens to the ctx of the call
// that started it; a failed pull is tried again by the next call.
func (e *Executor) pull(ctx context.Context, image string) error {
	e.mu.Lock()
	p := e.pulls[image]
	if p == nil {
		p = &pull{done: make(chan struct{})}
		e.pulls[image] = p
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			pctx, cancel := context.WithTimeout(context.Background(), e.cfg.PullTimeout)
			defer cancel()
			go func() {
				select {
				case <-e.gate.Done():
					cancel()
				case <-pctx.Done():
				}
			}()
			start := time.Now()
			e.log.Info("pulling image", "image", image, "runtime", e.rt.Name())
			err := e.rt.(Puller).Pull(pctx, image)
			switch {
			case err == nil:
				e.log.Info("pulled image", "image", image, "took", time.Since(start).Round(time.Millisecond))
			case e.gate.Closed():
				err = exec.ErrClosed
			case errors.Is(pctx.Err(), context.DeadlineExceeded):
				err = fault.E(fault.Timeout, "exec/container", "pull image %q on runtime %s: timed out after %v", image, e.rt.Name(), e.cfg.PullTimeout)
			}
			if err != nil {
				e.log.Warn("pull failed", "image", image, "err", err)
			}
			e.mu.Lock()
			p.err = err
			delete(e.pulls, image)
			e.mu.Unlock()
			close(p.done)
		}()
	}
	e.mu.Unlock()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return exec.ContextError("exec/container: execute", ctx.Err())
	}
}

// group returns k's group, held until release.
func (e *Executor) group(k key) *group {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groups[k]
	if g == nil {
		g = &group{key: k, slots: make(chan struct{}, e.cfg.PerImage), idle: make(chan *box, e.cfg.PerImage)}
		e.groups[k] = g
	}
	g.users++
	return g
}

// release lets go of a group; the last user of an empty group drops it.
func (e *Executor) release(g *group) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g.users--
	if g.users == 0 && len(g.slots) == 0 && e.groups[g.key] == g {
		delete(e.groups, g.key)
	}
}

// get returns an idle container of g, or starts one if g has room, or
// waits for either.
func (e *Executor) get(ctx context.Context, g *group) (*box, error) {
	for {
		select {
		case b := <-g.idle:
			if e.fit(b) {
				return b, nil
			}
			continue
		default:
		}
		select {
		case b := <-g.idle:
			if e.fit(b) {
				return b, nil
			}
		case g.slots <- struct{}{}:
			e.makeRoom()
			return e.start(ctx, g)
		case <-ctx.Done():
			return nil, exec.ContextError("exec/container: execute", ctx.Err())
		case <-e.gate.Done():
			return nil, exec.ErrClosed
		}
	}
}

// fit reports whether idle box b is still running; a box whose container
// exited while idle is retired.
func (e *Executor) fit(b *box) bool {
	select {
	case <-b.exited:
		e.retire(b, false)
		return false
	default:
		return true
	}
}

// makeRoom retires the idle container unused the longest when the executor
// holds MaxContainers.
func (e *Executor) makeRoom() {
	e.mu.Lock()
	n := len(e.live)
	groups := make([]*group, 0, len(e.groups))
	for _, g := range e.groups {
		groups = append(groups, g)
	}
	e.mu.Unlock()
	if n < e.cfg.MaxContainers {
		return
	}
	var oldest *box
	for _, g := range groups {
		select {
		case b := <-g.idle:
			if oldest == nil || b.used.Before(oldest.used) {
				if oldest != nil {
					oldest.g.idle <- oldest
				}
				oldest = b
			} else {
				g.idle <- b
			}
		default:
		}
	}
	if oldest != nil {
		e.retire(oldest, false)
	}
}

// retire removes box b, in the background: its group gets its slot back
// at once. Only b's holder calls it. wait says to wait for the removal.
func (e *Executor) retire(b *box, wait bool) {
	if b.retired {
		return
	}
	b.retired = true
	b.interrupt()
	<-b.g.slots
	e.mu.Lock()
	e.wg.Add(1)
	if g := b.g; g.users == 0 && len(g.slots) == 0 && e.groups[g.key] == g {
		delete(e.groups, g.key)
	}
	e.mu.Unlock()
	rm := func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
		defer cancel()
		e.remove(ctx, b.name)
		if !b.up {
			// The runtime may create the container after the removal:
			// its worker then reads EOF and ends, and it goes now.
			b.in.Close()
			e.reap(b)
			e.remove(ctx, b.name)
			return
		}
		e.reap(b)
	}
	if wait {
		rm()
		return
	}
	go rm()
}

// remove removes the named containers, logging a failure.
func (e *Executor) remove(ctx context.Context, names ...string) {
	if err := e.rt.Remove(ctx, names...); err != nil {
		e.log.Warn("remove containers", "containers", names, "err", err)
	}
}

// reap waits for the runtime's client of a removed container to exit,
// killing it if it lingers, and forgets the box.
func (e *Executor) reap(b *box) {
	select {
	case <-b.exited:
	case <-time.After(exitWait):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	b.in.Close()
	b.out.Close()
	e.mu.Lock()
	delete(e.live, b)
	e.mu.Unlock()
}

// reapIdle removes containers idle for longer than IdleTimeout.
func (e *Executor) reapIdle() {
	defer e.wg.Done()
	defer close(e.reaped)
	every := max(e.cfg.IdleTimeout/4, minIdleCheck)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-e.gate.Done():
			return
		case <-tick.C:
		}
		e.mu.Lock()
		groups := make([]*group, 0, len(e.groups))
		for _, g := range e.groups {
			groups = append(groups, g)
		}
		e.mu.Unlock()
		for _, g := range groups {
			for range len(g.idle) {
				select {
				case b := <-g.idle:
					if time.Since(b.used) >= e.cfg.IdleTimeout || !e.fit(b) {
						e.log.Debug("container idle, removed", "container", b.name)
						e.retire(b, false)
					} else {
						g.idle <- b
					}
				default:
				}
			}
		}
	}
}

// Containers returns the names of the executor's containers, running or
// being removed.
func (e *Executor) Containers() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.live))
	for b := range e.live {
		names = append(names, b.name)
	}
	slices.Sort(names)
	return names
}

// Stats reports the executor's load.
func (e *Executor) Stats() exec.Stats {
	running := int(e.running.Load())
	return exec.Stats{Workers: e.cfg.Workers, Idle: max(0, e.cfg.Workers-running), Running: running, Queued: e.gate.Queued()}
}

// Close removes every container, failing the tasks running in them with
// exec.ErrClosed, and waits for its goroutines and the runtime's clients.
func (e *Executor) Close() error {
	e.once.Do(func() {
		e.mu.Lock()
		e.gate.Close()
		names := make([]string, 0, len(e.live))
		for b := range e.live {
			names = append(names, b.name)
			b.interrupt()
		}
		e.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
		e.remove(ctx, names...)
		cancel()
		e.gate.Wait()
		<-e.reaped
		// Idle boxes remain in their groups, and no one else takes them
		// now: reap them.
		e.mu.Lock()
		var idle []*box
		for _, g := range e.groups {
			for range len(g.idle) {
				idle = append(idle, <-g.idle)
			}
		}
		e.mu.Unlock()
		for _, b := range idle {
			b.retired = true
			b.in.Close() // the worker ends on EOF, should the removal have failed
			e.reap(b)
		}
		e.wg.Wait()
		e.sweep()
	})
	return nil
}

// labelLister is a runtime that finds containers by label.
type labelLister interface {
	Labelled(ctx context.Context, key, value string) ([]string, error)
}

// sweep removes, at Close, any container of this executor that the
// runtime still holds: one it created after its removal. Podman, whose
// client is part of the runtime, has left such a container, exited,
// about one run of the tests in three.
func (e *Executor) sweep() {
	l, ok := e.rt.(labelLister)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
	defer cancel()
	ids, err := l.Labelled(ctx, LabelExecutor, e.id)
	if err != nil {
		e.log.Warn("list containers at close", "err", err)
		return
	}
	if len(ids) > 0 {
		e.log.Warn("removing containers created after their removal", "containers", ids)
		e.remove(ctx, ids...)
	}
}
