package audit

import (
	"encoding/json"
	"fmt"
	"time"
)

// The events of a task, in the order a task meets them. A refused
// invocation has only Refused; an admitted one Admitted, Started and
// Finished, each once.
const (
	Admitted = "admitted"
	Refused  = "refused"
	Started  = "started"
	Finished = "finished"
)

// Event is one line of the audit log. It holds who, what and when, never
// what a task was given or gave back: no field can carry arguments,
// results or output.
type Event struct {
	// Time is when the event happened.
	Time time.Time `json:"time"`
	// Event is Admitted, Refused, Started or Finished.
	Event string `json:"event"`
	// Task is the task's ID; for a refusal, the ID the invocation would
	// have had, when its envelope could be read at all.
	Task string `json:"task,omitempty"`
	// Caller is the user ID that signed the invocation; for a refusal,
	// the peer that sent it (an invocation must come from its signer).
	Caller string `json:"caller,omitempty"`
	// Function is the function's ID, when known (a refusal before the
	// invocation was read has none).
	Function string `json:"function,omitempty"`
	// Inputs is how many inputs the task has (a batch has several).
	Inputs int `json:"inputs,omitempty"`
	// Reason and Detail say why an invocation was refused: Reason is the
	// fault kind (denied, expired, replayed, overloaded…), Detail the
	// endpoint's message.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Outcome is how a task finished: done or failed. ErrorKind is the
	// fault kind of a failed task's error, or of the first input that
	// failed in a task that is done; FailedInputs counts those inputs.
	Outcome      string `json:"outcome,omitempty"`
	ErrorKind    string `json:"error_kind,omitempty"`
	FailedInputs int    `json:"failed_inputs,omitempty"`
	// Received, Started and Finished are the task's times, when known.
	Received *time.Time `json:"received,omitempty"`
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
}

// Line encodes e as one line of JSON, newline included.
func (e *Event) Line() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("audit: encode %s event: %w", e.Event, err)
	}
	return append(b, '\n'), nil
}

// At returns a pointer to t, or nil for the zero time: for Event's times.
func At(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
