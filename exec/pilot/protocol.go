package pilot

// The block protocol, between the manager (on the endpoint) and a block's
// agent (on a compute node). The node carries it over an authenticated
// stream; this package sees an io.ReadWriteCloser. Both ways a message is
// a frame: a 4-byte big-endian length, then that many bytes of JSON, as
// exec/python speaks to its workers.
//
// The agent speaks first, once:
//
//	{"t":"hello","workers":N,"host":"node17","runtime":"docker"}
//
// (runtime: the container runtime its node runs functions with container
// images on; absent where it has none)
//
// then beats every interval the manager gives it and answers each task:
//
//	{"t":"beat","running":R}
//	{"t":"result","id":ID,"result":{...exec.Result}}
//	{"t":"result","id":ID,"err":{"kind":KIND,"message":MSG}}   Execute's error
//
// The manager answers the hello, then sends tasks and cancellations:
//
//	{"t":"welcome","block":NAME,"beat":NANOSECONDS}
//	{"t":"task","id":ID,"task":{...exec.Task}}
//	{"t":"cancel","id":ID}
//
// An agent answers every task it was sent exactly once, cancelled or not.
// Either side ends the conversation by closing the connection; an agent
// whose connection ends stops its tasks and exits.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// The types of message.
const (
	msgHello   = "hello"
	msgWelcome = "welcome"
	msgBeat    = "beat"
	msgTask    = "task"
	msgCancel  = "cancel"
	msgResult  = "result"
)

// maxAgentWorkers bounds the workers an agent may announce.
const maxAgentWorkers = 4096

// message is one frame of the block protocol.
type message struct {
	Type    string        `json:"t"`
	ID      uint64        `json:"id,omitempty"`
	Workers int           `json:"workers,omitempty"`
	Host    string        `json:"host,omitempty"`
	Runtime string        `json:"runtime,omitempty"`
	Running int           `json:"running,omitempty"`
	Block   string        `json:"block,omitempty"`
	Beat    time.Duration `json:"beat,omitempty"`
	Task    *exec.Task    `json:"task,omitempty"`
	Result  *exec.Result  `json:"result,omitempty"`
	Err     *errorMessage `json:"err,omitempty"`
}

// errorMessage is an error of Execute, as it travels.
type errorMessage struct {
	Kind    fault.Kind `json:"kind"`
	Message string     `json:"message"`
}

// errorOf gives err the form it travels in.
func errorOf(err error) *errorMessage {
	return &errorMessage{Kind: fault.KindOf(err), Message: err.Error()}
}

// asError is the error that arrived, with its kind.
func (e *errorMessage) asError() error {
	return &fault.Error{Kind: e.Kind, Err: errors.New(e.Message)}
}

var errBadMessage = errors.New("pilot: malformed block message")

// decodeMessage reads one frame's body and checks that it is a message of
// a known type with the fields that type needs.
func decodeMessage(b []byte) (*message, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", errBadMessage, err))
	}
	bad := func(format string, args ...any) (*message, error) {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %s: %s", errBadMessage, m.Type, fmt.Sprintf(format, args...)))
	}
	switch m.Type {
	case msgHello:
		if m.Workers < 1 || m.Workers > maxAgentWorkers {
			return bad("workers %d out of range [1, %d]", m.Workers, maxAgentWorkers)
		}
		if len(m.Host) > 255 {
			return bad("host name of %d bytes", len(m.Host))
		}
		if len(m.Runtime) > 64 {
			return bad("runtime name of %d bytes", len(m.Runtime))
		}
	case msgWelcome:
		if m.Beat <= 0 {
			return bad("no heartbeat interval")
		}
	case msgBeat:
		if m.Running < 0 || m.Running > maxAgentWorkers {
			return bad("running %d out of range", m.Running)
		}
	case msgTask:
		if m.ID == 0 || m.Task == nil {
			return bad("no id or no task")
		}
	case msgCancel:
		if m.ID == 0 {
			return bad("no id")
		}
	case msgResult:
		if m.ID == 0 || (m.Result == nil) == (m.Err == nil) {
			return bad("want an id and one of result and err")
		}
		if m.Err != nil && m.Err.Kind == "" {
			return bad("error without a kind")
		}
		if m.Result != nil && m.Result.Error != nil && m.Result.Error.Kind == "" {
			return bad("task error without a kind")
		}
	default:
		return bad("unknown type")
	}
	return &m, nil
}

var errFrameTooLarge = errors.New("pilot: block frame too large")

// readMessage reads one frame of at most limit bytes and decodes it. A
// clean end before a frame is io.EOF.
func readMessage(r *bufio.Reader, limit int) (*message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(limit) {
		return nil, fault.Wrap(fault.TooLarge, "", fmt.Errorf("%w: %d bytes, over %d", errFrameTooLarge, n, limit))
	}
	// Grow the buffer as bytes arrive, so that a header alone cannot make
	// the reader hold its announced size.
	b := make([]byte, 0, min(int(n), 64<<10))
	for len(b) < int(n) {
		if len(b) == cap(b) {
			b = append(b, make([]byte, min(int(n)-len(b), cap(b)))...)[:len(b)]
		}
		k, err := r.Read(b[len(b):min(int(n), cap(b))])
		b = b[:len(b)+k]
		if err != nil && len(b) < int(n) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return decodeMessage(b)
}

// writeMessage encodes m as one frame on w.
func writeMessage(w *bufio.Writer, m *message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("pilot: encode %s: %w", m.Type, err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}

// maxResultFrame bounds a result frame under lim: the value, and output
// and error texts that JSON's escapes may grow sixfold.
func maxResultFrame(lim exec.Limits) int {
	lim = lim.WithDefaults()
	return lim.MaxResultBytes + 14*lim.MaxOutputBytes + 64<<10
}

// maxTaskFrame bounds a task frame an agent reads: the largest invocation
// and the function's source.
const maxTaskFrame = 64 << 20
