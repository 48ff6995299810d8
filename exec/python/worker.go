package python

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
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

//go:embed worker.py
var workerSource string

const (
	// smallWrite is the largest request written without a write deadline:
	// it fits a pipe's buffer, so the write cannot block.
	smallWrite = 32 << 10
	// keepBuffer is the largest request or reply buffer a worker keeps
	// between calls.
	keepBuffer = 1 << 20
	// waitDelay bounds how long reaping a worker waits for its fd 1 and 2
	// to close once it exited (a grandchild may hold them).
	waitDelay = 500 * time.Millisecond
	// tailSize is how much of a worker's fd 1 and 2 output is kept, for
	// the reports of crashes.
	tailSize = 8 << 10
)

// past is a deadline that has passed, to interrupt blocked pipe I/O.
var past = time.Unix(1, 0)

// worker is one Python process, serving one tenant. Whoever holds it (the
// pool's idle lists, or the goroutine that took it from there) is the only
// one to use it, but for kill, which anyone may call.
type worker struct {
	id        int64
	tenant    string    // whom it serves, and only them
	idleSince time.Time // when it last went idle; guarded by Pool.mu
	cmd       *osexec.Cmd
	pid       int
	req       *os.File      // our end of the worker's fd 3
	resp      *os.File      // our end of the worker's fd 4
	rd        *bufio.Reader // over resp
	out       *tail         // what the worker writes to fd 1 and 2
	lim       exec.Limits
	maxFrame  int
	wbuf      []byte            // the request frame, reused
	fbuf      []byte            // reply frames too large for rd, reused
	fns       map[string]loaded // what we believe the worker has compiled, by ID
	reaped    bool
	interrupt func() // puts the pipes' deadlines in the past

	mu     sync.Mutex // guards waited
	waited bool       // the process was reaped: its pid may name another
}

// loaded is a function a worker holds.
type loaded struct{ source, entry string }

// failKind says how a run that did not finish ended.
type failKind int

const (
	failCrash   failKind = iota // the worker died or broke the protocol while running input done
	failTimeout                 // input done ran out of time
	failContext                 // the caller's context ended
	failUnsent                  // the request did not reach the worker; no input ran
	failTainted                 // every input finished, but a context interrupt may still hit the pipes
)

// failure is how a run that did not finish ended. The worker is dead and
// reaped.
type failure struct {
	kind     failKind
	err      error           // failContext: the context's error
	task     *exec.TaskError // failCrash, failTimeout, failUnsent: what the input failed with
	stderr   string          // what the worker wrote to fd 1 and 2 during the run
	started  time.Time       // when the failing input started
	finished time.Time
}

// result is the failing input's result.
func (f *failure) result() exec.Result {
	return exec.Result{Error: f.task, Stderr: f.stderr, Started: f.started, Finished: f.finished}
}

