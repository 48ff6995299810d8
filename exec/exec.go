package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// Kind says which executor runs a function; an endpoint keeps one executor
// per kind.
type Kind string

// The kinds of function. Their strings are catalog.Kind's.
const (
	KindPython Kind = "python" // Entry, a function defined in Source
	KindShell  Kind = "shell"  // Command, a command template
)

// Function is what runs: a Python function or a command template.
type Function struct {
	// ID identifies the function's content. Executors may cache compiled
	// functions by ID, so two functions with one ID should have the same
	// Source and Entry (executors that cache compare them and recompile on
	// a difference, at some cost).
	ID string `json:"id"`
	// Kind is KindPython or KindShell.
	Kind Kind `json:"kind"`
	// Source is the text of a Python source file (KindPython). It may
	// define helpers and import modules.
	Source string `json:"source,omitempty"`
	// Entry names the function in Source to call (KindPython).
	Entry string `json:"entry,omitempty"`
	// Command is a command template (KindShell); exec/shell documents its
	// grammar.
	Command string `json:"command,omitempty"`
	// Container optionally names a container image to run in. Executors
	// that do not run containers ignore it.
	Container string `json:"container,omitempty"`
}

// Task is one invocation of a function.
type Task struct {
	// ID identifies the task, for logs; executors do not interpret it.
	ID string `json:"id,omitempty"`
	// Tenant is whom the task runs for: the invocation's signer, as a user
	// ID. An executor that isolates tenants never runs two tenants' tasks
	// in one process or container. Empty is the endpoint's own work
	// (warming, tests): a tenant of its own.
	Tenant   string   `json:"tenant,omitempty"`
	Function Function `json:"function"`
	// Args are the positional arguments: empty, JSON null, or a JSON array.
	Args json.RawMessage `json:"args,omitempty"`
	// Kwargs are the keyword arguments: empty, JSON null, or a JSON
	// object.
	Kwargs json.RawMessage `json:"kwargs,omitempty"`
	// Timeout is the task's walltime; 0 means the executor's default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Retries is how many more times the executor may run the task when
	// it loses it mid-run, through no fault of the task (a batch
	// scheduler's block that ended): the invocation's signed retries.
	// 0 fails a lost task at once. Executors that never lose a task
	// ignore it.
	Retries int `json:"retries,omitempty"`
}

// Input is the arguments of one task: the part of a Task that varies
// between calls of one function.
type Input struct {
	Args   json.RawMessage `json:"args,omitempty"`   // as Task.Args
	Kwargs json.RawMessage `json:"kwargs,omitempty"` // as Task.Kwargs
}

// Input returns the task's arguments.
func (t Task) Input() Input { return Input{Args: t.Args, Kwargs: t.Kwargs} }

// Check reports, as a fault.Invalid error, whether t is malformed: arguments
// that are not a JSON array and object, or a negative timeout. It does not
// look at the function, whose checks are the executor's.
func (t Task) Check() error {
	if t.Timeout < 0 {
		return fault.E(fault.Invalid, "exec: task", "negative timeout %v", t.Timeout)
	}
	return t.Input().Check()
}

// Check reports, as a fault.Invalid error, whether in is malformed: Args
// must be empty, null or a JSON array, Kwargs empty, null or a JSON object.
func (in Input) Check() error {
	if !isJSON(in.Args, '[') {
		return fault.E(fault.Invalid, "exec: task", "args are not a JSON array")
	}
	if !isJSON(in.Kwargs, '{') {
		return fault.E(fault.Invalid, "exec: task", "kwargs are not a JSON object")
	}
	return nil
}

// isJSON reports whether b is empty, null, or one JSON value opening with
// open.
func isJSON(b json.RawMessage, open byte) bool {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || string(t) == "null" {
		return true
	}
	return t[0] == open && json.Valid(t)
}

// IsEmptyJSON reports whether b holds no arguments: it is empty or JSON null.
func IsEmptyJSON(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) == 0 || string(t) == "null"
}

// Result is what a task produced.
type Result struct {
	// Value is the JSON of the function's return value. Executors document
	// what it holds for kinds without return values (exec/shell: an object
	// with the return code and output).
	Value json.RawMessage `json:"value,omitempty"`
	// Stdout and Stderr are what the task wrote, each at most
	// Limits.MaxOutputBytes followed, when output was dropped, by a
	// truncation note (see Truncate).
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// ExitCode is a command's exit status (128+N when killed by signal N);
	// 0 for kinds without one.
	ExitCode int `json:"exit_code,omitempty"`
	// Error is why the task failed; nil when it succeeded.
	Error *TaskError `json:"error,omitempty"`
	// Started and Finished bound the task's run as the executor saw it.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// Err returns r.Error as an error, nil when the task succeeded. (Assigning
// a nil *TaskError to an error variable would make it non-nil.)
func (r Result) Err() error {
	if r.Error == nil {
		return nil
	}
	return r.Error
}

// TaskError says why a task failed.
type TaskError struct {
	// Kind is fault.User for the function's own failures (an exception, a
	// non-zero exit), fault.Timeout, fault.System for crashes of what ran
	// it, fault.TooLarge and fault.Invalid.
	Kind fault.Kind `json:"kind"`
	// Type is the exception's type ("ValueError", "json.JSONDecodeError"),
	// when there is one.
	Type string `json:"type,omitempty"`
	// Message is a one-line description.
	Message string `json:"message"`
	// Traceback is the Python traceback, when there is one.
	Traceback string `json:"traceback,omitempty"`
}

// Error returns "Type: Message", or Message without a type.
func (e *TaskError) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}

