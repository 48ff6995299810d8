package taskstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fxmesh/fxmesh/invoke"
)

// The on-disk records. Each starts with a tag byte (which also versions it)
// and continues with uvarint-prefixed strings and varint numbers. Times are
// Unix nanoseconds, 0 for the zero time (a result's are invoke.Result's, as
// they are). Decoders never panic and never allocate more than their input
// justifies: a corrupt record is an error.
//
// Results and errors are kept in invoke's form, Result and Error, the one
// the wire carries; the bytes are those the store wrote when it had types
// of its own, so a store written by an earlier version reads unchanged
// (testdata/v1-tasks.db pins it).
//
//	task:      tagTask seq caller function count expires state received
//	           queued started finished completed error?
//	tombstone: tagTombstone expires     (a purged task whose replay entry lives on)
//	result:    tagResult value stdout stderr exitcode started finished error?
//	admission: tagAdmit id caller function count expires received  (journal)
//	error?:    0 | 1 kind type message traceback
const (
	tagTask      = 1
	tagTombstone = 2
	tagResult    = 1
	tagAdmit     = 1
)

// errCorrupt is wrapped by every decoding error.
var errCorrupt = errors.New("corrupt record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// appendNanos appends Unix nanoseconds as appendTime does: 0 stays 0.
func appendNanos(b []byte, ns int64) []byte { return binary.AppendVarint(b, ns) }

func appendError(b []byte, e *invoke.Error) []byte {
	if e == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendString(b, e.Kind)
	b = appendString(b, e.Type)
	b = appendString(b, e.Message)
	return appendString(b, e.Traceback)
}

// encodeTask encodes t without its ID, which is the key. seq keys its
// results; 0 means it has none on disk.
func encodeTask(t *Task, seq uint64) []byte {
	b := make([]byte, 0, 64+len(t.Caller)+len(t.Function))
	b = append(b, tagTask)
	b = binary.AppendUvarint(b, seq)
	b = appendString(b, t.Caller)
	b = appendString(b, t.Function)
	b = binary.AppendUvarint(b, uint64(t.Count))
	b = appendTime(b, t.Expires)
	b = append(b, stateCode(t.State))
	b = appendTime(b, t.Received)
	b = appendTime(b, t.Queued)
	b = appendTime(b, t.Started)
	b = appendTime(b, t.Finished)
	b = binary.AppendUvarint(b, uint64(t.Completed))
	return appendError(b, t.Error)
}

// encodeTombstone encodes what is left of a task purged before its expiry.
func encodeTombstone(expires time.Time) []byte {
	return appendTime([]byte{tagTombstone}, expires)
}

func encodeResult(r *invoke.Result) []byte {
	b := make([]byte, 0, 32+resultSize(r))
	b = append(b, tagResult)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	b = append(b, r.Value...)
	b = appendString(b, r.Stdout)
	b = appendString(b, r.Stderr)
	b = binary.AppendVarint(b, int64(r.ExitCode))
	b = appendNanos(b, r.Started)
	b = appendNanos(b, r.Finished)
	return appendError(b, r.Error)
}

// encodeAdmit encodes an admission for the journal.
func encodeAdmit(t *Task) []byte {
	b := make([]byte, 0, 48+len(t.ID)+len(t.Caller)+len(t.Function))
	b = append(b, tagAdmit)
	b = appendString(b, t.ID)
	b = appendString(b, t.Caller)
	b = appendString(b, t.Function)
	b = binary.AppendUvarint(b, uint64(t.Count))
	b = appendTime(b, t.Expires)
	return appendTime(b, t.Received)
}

// stateCode is s's index in states; an unknown state encodes as received.
func stateCode(s invoke.State) byte {
	for i, x := range states {
		if x == s {
			return byte(i)
		}
	}
	return 0
}

// decoder reads a record; the first problem sticks in err and every later
// read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte(what string) byte {
	if len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a uvarint that must fit in [0, max].
func (d *decoder) int(what string, max int) int {
	v := d.uvarint(what)
	if v > uint64(max) {
		d.fail(what)
		return 0
	}
	return int(v)
}

// raw reads n-prefixed bytes, copied: bbolt's are only valid in their
// transaction.
func (d *decoder) raw(what string) []byte {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	if n == 0 {
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b)
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time(what string) time.Time {
	v := d.varint(what)
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v)
}

func (d *decoder) error(what string) *invoke.Error {
	switch d.byte(what) {
	case 0:
		return nil
	case 1:
		return &invoke.Error{
			Kind:      d.string(what + " kind"),
			Type:      d.string(what + " type"),
			Message:   d.string(what + " message"),
			Traceback: d.string(what + " traceback"),
		}
	default:
		d.fail(what)
		return nil
	}
}

// end checks that the record was read whole.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return d.err
}

// decodeTask decodes the record stored under id, and the sequence number
// that keys its results. A tombstone decodes to a Task with only ID and
// Expires set, and tomb true.
func decodeTask(id string, b []byte) (t Task, seq uint64, tomb bool, err error) {
	d := decoder{b: b}
	t.ID = id
	switch d.byte("tag") {
	case tagTask:
	case tagTombstone:
		t.Expires = d.time("expiry")
		return t, 0, true, d.end()
	default:
		return Task{}, 0, false, fmt.Errorf("%w: unknown task tag", errCorrupt)
	}
	seq = d.uvarint("seq")
	t.Caller = d.string("caller")
	t.Function = d.string("function")
	t.Count = d.int("count", maxCount)
	t.Expires = d.time("expiry")
	st := int(d.byte("state"))
	if st >= len(states) {
		d.fail("state")
	} else {
		t.State = states[st]
	}
	t.Received = d.time("received")
	t.Queued = d.time("queued")
	t.Started = d.time("started")
	t.Finished = d.time("finished")
	t.Completed = d.int("completed", t.Count)
	t.Error = d.error("error")
	if err := d.end(); err != nil {
		return Task{}, 0, false, err
	}
	return t, seq, false, nil
}

// decodeResult decodes the result of input index.
func decodeResult(index int, b []byte) (invoke.Result, error) {
	d := decoder{b: b}
	if d.byte("tag") != tagResult {
		return invoke.Result{}, fmt.Errorf("%w: unknown result tag", errCorrupt)
	}
	r := invoke.Result{Index: index}
	r.Value = d.raw("value")
	r.Stdout = d.string("stdout")
	r.Stderr = d.string("stderr")
	code := d.varint("exit code")
	if code < math.MinInt32 || code > math.MaxInt32 {
		d.fail("exit code")
	}
	r.ExitCode = int(code)
	r.Started = d.varint("started")
	r.Finished = d.varint("finished")
	r.Error = d.error("error")
	if err := d.end(); err != nil {
		return invoke.Result{}, err
	}
	return r, nil
}

// decodeAdmit decodes a journal record into a received task.
func decodeAdmit(b []byte) (Task, error) {
	d := decoder{b: b}
	if d.byte("tag") != tagAdmit {
		return Task{}, fmt.Errorf("%w: unknown admission tag", errCorrupt)
	}
	t := Task{State: invoke.StateReceived}
	t.ID = d.string("id")
	t.Caller = d.string("caller")
	t.Function = d.string("function")
	t.Count = d.int("count", maxCount)
	t.Expires = d.time("expiry")
	t.Received = d.time("received")
	if err := d.end(); err != nil {
		return Task{}, err
	}
	if _, err := checkAdmit(&t); err != nil {
		return Task{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return t, nil
}
