package reply

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// Reply is a decoded reply; E is the exception's type, of the fields
// k, t, m and tb (the package using Reply names it).
type Reply[E any] struct {
	V      json.RawMessage `json:"v"`
	O      string          `json:"o"`
	OT     int64           `json:"ot"`
	E      string          `json:"e"`
	ET     int64           `json:"et"`
	X      *E              `json:"x"`
	LX     *E              `json:"lx"`
	Miss   bool            `json:"miss"`
	Loaded bool            `json:"loaded"`
	Ready  bool            `json:"ready"`
}

var valuePrefix = []byte(`{"v":`)

// Decode decodes a reply body; a body that is not one, or says nothing
// it recognises, is an error that wraps bad. Its fields are copies: body
// may be reused.
func Decode[E any](body []byte, bad error) (Reply[E], error) {
	// The common reply, a bare value, skips the reflection of json.Unmarshal.
	if bytes.HasPrefix(body, valuePrefix) && len(body) > len(valuePrefix) && body[len(body)-1] == '}' {
		if v := body[len(valuePrefix) : len(body)-1]; json.Valid(v) {
			return Reply[E]{V: bytes.Clone(v)}, nil
		}
	}
	var r Reply[E]
	if err := json.Unmarshal(body, &r); err != nil {
		return Reply[E]{}, fmt.Errorf("%w: %v", bad, err)
	}
	if r.V == nil && r.X == nil && r.LX == nil && !r.Miss && !r.Loaded && !r.Ready {
		return Reply[E]{}, fmt.Errorf("%w: no value, error or status", bad)
	}
	return r, nil
}

// TaskError converts a worker's exception (its kind, type, message and
// traceback), trusting only the kinds a worker may report, its texts cut
// to max bytes (the type to 256).
func TaskError(k, typ, msg, tb string, max int) *exec.TaskError {
	kind := fault.User
	if fault.Kind(k) == fault.TooLarge {
		kind = fault.TooLarge
	}
	return &exec.TaskError{
		Kind:      kind,
		Type:      exec.Truncate(typ, 0, 256),
		Message:   exec.Truncate(msg, 0, max),
		Traceback: exec.Truncate(tb, 0, max),
	}
}
