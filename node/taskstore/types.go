package taskstore

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// The states of a task are invoke's, the same on the wire and on disk;
// states lists them in the order a task may move through them, and a
// state's index is its code on disk.
var states = [...]invoke.State{invoke.StateReceived, invoke.StateQueued, invoke.StateRunning, invoke.StateDone, invoke.StateFailed, invoke.StateCancelled}

// rank orders the states; 0 means unknown. The final states rank equal.
func rank(s invoke.State) int {
	switch s {
	case invoke.StateReceived:
		return 1
	case invoke.StateQueued:
		return 2
	case invoke.StateRunning:
		return 3
	case invoke.StateDone, invoke.StateFailed, invoke.StateCancelled:
		return 4
	}
	return 0
}

// Task is the record of one invocation: who sent it, where it is, and when
// it got there. The zero time means "not yet".
type Task struct {
	ID       string    // from the signed invocation's bytes (a CID string); the replay key
	Caller   string    // the invoker's user ID: only they may read the task
	Function string    // the function's ID
	Count    int       // number of inputs: 1 for a single invocation, N for a batch
	Expires  time.Time // the invocation's expiry: replay protection lasts at least until then
	// Issued is the earliest time the invocation could have been admitted
	// by any run of this store (its issue time less the clock skew
	// tolerated). Admit refuses it when it is before the horizon (see
	// Store.Horizon); it is not kept.
	Issued time.Time

	State     invoke.State
	Received  time.Time     // admitted
	Queued    time.Time     // entered StateQueued
	Started   time.Time     // entered StateRunning
	Finished  time.Time     // entered a final state
	Completed int           // inputs whose Result is stored
	Error     *invoke.Error // why the task as a whole failed; nil unless StateFailed
}

// Status is the task's state as the wire carries it.
func (t *Task) Status() *invoke.Status {
	st := &invoke.Status{State: t.State, Function: t.Function, Count: t.Count, Done: t.Completed, Times: make(map[string]int64, 4)}
	for _, at := range [...]struct {
		name string
		t    time.Time
	}{{"received", t.Received}, {"queued", t.Queued}, {"started", t.Started}, {"finished", t.Finished}} {
		if !at.t.IsZero() {
			st.Times[at.name] = at.t.UnixNano()
		}
	}
	st.Error = t.Error
	return st
}

// resultSize is what r costs to store, near enough, for the MaxResultBytes check.
func resultSize(r *invoke.Result) int {
	n := len(r.Value) + len(r.Stdout) + len(r.Stderr)
	if r.Error != nil {
		n += len(r.Error.Kind) + len(r.Error.Type) + len(r.Error.Message) + len(r.Error.Traceback)
	}
	return n
}

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Retention is how long a finished task and its results are kept,
	// counted from Task.Finished. 0 means 7 days.
	Retention time.Duration
	// Now is the clock for timestamps, expiry and retention. nil means
	// time.Now. The background loops' intervals use real time.
	Now func() time.Time
	// Logger receives background failures (flush, garbage collection) and
	// recovery counts. nil discards.
	Logger *slog.Logger
	// FlushInterval is how long state changes and results may wait in
	// memory before they are written to disk in one transaction. 0 means
	// 5ms.
	FlushInterval time.Duration
	// GCInterval is how often expired tasks are deleted; the first pass
	// runs at Open. 0 means one hour.
	GCInterval time.Duration
	// MaxResultBytes bounds one Result (value, output and error together).
	// 0 means 16 MiB.
	MaxResultBytes int
	// SyncAdmissions makes Admit return only once the admission is synced
	// to the disk itself, so that not even a crash of the machine can lose
	// it; concurrent Admits share a sync. Otherwise Admit returns once the
	// kernel holds the admission, which a killed process cannot lose, and
	// the next flush syncs it. After a crash of the machine, Admit then
	// refuses the invocations issued before it restarted (see Horizon).
	SyncAdmissions bool
	// NoSync skips every fsync. A killed process loses nothing (the kernel
	// still holds the writes), but a crash of the machine may lose
	// admissions and corrupt the database. For tests and benchmarks of
	// other packages only.
	NoSync bool

	// bootInfo replaces the machine's boot ID and time in tests.
	bootInfo func() (id string, booted time.Time, ok bool)
	// preallocate replaces the journal's preallocation in tests.
	preallocate func(f *os.File, size int64) error
}

// boot returns the machine's boot ID and time; ok is false when unknown.
func (o *Options) boot() (string, time.Time, bool) {
	if o.bootInfo != nil {
		return o.bootInfo()
	}
	return bootInfo()
}

const (
	defaultRetention      = 7 * 24 * time.Hour
	defaultFlushInterval  = 5 * time.Millisecond
	defaultGCInterval     = time.Hour
	defaultMaxResultBytes = 16 << 20

	maxIDLen    = 512     // bytes in a task ID
	maxCount    = 1 << 20 // inputs in one task
	maxTaskMeta = 64 << 10
)

// validate fills in defaults and rejects negative settings.
func (o *Options) validate() error {
	switch {
	case o.Retention < 0:
		return fmt.Errorf("negative Retention %v", o.Retention)
	case o.FlushInterval < 0:
		return fmt.Errorf("negative FlushInterval %v", o.FlushInterval)
	case o.GCInterval < 0:
		return fmt.Errorf("negative GCInterval %v", o.GCInterval)
	case o.MaxResultBytes < 0:
		return fmt.Errorf("negative MaxResultBytes %d", o.MaxResultBytes)
	}
	if o.Retention == 0 {
		o.Retention = defaultRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = defaultFlushInterval
	}
	if o.GCInterval == 0 {
		o.GCInterval = defaultGCInterval
	}
	if o.MaxResultBytes == 0 {
		o.MaxResultBytes = defaultMaxResultBytes
	}
	return nil
}

// checkAdmit says what is wrong with a task offered to Admit, if anything;
// the kind is fault.Invalid or fault.TooLarge.
func checkAdmit(t *Task) (fault.Kind, error) {
	switch {
	case t.ID == "":
		return fault.Invalid, fmt.Errorf("empty task ID")
	case len(t.ID) > maxIDLen:
		return fault.Invalid, fmt.Errorf("task ID of %d bytes, over %d", len(t.ID), maxIDLen)
	case !validID(t.ID):
		return fault.Invalid, fmt.Errorf("task ID with a NUL byte")
	case t.Count < 1:
		return fault.Invalid, fmt.Errorf("count %d, want at least 1", t.Count)
	case t.Count > maxCount:
		return fault.TooLarge, fmt.Errorf("count %d, over %d", t.Count, maxCount)
	case t.Expires.IsZero():
		return fault.Invalid, fmt.Errorf("no expiry")
	case len(t.Caller)+len(t.Function) > maxTaskMeta:
		return fault.TooLarge, fmt.Errorf("caller and function of %d bytes", len(t.Caller)+len(t.Function))
	}
	return "", nil
}

// validID reports whether id can be a key: result keys put a NUL after it.
func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		if id[i] == 0 {
			return false
		}
	}
	return true
}