// Unwrap gives the error's kind to fault.KindOf and fault.Is.
func (e *TaskError) Unwrap() error {
	return &fault.Error{Kind: e.Kind, Err: errors.New(e.Message)}
}

// Executor runs tasks.
type Executor interface {
	// Execute runs t and returns its result. A failure of the task is in
	// Result.Error; the error is non-nil only when the executor could not
	// run the task: it is closed (ErrClosed), t is malformed or of a kind
	// it does not run (fault.Invalid), or ctx ended (ContextError). When
	// ctx ends while the task runs the executor stops the task and returns
	// promptly. Execute is safe for concurrent use.
	Execute(ctx context.Context, t Task) (Result, error)
	// Close stops running tasks, whose Execute calls return ErrClosed, and
	// releases everything the executor holds, waiting for its processes
	// and goroutines to end. It is idempotent.
	Close() error
}

// Stats is a snapshot of an executor's load.
type Stats struct {
	Workers int `json:"workers"` // how many tasks it can run at once
	Idle    int `json:"idle"`    // how many of those slots are free
	Running int `json:"running"` // tasks (or batch chunks) running
	Queued  int `json:"queued"`  // calls waiting for a free slot
}

// Statser is an executor that reports its load, for heartbeats and
// admission.
type Statser interface {
	Stats() Stats
}

// Warmer is an executor that can prepare a function before its first call
// (start workers, compile the source), so the first call is fast. Warm
// returns the error that loading the function raised, as a *TaskError.
type Warmer interface {
	Warm(ctx context.Context, fn Function) error
}

// Batcher is an executor that runs many inputs of one function with fewer
// round trips than one Execute each.
type Batcher interface {
	// ExecuteBatch runs b.Function on every input of b, each under the
	// executor's default timeout, for b.Tenant (see Task.Tenant), and
	// calls emit once per input with its index and result, in no
	// particular order and never concurrently. It returns nil when every
	// input was emitted. It returns an error, without emitting the rest,
	// when the executor closes or ctx ends (see Execute), or emits nothing
	// and returns fault.Invalid when the function is not of a kind it
	// runs. A malformed input fails alone, with a fault.Invalid
	// Result.Error.
	ExecuteBatch(ctx context.Context, b Batch, emit func(i int, r Result)) error
}

// Batch is many inputs of one function, run for one tenant.
type Batch struct {
	Tenant   string   // as Task.Tenant
	Function Function // what runs
	Inputs   []Input  // its arguments, one set per run
	Retries  int      // as Task.Retries, for each input
}

// ErrClosed is returned by executors that are closed, or that close while
// the call runs.
var ErrClosed error = &fault.Error{Kind: fault.Unavailable, Op: "exec", Err: errors.New("executor closed")}

// ContextError wraps the error of a context that ended for op: kind
// fault.Timeout for a deadline, fault.Unavailable for a cancellation. The
// result still satisfies errors.Is(err, context.Canceled) or
// errors.Is(err, context.DeadlineExceeded).
func ContextError(op string, err error) error {
	kind := fault.Unavailable
	if errors.Is(err, context.DeadlineExceeded) {
		kind = fault.Timeout
	}
	return fault.Wrap(kind, op, err)
}

// startedKey keys the hook of WithStarted in a context.
type startedKey struct{}

// WithStarted returns a context for Execute and ExecuteBatch calls that
// report through started when an input of theirs begins to run: it got a
// worker, a process or container slot, or a block's agent, instead of
// waiting for one. The endpoint tells a queued task from a running one by
// it. started may be called many times (once per input or chunk, from
// several goroutines); it must be quick and must not call the executor.
func WithStarted(ctx context.Context, started func()) context.Context {
	return context.WithValue(ctx, startedKey{}, started)
}

// Started reports to the hook of WithStarted, if ctx has one, that an
// input of the call began to run. Every executor calls it.
func Started(ctx context.Context) { StartedHook(ctx)() }

// StartedHook is the hook of WithStarted in ctx, or a function that does
// nothing: for executors that start inputs away from the caller's context
// (a queue served by other goroutines).
func StartedHook(ctx context.Context) func() {
	if f, ok := ctx.Value(startedKey{}).(func()); ok {
		return f
	}
	return func() {}
}
