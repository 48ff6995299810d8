package client

import (
	"log/slog"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// recordWriter writes the local record of tasks behind the calls that
// make and update it (Options.RecordBehind): an append to the journal
// (journal.go) costs some tens of microseconds of file system work (the
// journal and its lock opened, a lock taken and dropped, a write), the
// same for one line or a hundred, so the call queues it and returns. A
// task's record is written recordDelay after it was first queued, or at
// once on flush or close, and what was queued for it meanwhile is merged:
// a short task's record is written once, in its final state, not once when
// acknowledged and again when done. Each round writes the lines of every
// task due with one append, in the order the tasks were first queued, by
// one goroutine.
type recordWriter struct {
	home Home
	log  *slog.Logger

	mu      sync.Mutex // guards pending, order, writing, flushes, timer and closed
	pending map[string]*pendingRecord
	order   []string // task IDs of pending, in the order first queued
	writing bool     // a round of writes is in progress
	flushes int      // flush calls waiting: write everything now
	timer   bool     // a wake-up for the oldest pending record is set
	closed  bool     // no more rounds after the pending ones
	cond    *sync.Cond
	done    chan struct{} // closed when the goroutine ends
}

// recordDelay is how long a record waits to be written, so that what
// follows soon (a short task's end) is written with it. It is also how
// long a killed process may have acknowledged a task it left no record of;
// rounds cost tens of microseconds, so at most 200 a second cost little.
const recordDelay = 5 * time.Millisecond

// pendingRecord is what is queued for one task: a new record (with every
// later note applied), or notes for a record on disk.
type pendingRecord struct {
	queued time.Time
	rec    *TaskRecord
	notes  []note
}

type note struct {
	st *Status
	at time.Time
}

func newRecordWriter(home Home, log *slog.Logger) *recordWriter {
	w := &recordWriter{home: home, log: log, pending: map[string]*pendingRecord{}, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.loop()
	return w
}

// record queues a new record.
func (w *recordWriter) record(r TaskRecord) {
	if r.State == stateNone {
		r.State = StateReceived
	}
	if r.Seen.IsZero() {
		r.Seen = r.Submitted
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.writeClosed(r.TaskID, &pendingRecord{rec: &r})
		return
	}
	if w.pending[r.TaskID] == nil {
		w.order = append(w.order, r.TaskID)
	}
	w.pending[r.TaskID] = &pendingRecord{queued: time.Now(), rec: &r}
	w.cond.Broadcast()
}

// note queues st as seen at now for task id (Home.NoteTask).
func (w *recordWriter) note(id string, st *Status, now time.Time) {
	if st == nil || st.State == StateUnknown {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.writeClosed(id, &pendingRecord{notes: []note{{st, now}}})
		return
	}
	p := w.pending[id]
	switch {
	case p == nil:
		w.pending[id] = &pendingRecord{queued: time.Now(), notes: []note{{st, now}}}
		w.order = append(w.order, id)
		w.cond.Broadcast()
	case p.rec != nil:
		noteTask(p.rec, st, now)
	default:
		p.notes = append(p.notes, note{st, now})
	}
}

// flush waits until everything queued before it was written.
func (w *recordWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	w.cond.Broadcast()
	for len(w.order) > 0 || w.writing {
		w.cond.Wait()
	}
	w.flushes--
}

// close writes what is queued and ends the goroutine.
func (w *recordWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
}

// dueLocked is how many of the pending records are to be written now, and
// how long until the first of the others is.
func (w *recordWriter) dueLocked(now time.Time) (int, time.Duration) {
	if w.closed || w.flushes > 0 {
		return len(w.order), 0
	}
	for i, id := range w.order {
		if wait := recordDelay - now.Sub(w.pending[id].queued); wait > 0 {
			return i, wait
		}
	}
	return len(w.order), 0
}

func (w *recordWriter) loop() {
	defer close(w.done)
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		n, wait := w.dueLocked(time.Now())
		if n == 0 {
			if w.closed {
				return
			}
			if wait > 0 && !w.timer {
				w.timer = true
				time.AfterFunc(wait, func() {
					w.mu.Lock()
					w.timer = false
					w.cond.Broadcast()
					w.mu.Unlock()
				})
			}
			w.cond.Wait()
			continue
		}
		order := w.order[:n:n]
		w.order = w.order[n:]
		batch := make([]*pendingRecord, n)
		for i, id := range order {
			batch[i] = w.pending[id]
			delete(w.pending, id)
		}
		w.writing = true
		w.mu.Unlock()
		if err := w.write(order, batch); err != nil {
			w.log.Warn("task record", "tasks", len(order), "err", err)
		}
		w.mu.Lock()
		w.writing = false
		w.cond.Broadcast()
	}
}

// writeClosed writes p at once, with w.mu held: after close, for a call
// that ends after the client closed.
func (w *recordWriter) writeClosed(id string, p *pendingRecord) {
	if err := w.write([]string{id}, []*pendingRecord{p}); err != nil {
		w.log.Warn("task record", "task", id, "err", err)
	}
}

// write appends the lines of a round to the journal, with one write: the
// new records, and the notes that change a record it or an earlier
// version's file holds (one that moves a record of an earlier version's
// file into the journal with it). A note for a task without a record is
// dropped.
func (w *recordWriter) write(ids []string, batch []*pendingRecord) error {
	buf, err := w.lines(ids, batch)
	if err != nil {
		return err
	}
	return w.home.appendJournal(buf)
}

// lines are the journal lines of a round (write).
func (w *recordWriter) lines(ids []string, batch []*pendingRecord) ([]byte, error) {
	var buf []byte
	var err error
	var x *journalIndex
	for i, p := range batch {
		if p.rec != nil {
			if buf, err = appendRecord(buf, *p.rec); err != nil {
				return nil, err
			}
			continue
		}
		if x == nil {
			if x, err = w.home.journal(); err != nil {
				return nil, err
			}
			defer x.mu.Unlock()
		}
		if r := x.tasks[ids[i]]; r != nil {
			r := *r
			for _, n := range p.notes {
				if !noteTask(&r, n.st, n.at) {
					continue // changes nothing: no line
				}
				if buf, err = appendNote(buf, ids[i], n.st, n.at); err != nil {
					return nil, err
				}
			}
			continue
		}
		r, err := w.home.legacyTask(ids[i])
		if fault.KindOf(err) == fault.NotFound {
			continue // submitted elsewhere: no record to update
		}
		if err != nil {
			return nil, err
		}
		changed := false
		for _, n := range p.notes {
			changed = noteTask(&r, n.st, n.at) || changed
		}
		if changed {
			if buf, err = appendRecord(buf, r); err != nil {
				return nil, err
			}
		}
	}
	return buf, nil
}