// startWorker starts a worker for owner, a tenant, and waits until it is ready.
func (p *Pool) startWorker(ctx context.Context, owner string) (*worker, error) {
	run, err := p.tenants.Identity(owner)
	if err != nil {
		return nil, err
	}
	id := p.nextID.Add(1)
	// An isolated worker gets its working directory as fd 5 and enters it
	// with fchdir, so it needs no right to the directories above it.
	var dir *os.File
	if run.Dir != "" {
		if dir, err = os.Open(run.Dir); err != nil {
			return nil, fmt.Errorf("exec/python: start worker: %w", err)
		}
		defer dir.Close()
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("exec/python: start worker: %w", err)
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, fmt.Errorf("exec/python: start worker: %w", err)
	}
	out := &tail{log: p.log, id: id}
	isolated := "0"
	if dir != nil {
		isolated = "1"
	}
	// The source comes on stdin ("-"), so that ps shows a short command
	// line, not the whole worker; Python reads it to the end before it
	// runs it, and the user's code then finds stdin at its end.
	cmd := osexec.Command(p.python, "-u", "-",
		strconv.Itoa(p.cfg.Limits.MaxOutputBytes), strconv.Itoa(p.cfg.Limits.MaxResultBytes), isolated)
	cmd.Stdin = strings.NewReader(workerSource)
	cmd.ExtraFiles = []*os.File{reqR, respW}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = p.cfg.Dir
	cmd.Env = p.cfg.Env
	cmd.SysProcAttr = proc.SysProcAttr()
	if dir != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, dir)
		cmd.Dir = "/"
		cmd.Env = tenant.Env(p.cfg.Env, run)
	}
	if run.Cred != nil {
		run.Cred.Apply(cmd.SysProcAttr)
	}
	cmd.WaitDelay = waitDelay
	err = cmd.Start()
	reqR.Close()
	respW.Close()
	if err != nil {
		reqW.Close()
		respR.Close()
		return nil, fmt.Errorf("exec/python: start worker: %w", err)
	}
	w := &worker{
		id:       id,
		tenant:   owner,
		cmd:      cmd,
		pid:      cmd.Process.Pid,
		req:      reqW,
		resp:     respR,
		rd:       bufio.NewReaderSize(respR, 64<<10),
		out:      out,
		lim:      p.cfg.Limits,
		maxFrame: maxFrame(p.cfg.Limits),
		fns:      make(map[string]loaded),
	}
	w.interrupt = func() {
		_ = w.resp.SetReadDeadline(past)
		_ = w.req.SetWriteDeadline(past)
	}
	stop := context.AfterFunc(ctx, w.interrupt)
	_ = w.resp.SetReadDeadline(time.Now().Add(p.cfg.StartTimeout))
	var r reply
	body, err := readFrame(w.rd, &w.fbuf, w.maxFrame)
	if err == nil {
		r, err = decodeReply(body)
	}
	if err == nil && !r.Ready {
		err = errors.New("no ready message")
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		w.kill()
		w.reap()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("exec/python: start worker: %w", ctx.Err())
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("not ready after %v", p.cfg.StartTimeout)
		}
		as := ""
		if run.Cred != nil {
			as = fmt.Sprintf(" as uid %d", run.Cred.UID)
		}
		return nil, fmt.Errorf("exec/python: start worker %s%s: %w (%s)%s", p.python, as, err, w.exit(true), quote(w.out.since(0)))
	}
	p.log.Debug("python worker started", "worker", id, "pid", w.pid, "tenant", owner)
	return w, nil
}

// quote formats a worker's output for an error message.
func quote(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ""
	}
	return ": " + out
}

// run runs fn on inputs, one after another, and calls emit(base+i, result)
// for each input i that finishes. It returns how many did, and nil if all
// did and the worker is fit for more; otherwise the worker is dead and
// reaped, and the failure says why.
func (w *worker) run(ctx context.Context, fn *exec.Function, inputs []exec.Input, base int, timeout time.Duration, emit func(int, exec.Result)) (int, *failure) {
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, w.interrupt)
	}
	done, f := w.exchange(ctx, fn, inputs, base, timeout, emit)
	if stop != nil && !stop() && f == nil {
		// ctx ended as the run did: the interrupt may yet hit the pipes.
		w.kill()
		w.reap()
		f = &failure{kind: failTainted}
	}
	return done, f
}

