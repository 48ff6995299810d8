package container

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

var (
	//go:embed worker.py
	pythonWorker string
	//go:embed worker.sh
	shellWorker string
)

// past is a deadline that has passed, to interrupt blocked pipe I/O.
var past = time.Unix(1, 0)

// tailSize is how much of a container's stderr is kept for crash reports.
const tailSize = 4 << 10

// box is one running container and the worker in it. Whoever took it from
// its group's idle channel is the only one to use it, but for interrupt
// and the exited channel, which anyone may use.
type box struct {
	name    string
	g       *group
	cmd     *osexec.Cmd
	in      *os.File // our end of the worker's stdin
	out     *os.File // our end of the worker's stdout
	rd      *bufio.Reader
	stderr  *tail
	exited  chan struct{} // closed once the runtime's client exited
	fns     map[string]loaded
	wbuf    []byte
	used    time.Time // when it last finished a task; its holder's
	retired bool      // removed, or being removed; its holder's
	up      bool      // its worker said it was ready; set before start returns
}

// loaded is a function a Python worker holds.
type loaded struct{ source, entry string }

// interrupt puts the pipes' deadlines in the past, ending blocked I/O.
func (b *box) interrupt() {
	_ = b.out.SetReadDeadline(past)
	_ = b.in.SetWriteDeadline(past)
}

// start starts a container for g, in the slot the caller took, and waits
// for its worker's ready message. The caller owns the box; e.wg covers its
// waiter goroutine. When start fails the slot is free again.
func (e *Executor) start(ctx context.Context, g *group) (*box, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		<-g.slots
		return nil, fault.E(fault.System, "exec/container", "start: %v", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		<-g.slots
		inR.Close()
		inW.Close()
		return nil, fault.E(fault.System, "exec/container", "start: %v", err)
	}
	spec := e.spec(g.key)
	cmd := e.rt.Command(spec)
	cmd.Stdin, cmd.Stdout = inR, outW
	b := &box{
		name:   spec.Name,
		g:      g,
		cmd:    cmd,
		in:     inW,
		out:    outR,
		rd:     bufio.NewReaderSize(outR, 64<<10),
		stderr: &tail{},
		exited: make(chan struct{}),
		fns:    make(map[string]loaded),
	}
	cmd.Stderr = b.stderr
	cmd.WaitDelay = time.Second
	e.mu.Lock()
	if e.gate.Closed() {
		e.mu.Unlock()
		<-g.slots
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, exec.ErrClosed
	}
	err = cmd.Start()
	if err == nil {
		e.live[b] = struct{}{}
		e.wg.Add(1)
	}
	e.mu.Unlock()
	inR.Close()
	outW.Close()
	if err != nil {
		<-g.slots
		inW.Close()
		outR.Close()
		return nil, fault.E(fault.Unavailable, "exec/container", "runtime %s: start container: %v", e.rt.Name(), err)
	}
	go func() {
		defer e.wg.Done()
		_ = cmd.Wait() // the exit status is the container's; State says more
		close(b.exited)
	}()
	e.log.Debug("container starting", "container", b.name, "image", g.key.image, "tenant", g.key.tenant)

	stop := context.AfterFunc(ctx, b.interrupt)
	_ = b.out.SetReadDeadline(time.Now().Add(e.cfg.StartTimeout))
	err = b.ready(g.key.kind)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	_ = b.out.SetReadDeadline(time.Time{})
	if err != nil {
		e.retire(b, false)
		if ctx.Err() != nil {
			return nil, exec.ContextError("exec/container: start", ctx.Err())
		}
		if e.gate.Closed() {
			return nil, exec.ErrClosed
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = fmt.Errorf("its worker was not ready after %v", e.cfg.StartTimeout)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			err = errors.New("it ended before its worker was ready")
		}
		return nil, fault.E(fault.System, "exec/container", "start container of image %q: %v%s", g.key.image, err, quote(b.stderr.String()))
	}
	b.up = true
	return b, nil
}

// ready reads the worker's ready message.
func (b *box) ready(kind exec.Kind) error {
	if kind == exec.KindShell {
		line, err := b.rd.ReadSlice('\n')
		if err != nil {
			return err
		}
		if string(line) != "ready\n" {
			return fmt.Errorf("%w: %.64q instead of ready", errProtocol, line)
		}
		return nil
	}
	body, err := readFrame(b.rd, 1<<10)
	if err != nil {
		return err
	}
	r, err := decodeReply(body)
	if err == nil && !r.Ready {
		err = fmt.Errorf("%w: %.64q instead of ready", errProtocol, body)
	}
	return err
}

// quote formats a container's stderr for an error message.
func quote(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return ": " + s
}

