package invoke

import (
	"errors"

	"github.com/fxmesh/fxmesh/fault"
)

// The messages of the invocation protocol (wire.InvokeProtocol), the
// session protocol (wire.SessionProtocol) and the task protocol
// (wire.TaskProtocol). Each travels as one frame of package wire.
//
//	invoke:  client → Request; endpoint → Ack | Error, then (if Wait) Result… and Done
//	task:    client → Query;   endpoint → Status | Error, then (if Wait) Result… and Done
//	session: client → Request… (each with its own Call, Wait implied); endpoint →
//	         for each, Ack | Error, Result… and Done, carrying the Call, interleaved
//	cancel:  client → Cancel;  endpoint → Status | Error

// Request carries a signed invocation.
type Request struct {
	Invocation []byte `cbor:"1,keyasint"`
	// Wait asks the endpoint to stream results back on this stream.
	Wait bool `cbor:"2,keyasint,omitempty"`
	// Call numbers the request on a session stream, where many requests
	// and their replies share one stream; replies carry it back.
	Call uint64 `cbor:"3,keyasint,omitempty"`
}

// Query asks for a task's state and, from index From on, its results.
type Query struct {
	TaskID string `cbor:"1,keyasint"`
	Wait   bool   `cbor:"2,keyasint,omitempty"`
	From   int    `cbor:"3,keyasint,omitempty"`
	// Results asks for the results present, not only the state.
	Results bool `cbor:"4,keyasint,omitempty"`
}

// Cancel asks an endpoint to cancel a task (wire.CancelProtocol); only the
// task's caller may. Inputs not yet started never run, running ones are
// stopped, and the task ends StateCancelled. The endpoint answers with the
// task's Status (its final state, if it had finished already) or an Error.
type Cancel struct {
	TaskID string `cbor:"1,keyasint"`
}

// ReplyType says what a Reply holds.
type ReplyType uint8

// The reply types.
const (
	ReplyAck    ReplyType = 1 // the invocation was admitted as TaskID
	ReplyResult ReplyType = 2 // Result holds one input's result
	ReplyError  ReplyType = 3 // Error says why the request was refused
	ReplyDone   ReplyType = 4 // no more results; Status holds the final state
	ReplyStatus ReplyType = 5 // Status holds the task's state
)

// Reply is every message an endpoint sends.
type Reply struct {
	Type   ReplyType `cbor:"1,keyasint"`
	TaskID string    `cbor:"2,keyasint,omitempty"`
	Count  int       `cbor:"3,keyasint,omitempty"`
	Result *Result   `cbor:"4,keyasint,omitempty"`
	Error  *Error    `cbor:"5,keyasint,omitempty"`
	Status *Status   `cbor:"6,keyasint,omitempty"`
	// Call is the request's Call, on a session stream.
	Call uint64 `cbor:"7,keyasint,omitempty"`
}

// Result is one input's outcome, as it crosses the wire and as an
// endpoint's task store keeps it: the one form of a result after the
// executor that produced it. Started and Finished are Unix nanoseconds, 0
// for unknown.
type Result struct {
	Index    int    `cbor:"1,keyasint" json:"index"`
	Value    []byte `cbor:"2,keyasint,omitempty" json:"-"`
	Stdout   string `cbor:"3,keyasint,omitempty" json:"stdout,omitempty"`
	Stderr   string `cbor:"4,keyasint,omitempty" json:"stderr,omitempty"`
	ExitCode int    `cbor:"5,keyasint,omitempty" json:"exit_code,omitempty"`
	Error    *Error `cbor:"6,keyasint,omitempty" json:"error,omitempty"`
	Started  int64  `cbor:"7,keyasint,omitempty" json:"-"`
	Finished int64  `cbor:"8,keyasint,omitempty" json:"-"`
}

// Error is a failure as it crosses the wire and as the task store keeps
// it, of one input (Result.Error) or of a whole task (Status.Error): a
// fault kind and, for a function's own exception, its type and traceback.
type Error struct {
	Kind      string `cbor:"1,keyasint" json:"kind"`
	Type      string `cbor:"2,keyasint,omitempty" json:"type,omitempty"`
	Message   string `cbor:"3,keyasint,omitempty" json:"message"`
	Traceback string `cbor:"4,keyasint,omitempty" json:"traceback,omitempty"`
}

// Err turns a wire error back into a Go error with its kind.
func (e *Error) Err() error {
	if e == nil {
		return nil
	}
	msg := e.Message
	if e.Type != "" {
		msg = e.Type + ": " + msg
	}
	return &fault.Error{Kind: fault.Kind(e.Kind), Err: errors.New(msg)}
}

// ErrorOf turns a Go error into a wire error.
func ErrorOf(err error) *Error {
	if err == nil {
		return nil
	}
	return &Error{Kind: string(fault.KindOf(err)), Message: err.Error()}
}

// State is where a task is in its life. A task only moves forward:
// received, then optionally queued and running, then done, failed or
// cancelled. The
// strings travel on the wire and appear in fx's JSON output; compare states
// with the constants, never with string literals.
type State string

// The states.
const (
	StateReceived State = "received" // admitted; nothing has run yet
	StateQueued   State = "queued"   // waiting for an executor slot
	StateRunning  State = "running"  // executing
	StateDone     State = "done"     // every input has a Result (some may hold errors)
	StateFailed   State = "failed"   // the task as a whole failed; see Status.Error
	// StateCancelled: its caller cancelled it; inputs without a result
	// did not run or were stopped.
	StateCancelled State = "cancelled"
	// StateUnknown is no state of a task: the endpoint could not read the
	// task's state (Status.Error says why).
	StateUnknown State = "unknown"
)

// Finished reports whether s is final: done, failed or cancelled.
func (s State) Finished() bool {
	return s == StateDone || s == StateFailed || s == StateCancelled
}

// Status is a task's state.
type Status struct {
	State    State            `cbor:"1,keyasint" json:"state"`
	Function string           `cbor:"2,keyasint,omitempty" json:"function"`
	Count    int              `cbor:"3,keyasint,omitempty" json:"count"`
	Done     int              `cbor:"4,keyasint,omitempty" json:"done"`
	Times    map[string]int64 `cbor:"5,keyasint,omitempty" json:"-"`
	Error    *Error           `cbor:"6,keyasint,omitempty" json:"error,omitempty"`
}