func (w *worker) exchange(ctx context.Context, fn *exec.Function, inputs []exec.Input, base int, timeout time.Duration, emit func(int, exec.Result)) (int, *failure) {
	mark := w.out.n.Load()
	start := time.Now()
	l, ok := w.fns[fn.ID]
	withSource := !ok || l.source != fn.Source || l.entry != fn.Entry
	deadline := start.Add(timeout)
	_ = w.resp.SetReadDeadline(deadline)
	if err := w.send(fn, withSource, inputs, deadline); err != nil {
		return 0, w.broken(ctx, err, true, start, timeout, mark)
	}
	done := 0
	for done < len(inputs) {
		body, err := readFrame(w.rd, &w.fbuf, w.maxFrame)
		if err != nil {
			return done, w.broken(ctx, err, false, start, timeout, mark)
		}
		r, err := decodeReply(body)
		if err != nil {
			return done, w.broken(ctx, err, false, start, timeout, mark)
		}
		switch {
		case r.Miss && !withSource && done == 0:
			// The worker lost the function: send it again, with source.
			delete(w.fns, fn.ID)
			withSource = true
			if err := w.send(fn, true, inputs, deadline); err != nil {
				return 0, w.broken(ctx, err, true, start, timeout, mark)
			}
			continue
		case r.LX != nil && withSource && done == 0:
			delete(w.fns, fn.ID)
			now := time.Now()
			for ; done < len(inputs); done++ {
				emit(base+done, exec.Result{Error: r.LX.taskError(w.lim.MaxOutputBytes), Started: start, Finished: now})
			}
			return done, nil
		case r.V == nil && r.X == nil:
			return done, w.broken(ctx, fmt.Errorf("%w: unexpected reply %.64q", errBadReply, body), false, start, timeout, mark)
		}
		if withSource {
			w.remember(fn)
			withSource = false
		}
		now := time.Now()
		emit(base+done, w.result(&r, start, now))
		done++
		start = now
		if done < len(inputs) {
			_ = w.resp.SetReadDeadline(now.Add(timeout))
		}
	}
	return done, nil
}

// load compiles fn in the worker, unless it holds it already. A function
// that fails to load returns its error; a worker that fails, a failure.
func (w *worker) load(ctx context.Context, fn *exec.Function, timeout time.Duration) (*exec.TaskError, *failure) {
	if l, ok := w.fns[fn.ID]; ok && l.source == fn.Source && l.entry == fn.Entry {
		return nil, nil
	}
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, w.interrupt)
	}
	te, f := w.loadExchange(ctx, fn, timeout)
	if stop != nil && !stop() && f == nil {
		w.kill()
		w.reap()
		f = &failure{kind: failTainted}
	}
	return te, f
}

func (w *worker) loadExchange(ctx context.Context, fn *exec.Function, timeout time.Duration) (*exec.TaskError, *failure) {
	mark := w.out.n.Load()
	start := time.Now()
	deadline := start.Add(timeout)
	_ = w.resp.SetReadDeadline(deadline)
	if err := w.send(fn, true, nil, deadline); err != nil {
		return nil, w.broken(ctx, err, true, start, timeout, mark)
	}
	body, err := readFrame(w.rd, &w.fbuf, w.maxFrame)
	if err != nil {
		return nil, w.broken(ctx, err, false, start, timeout, mark)
	}
	r, err := decodeReply(body)
	switch {
	case err != nil:
		return nil, w.broken(ctx, err, false, start, timeout, mark)
	case r.LX != nil:
		delete(w.fns, fn.ID)
		return r.LX.taskError(w.lim.MaxOutputBytes), nil
	case !r.Loaded:
		return nil, w.broken(ctx, fmt.Errorf("%w: unexpected reply %.64q", errBadReply, body), false, start, timeout, mark)
	}
	w.remember(fn)
	return nil, nil
}

// remember notes that the worker holds fn.
func (w *worker) remember(fn *exec.Function) {
	if len(w.fns) >= maxCached {
		clear(w.fns)
	}
	w.fns[fn.ID] = loaded{fn.Source, fn.Entry}
}

// send writes a request.
func (w *worker) send(fn *exec.Function, withSource bool, inputs []exec.Input, deadline time.Time) error {
	w.wbuf = appendRequest(w.wbuf[:0], fn, withSource, inputs)
	big := len(w.wbuf) > smallWrite
	if big {
		_ = w.req.SetWriteDeadline(deadline)
	}
	_, err := w.req.Write(w.wbuf)
	if big {
		_ = w.req.SetWriteDeadline(time.Time{})
	}
	if cap(w.wbuf) > keepBuffer {
		w.wbuf = nil
	}
	if cap(w.fbuf) > keepBuffer {
		w.fbuf = nil
	}
	return err
}