// runPython runs fn on in. It returns the result, or the I/O or protocol
// error that makes the box unfit.
func (b *box) runPython(fn *exec.Function, in exec.Input, deadline time.Time, lim exec.Limits) (exec.Result, error) {
	req := request{F: fn.ID, A: orEmpty(in.Args, "[]"), K: orEmpty(in.Kwargs, "{}")}
	l, ok := b.fns[fn.ID]
	withSource := !ok || l.source != fn.Source || l.entry != fn.Entry
	if withSource {
		req.S, req.E = &fn.Source, &fn.Entry
		if len(b.fns) >= maxCached {
			clear(b.fns)
			req.C = true
		}
	}
	var err error
	if b.wbuf, err = appendFrame(b.wbuf[:0], &req); err != nil {
		return exec.Result{}, err
	}
	started := time.Now()
	_ = b.out.SetReadDeadline(deadline)
	_ = b.in.SetWriteDeadline(deadline)
	if _, err := b.in.Write(b.wbuf); err != nil {
		return exec.Result{}, err
	}
	if cap(b.wbuf) > 1<<20 {
		b.wbuf = nil
	}
	body, err := readFrame(b.rd, maxFrame(lim))
	if err != nil {
		return exec.Result{}, err
	}
	r, err := decodeReply(body)
	if err != nil {
		return exec.Result{}, err
	}
	res := exec.Result{Started: started, Finished: time.Now()}
	max := lim.MaxOutputBytes
	switch {
	case r.LX != nil:
		delete(b.fns, fn.ID)
		res.Error = r.LX.taskError(max)
		return res, nil
	case r.V == nil && r.X == nil:
		return exec.Result{}, fmt.Errorf("%w: unexpected reply %.64q", errProtocol, body)
	}
	if withSource {
		b.fns[fn.ID] = loaded{fn.Source, fn.Entry}
	}
	if r.O != "" || r.OT > 0 {
		res.Stdout = exec.Truncate(r.O, r.OT, max)
	}
	if r.E != "" || r.ET > 0 {
		res.Stderr = exec.Truncate(r.E, r.ET, max)
	}
	switch {
	case r.X != nil:
		res.Error = r.X.taskError(max)
	case len(r.V) > lim.MaxResultBytes:
		res.Error = &exec.TaskError{Kind: fault.TooLarge, Type: "ResultTooLarge",
			Message: fmt.Sprintf("result is %d bytes of JSON, over the limit of %d", len(r.V), lim.MaxResultBytes)}
	default:
		res.Value = r.V
	}
	return res, nil
}

// orEmpty returns raw, or empty when raw holds no arguments.
func orEmpty(raw json.RawMessage, empty string) json.RawMessage {
	if exec.IsEmptyJSON(raw) {
		return json.RawMessage(empty)
	}
	return raw
}

// shellOutput is the Value of a shell task, as exec/shell makes it.
type shellOutput struct {
	ReturnCode int    `json:"returncode"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
}

// runShell runs argv. It returns the result, or the I/O or protocol error
// that makes the box unfit.
func (b *box) runShell(argv []string, deadline time.Time, lim exec.Limits) (exec.Result, error) {
	b.wbuf = appendCommand(b.wbuf[:0], argv)
	started := time.Now()
	_ = b.out.SetReadDeadline(deadline)
	_ = b.in.SetWriteDeadline(deadline)
	if _, err := b.in.Write(b.wbuf); err != nil {
		return exec.Result{}, err
	}
	st, err := readStatus(b.rd)
	if err != nil {
		return exec.Result{}, err
	}
	stdout := &exec.OutputBuffer{Max: lim.MaxOutputBytes}
	stderr := &exec.OutputBuffer{Max: lim.MaxOutputBytes}
	if _, err := io.CopyN(stdout, b.rd, st.out); err != nil {
		return exec.Result{}, noEOF(err)
	}
	if _, err := io.CopyN(stderr, b.rd, st.err); err != nil {
		return exec.Result{}, noEOF(err)
	}
	res := exec.Result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: st.code, Started: started, Finished: time.Now()}
	switch {
	case st.code == 127 || st.code == 126:
		res.Error = &exec.TaskError{Kind: fault.User, Type: "StartError", Message: "exit status " + strconv.Itoa(st.code) + quote(firstLine(res.Stderr))}
	case st.code != 0:
		res.Error = &exec.TaskError{Kind: fault.User, Type: "ExitStatus", Message: "exit status " + strconv.Itoa(st.code)}
	}
	value, err := json.Marshal(shellOutput{ReturnCode: st.code, Stdout: res.Stdout, Stderr: res.Stderr})
	if err != nil {
		return exec.Result{}, err
	}
	if len(value) > lim.MaxResultBytes {
		if res.Error == nil {
			res.Error = &exec.TaskError{Kind: fault.TooLarge, Type: "ResultTooLarge",
				Message: fmt.Sprintf("result is %d bytes of JSON, over the limit of %d", len(value), lim.MaxResultBytes)}
		}
		return res, nil
	}
	res.Value = value
	return res, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// noEOF turns io.EOF, met inside a reply, into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// tail keeps the last tailSize bytes a container writes to stderr outside
// tasks (the interpreter's own errors, the runtime's messages).
type tail struct {
	mu  sync.Mutex // guards buf
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf[max(0, len(t.buf)-tailSize):])
}