// result converts a reply to the result of an input.
func (w *worker) result(r *reply, started, finished time.Time) exec.Result {
	max := w.lim.MaxOutputBytes
	res := exec.Result{Started: started, Finished: finished}
	if r.O != "" || r.OT > 0 {
		res.Stdout = exec.Truncate(r.O, r.OT, max)
	}
	if r.E != "" || r.ET > 0 {
		res.Stderr = exec.Truncate(r.E, r.ET, max)
	}
	switch {
	case r.X != nil:
		res.Error = r.X.taskError(max)
	case len(r.V) > w.lim.MaxResultBytes:
		res.Error = &exec.TaskError{Kind: fault.TooLarge, Type: "ResultTooLarge",
			Message: fmt.Sprintf("result is %d bytes of JSON, over the limit of %d", len(r.V), w.lim.MaxResultBytes)}
	default:
		res.Value = r.V
	}
	return res
}

// broken ends a run that met err: it kills and reaps the worker and says
// why the run failed. unsent says err came from writing the request.
func (w *worker) broken(ctx context.Context, err error, unsent bool, started time.Time, timeout time.Duration, mark int64) *failure {
	w.kill()
	w.reap()
	f := &failure{started: started, finished: time.Now(), stderr: w.out.since(mark)}
	switch {
	case ctx.Err() != nil:
		f.kind, f.err = failContext, ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		f.kind = failTimeout
		f.task = &exec.TaskError{Kind: fault.Timeout, Type: "Timeout", Message: "task timed out after " + timeout.String()}
	case errors.Is(err, errBadReply) || errors.Is(err, errFrameTooLarge):
		f.kind = failCrash
		f.task = &exec.TaskError{Kind: fault.System, Type: "WorkerError", Message: "python worker broke the protocol: " + err.Error()}
	default:
		f.kind = failCrash
		if unsent {
			f.kind = failUnsent
		}
		f.task = &exec.TaskError{Kind: fault.System, Type: "WorkerDied", Message: "python " + w.exit(false)}
	}
	return f
}

// exit says how the reaped worker ended; killed says the pool killed it.
func (w *worker) exit(killed bool) string {
	e := proc.ExitOf(w.cmd.ProcessState)
	switch {
	case e.Signal != 0:
		s := "worker exited with " + e.String()
		if e.Signal == 9 && !killed {
			s += ", killed from outside the pool (out of memory?)"
		}
		return s
	case e.Code >= 0:
		return "worker exited with status " + strconv.Itoa(e.Code)
	}
	return "worker exited"
}

// kill kills the worker's process group; anyone may call it, any number of
// times.
func (w *worker) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.waited {
		_ = proc.KillGroup(w.pid)
	}
}

// reap waits for the worker's process to end (kill it first) and closes
// the pipes. Only the holder calls it; more calls do nothing.
func (w *worker) reap() {
	if w.reaped {
		return
	}
	w.reaped = true
	_ = w.cmd.Wait() // an *ExitError, or ErrWaitDelay: ProcessState says all
	w.mu.Lock()
	w.waited = true
	w.mu.Unlock()
	w.req.Close()
	w.resp.Close()
}

// tail keeps the last tailSize bytes a worker writes to its fd 1 and 2 (the
// interpreter's own errors, and output that bypasses sys.stdout) and logs
// them at debug level.
type tail struct {
	log *slog.Logger
	id  int64
	n   atomic.Int64 // bytes written in all

	mu  sync.Mutex // guards buf
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	if t.log.Enabled(context.Background(), slog.LevelDebug) {
		t.log.Debug("python worker output", "worker", t.id, "text", string(p))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	t.n.Add(int64(len(p)))
	return len(p), nil
}

// since returns what was written after n reached mark, or its last
// tailSize bytes.
func (t *tail) since(mark int64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := min(t.n.Load()-mark, int64(len(t.buf)), tailSize)
	if k <= 0 {
		return ""
	}
	return string(t.buf[int64(len(t.buf))-k:])
}

var _ io.Writer = (*tail)(nil)
