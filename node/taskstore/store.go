package taskstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// The sentinel errors. The store wraps them in a *fault.Error that names the
// operation and the task, with the kinds fault.Replayed, fault.NotFound and
// fault.Unavailable: test with errors.Is or fault.KindOf.
var (
	ErrReplayed = errors.New("invocation seen before")
	ErrNotFound = errors.New("no such task")
	ErrClosed   = errors.New("store closed")
)

var _ io.Closer = (*Store)(nil)

// flushBatch is how many pending writes prompt a flush before FlushInterval
// has passed.
const flushBatch = 4096

// Store is the endpoint's durable record of tasks. Its methods are safe for
// concurrent use.
type Store struct {
	db      *bolt.DB
	journal *journal
	mark    string    // the open mark's path: present while open, or after a crash
	horizon time.Time // admissions before it may have been lost: Admit refuses tasks issued earlier
	opts    Options
	log     *slog.Logger

	mu       sync.Mutex        // guards the fields below and those of every entry and follower
	live     map[string]*entry // tasks being admitted, unfinished, or finished but not yet flushed
	dirty    []*entry          // entries with writes for the next flush
	pending  int               // writes waiting in dirty
	flushErr error             // the last flush's error; nil once one succeeds
	seq      uint64            // the last seq assigned to an entry
	closed   bool

	flushMu sync.Mutex // held across a flush, so that snapshots commit in order

	kick      chan struct{}  // cap 1: dirty became non-empty
	urgent    chan struct{}  // cap 1: flushBatch writes are pending
	closing   chan struct{}  // closed when Close begins
	cancel    func()         // stops the flusher and the collector
	ops       sync.WaitGroup // calls in progress that read or write the files
	wg        sync.WaitGroup // the flusher, the collector and the followers
	closeOnce sync.Once
	closeErr  error
}

// entry is a task in memory: the overlay that serves reads until its writes
// are flushed. Its fields are guarded by Store.mu.
type entry struct {
	id        string
	task      Task
	admitted  bool            // durable; false while Admit is in flight
	seq       uint64          // keys its results on disk; assigned by its first flush
	stored    bool            // a flush wrote the task, and so its active key
	onDisk    bool            // a flush wrote some of its results
	taskDirty bool            // task changed since it was last handed to a flush
	inDirty   bool            // in Store.dirty
	pending   []invoke.Result // results for the next flush
	flushing  []invoke.Result // results the flush in progress is writing
	seen      []uint64        // bit i: input i has a result
	done      chan struct{}   // closed when the task finishes; made by Wait
	followers []*follower
}

func (e *entry) has(i int) bool { return len(e.seen) > i/64 && e.seen[i/64]&(1<<(i%64)) != 0 }

func (e *entry) set(i int) {
	if e.seen == nil {
		e.seen = make([]uint64, (e.task.Count+63)/64)
	}
	e.seen[i/64] |= 1 << (i % 64)
}

// Open opens the store at path, a bbolt file, and its admission journal,
// the files path+".journal-a" and path+".journal-b", creating them (mode
// 0600) if need be. Another process holding the store makes it fail after a
// second. Open recovers from a crash first: admissions still in the journal
// are folded into the database, and every task left received, queued or
// running is marked failed with kind fault.System and the message
// "endpoint restarted". Then it collects garbage once, and starts the
// write-behind flusher and the garbage collector.
func Open(path string, opts Options) (*Store, error) {
	op := "taskstore: open " + path
	if err := opts.validate(); err != nil {
		return nil, fault.Wrap(fault.Invalid, op, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         opts.NoSync,
		NoStatistics:   true,
	})
	if err != nil {
		return nil, fault.Wrap(fault.Internal, op, err)
	}
	j, journaled, err := openJournal(path+".journal", opts.NoSync, opts.preallocate)
	if err != nil {
		db.Close()
		return nil, fault.Wrap(fault.Internal, op, fmt.Errorf("journal: %w", err))
	}
	j.lazy = !opts.SyncAdmissions
	markPath := path + ".open"
	prev, crashed, err := readMark(markPath)
	if err != nil {
		j.close()
		db.Close()
		return nil, fault.Wrap(fault.Internal, op, err)
	}
	bootID, booted, _ := opts.boot()
	cur := openMark{boot: bootID, synced: opts.SyncAdmissions}
	lost := lostSince(prev, crashed, cur, booted, opts.Now())
	var (
		folded, failed int
		seq            uint64
		horizon        time.Time
	)
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initBuckets(tx); err != nil {
			return err
		}
		var err error
		if seq, err = lastSeq(tx); err != nil {
			return err
		}
		if horizon, err = raiseHorizon(tx, lost); err != nil {
			return err
		}
		folded, failed, err = recoverTx(tx, journaled, opts.Now(), opts.Retention)
		return err
	})
	if err == nil {
		err = j.retireAll() // the records are in bbolt now
	}
	if err == nil {
		err = writeMark(markPath, cur, opts.NoSync)
	}
	if err != nil {
		j.close()
		db.Close()
		return nil, fault.Wrap(fault.Internal, op, err)
	}
	if folded > 0 || failed > 0 {
		opts.Logger.Info("taskstore: recovered", "path", path, "journaled", folded, "failed", failed)
	}
	if size := j.size(); size < journalInitialSize {
		opts.Logger.Warn("taskstore: a smaller journal than usual, for lack of space when it was made: it grows as it must, if it can",
			"path", path, "size", sizeText(size), "usual", sizeText(journalInitialSize))
	}
	if !lost.IsZero() {
		opts.Logger.Warn("taskstore: the machine restarted without closing the store; invocations issued before it restarted are refused",
			"path", path, "horizon", horizon)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		db:      db,
		journal: j,
		mark:    markPath,
		horizon: horizon,
		opts:    opts,
		log:     opts.Logger,
		live:    make(map[string]*entry),
		seq:     seq,
		kick:    make(chan struct{}, 1),
		urgent:  make(chan struct{}, 1),
		closing: make(chan struct{}),
		cancel:  cancel,
	}
	j.onDurable = s.admitted
	if err := s.collect(); err != nil {
		s.log.Error("taskstore: collect garbage", "err", err)
	}
	s.wg.Add(2)
	go s.runFlusher(ctx)
	go s.runCollector(ctx)
	return s, nil
}

// Admit records t as received, refusing it if its ID was seen before. Only
// t's ID, Caller, Function, Count, Expires and Issued are used. When Admit
// returns nil the admission is journaled: the same ID is refused, after a
// crash too, until the task is purged and t.Expires has passed. With
// Options.SyncAdmissions the journal is synced first; otherwise the kernel
// holds it until the next flush, and a crash of the machine in between is
// covered by the horizon instead.
//
// Concurrent Admits share one write (group commit). Admit takes no
// context: it is bounded by one disk write or sync and must not return
// before it knows whether the admission is recorded. The caller owns the
// admitted task and must finish it (PutResult, Fail), or it stays
// unfinished until a restart.
func (s *Store) Admit(t Task) error {
	if kind, err := checkAdmit(&t); err != nil {
		return fault.Wrap(kind, "taskstore: admit "+t.ID, err)
	}
	now := s.opts.Now()
	if !now.Before(t.Expires) {
		return fault.E(fault.Expired, "taskstore: admit "+t.ID, "expired at %s", t.Expires.Format(time.RFC3339Nano))
	}
	if t.Issued.Before(s.horizon) {
		return fault.E(fault.Expired, "taskstore: admit "+t.ID,
			"issued before this endpoint's machine restarted at %s without closing its task store, so it may have been seen; sign it again",
			s.horizon.Format(time.RFC3339))
	}
	e := &entry{id: t.ID, task: Task{
		ID:       t.ID,
		Caller:   t.Caller,
		Function: t.Function,
		Count:    t.Count,
		Expires:  t.Expires,
		State:    invoke.StateReceived,
		Received: now,
	}}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return closedErr("admit", t.ID)
	case s.flushErr != nil:
		err := s.flushErr
		s.mu.Unlock()
		return fault.E(fault.Internal, "taskstore: admit "+t.ID, "cannot write: %w", err)
	case s.live[t.ID] != nil:
		s.mu.Unlock()
		return &fault.Error{Kind: fault.Replayed, Op: "taskstore: admit " + t.ID, Err: ErrReplayed}
	}
	s.live[t.ID] = e // claims the ID while we look on disk
	s.ops.Add(1)
	s.mu.Unlock()
	defer s.ops.Done()

	seen := false
	err := s.db.View(func(tx *bolt.Tx) error {
		seen = tx.Bucket(bucketTasks).Get([]byte(t.ID)) != nil
		return nil
	})
	if err == nil && !seen {
		err = s.journal.append(encodeAdmit(&e.task), e)
	}
	if err != nil || seen {
		s.mu.Lock()
		delete(s.live, t.ID)
		s.mu.Unlock()
	}
	switch {
	case err != nil:
		return fault.Wrap(fault.Internal, "taskstore: admit "+t.ID, err)
	case seen:
		return &fault.Error{Kind: fault.Replayed, Op: "taskstore: admit " + t.ID, Err: ErrReplayed}
	}
	return nil
}

// Seen reports whether Admit would now refuse id as a replay: a task of
// that ID is being admitted, is held, or has left a tombstone. It records
// nothing, so that a decision can consult it before anything is written;
// Admit checks again as it records.
func (s *Store) Seen(id string) (bool, error) {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return false, closedErr("seen", id)
	case s.live[id] != nil:
		s.mu.Unlock()
		return true, nil
	}
	s.ops.Add(1)
	s.mu.Unlock()
	defer s.ops.Done()
	seen := false
	err := s.db.View(func(tx *bolt.Tx) error {
		seen = tx.Bucket(bucketTasks).Get([]byte(id)) != nil
		return nil
	})
	if err != nil {
		return false, fault.Wrap(fault.Internal, "taskstore: seen "+id, err)
	}
	return seen, nil
}

// admitted marks a group of journaled admissions durable and queues them
// for bbolt. The journal calls it.
func (s *Store) admitted(es []*entry) {
	s.mu.Lock()
	for _, e := range es {
		e.admitted = true
		e.taskDirty = true
		s.markDirtyLocked(e, 1)
	}
	s.mu.Unlock()
}

// markDirtyLocked queues e for the next flush, n more writes pending.
func (s *Store) markDirtyLocked(e *entry, n int) {
	s.pending += n
	if !e.inDirty {
		e.inDirty = true
		if len(s.dirty) == 0 {
			signal(s.kick)
		}
		s.dirty = append(s.dirty, e)
	}
	if s.pending >= flushBatch {
		signal(s.urgent)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// liveLocked returns the admitted entry for id. If there is none, it returns
// a nil entry and, with the lock released, the error to return: not found,
// already finished, or closed.
func (s *Store) liveLocked(verb, id string) (*entry, error) {
	if s.closed {
		s.mu.Unlock()
		return nil, closedErr(verb, id)
	}
	if e := s.live[id]; e != nil && e.admitted {
		return e, nil
	}
	s.ops.Add(1)
	s.mu.Unlock()
	defer s.ops.Done()
	t, err := s.load(verb, id)
	if err != nil {
		return nil, err
	}
	if t.State.Finished() {
		return nil, fault.E(fault.Invalid, "taskstore: "+verb+" "+id, "task is %s", t.State)
	}
	// Unfinished on disk yet not in memory: only a bug gets here, since
	// Open fails every task it finds unfinished.
	return nil, fault.E(fault.Internal, "taskstore: "+verb+" "+id, "task is %s on disk but unknown in memory", t.State)
}

// SetState moves a task to invoke.StateQueued or invoke.StateRunning and
// records when. Setting the state it is already in does nothing; moving
// back, or out of a final state, is an error of kind fault.Invalid. A task
// finishes through PutResult (done) or Fail (failed). The change is written
// behind: see the package documentation.
func (s *Store) SetState(id string, st invoke.State) error {
	if st != invoke.StateQueued && st != invoke.StateRunning {
		return fault.E(fault.Invalid, "taskstore: set state "+id, "cannot set %q: a task finishes through PutResult or Fail", st)
	}
	s.mu.Lock()
	e, err := s.liveLocked("set state", id)
	if e == nil {
		return err
	}
	defer s.mu.Unlock()
	cur := e.task.State
	switch {
	case cur.Finished():
		return fault.E(fault.Invalid, "taskstore: set state "+id, "task is %s", cur)
	case st == cur:
		return nil
	case rank(st) < rank(cur):
		return fault.E(fault.Invalid, "taskstore: set state "+id, "cannot go back from %s to %s", cur, st)
	}
	now := s.opts.Now()
	e.task.State = st
	if st == invoke.StateQueued {
		e.task.Queued = now
	} else {
		e.task.Started = now
	}
	e.taskDirty = true
	s.markDirtyLocked(e, 1)
	return nil
}

// PutResult stores the result of input r.Index; the store keeps r, whose
// Value the caller must not change afterwards. A task not yet running moves
// to invoke.StateRunning; once every input has a result, the task is done,
// even if some results hold errors. Storing an index twice, or into a
// finished task, is an error of kind fault.Invalid; a result over
// MaxResultBytes, of kind fault.TooLarge. The result is written behind: see the package
// documentation.
func (s *Store) PutResult(id string, r invoke.Result) error {
	if n := resultSize(&r); n > s.opts.MaxResultBytes {
		return fault.E(fault.TooLarge, "taskstore: put result "+id, "result %d of %d bytes, over %d", r.Index, n, s.opts.MaxResultBytes)
	}
	s.mu.Lock()
	e, err := s.liveLocked("put result", id)
	if e == nil {
		return err
	}
	defer s.mu.Unlock()
	switch {
	case e.task.State.Finished():
		return fault.E(fault.Invalid, "taskstore: put result "+id, "task is %s", e.task.State)
	case r.Index < 0 || r.Index >= e.task.Count:
		return fault.E(fault.Invalid, "taskstore: put result "+id, "index %d outside [0, %d)", r.Index, e.task.Count)
	case e.has(r.Index):
		return fault.E(fault.Invalid, "taskstore: put result "+id, "result %d already stored", r.Index)
	}
	e.set(r.Index)
	e.task.Completed++
	e.pending = append(e.pending, r)
	for _, f := range e.followers {
		f.queue = append(f.queue, r)
		signal(f.wake)
	}
	if rank(e.task.State) < rank(invoke.StateRunning) || e.task.Completed == e.task.Count {
		now := s.opts.Now()
		if rank(e.task.State) < rank(invoke.StateRunning) {
			e.task.State = invoke.StateRunning
			e.task.Started = now
		}
		if e.task.Completed == e.task.Count {
			s.finishLocked(e, invoke.StateDone, nil, now)
		}
	}
	e.taskDirty = true
	s.markDirtyLocked(e, 1)
	return nil
}

// Fail marks a task failed as a whole, for a reason that is not one
// input's: the executor is gone, the task timed out. An empty fe.Kind
// becomes fault.Internal. Failing a finished task is an error of kind
// fault.Invalid. Results already stored are kept.
func (s *Store) Fail(id string, fe invoke.Error) error {
	if fe.Kind == "" {
		fe.Kind = string(fault.Internal)
	}
	s.mu.Lock()
	e, err := s.liveLocked("fail", id)
	if e == nil {
		return err
	}
	defer s.mu.Unlock()
	if e.task.State.Finished() {
		return fault.E(fault.Invalid, "taskstore: fail "+id, "task is %s", e.task.State)
	}
	s.finishLocked(e, invoke.StateFailed, &fe, s.opts.Now())
	e.taskDirty = true
	s.markDirtyLocked(e, 1)
	return nil
}

// Cancel ends an unfinished task as invoke.StateCancelled: results already
// stored are kept, and a result stored afterwards is refused (fault.Invalid),
// so that what the executor still returns of a stopped input is dropped. A
// task that had finished already is left as it was. Either way the task is
// returned as it now is. Stopping what runs is the caller's work.
func (s *Store) Cancel(id string) (Task, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Task{}, closedErr("cancel", id)
	}
	e := s.live[id]
	if e == nil || !e.admitted || e.task.State.Finished() {
		s.mu.Unlock()
		return s.Get(id)
	}
	defer s.mu.Unlock()
	s.finishLocked(e, invoke.StateCancelled, nil, s.opts.Now())
	e.taskDirty = true
	s.markDirtyLocked(e, 1)
	return e.task, nil
}

// finishLocked moves e to its final state and wakes its waiters.
func (s *Store) finishLocked(e *entry, st invoke.State, fe *invoke.Error, now time.Time) {
	e.task.State = st
	e.task.Finished = now
	e.task.Error = fe
	if e.done != nil {
		close(e.done)
	}
	for _, f := range e.followers {
		f.ended = true
		signal(f.wake)
	}
	e.followers = nil
}

// Horizon returns the time before which admissions may have been lost, by
// a crash of the machine while some were not yet synced; the zero time if
// there was none. Admit refuses tasks issued before it.
func (s *Store) Horizon() time.Time { return s.horizon }

// Get returns the task id. An unknown task, or one purged after its
// retention, is an error of kind fault.NotFound.
func (s *Store) Get(id string) (Task, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Task{}, closedErr("get", id)
	}
	if e := s.live[id]; e != nil && e.admitted {
		t := e.task
		s.mu.Unlock()
		return t, nil
	}
	s.ops.Add(1)
	s.mu.Unlock()
	defer s.ops.Done()
	return s.load("get", id)
}

// load reads id from the database. The caller holds ops.
func (s *Store) load(verb, id string) (Task, error) {
	var t Task
	var ok, tomb bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		t, _, ok, tomb, err = getTask(tx, id)
		return err
	})
	switch {
	case err != nil:
		return Task{}, fault.Wrap(fault.Internal, "taskstore: "+verb+" "+id, err)
	case !ok || tomb:
		return Task{}, &fault.Error{Kind: fault.NotFound, Op: "taskstore: " + verb + " " + id, Err: ErrNotFound}
	}
	return t, nil
}

// Results returns the task's stored results with index from on, ordered by
// index, at most limit of them (limit <= 0: all). Inputs without a result
// yet are missing, so the indexes may have gaps; to read a large batch in
// pages, call again from the last index plus one.
func (s *Store) Results(id string, from, limit int) ([]invoke.Result, error) {
	from = max(from, 0)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, closedErr("results", id)
	}
	e := s.live[id]
	if e != nil && !e.admitted {
		e = nil
	}
	var mem []invoke.Result
	if e != nil {
		for _, rs := range [2][]invoke.Result{e.flushing, e.pending} {
			for _, r := range rs {
				if r.Index >= from {
					mem = append(mem, r)
				}
			}
		}
	}
	s.ops.Add(1)
	s.mu.Unlock()
	defer s.ops.Done()

	var skip func(int) bool
	if len(mem) > 0 {
		inMem := make(map[int]struct{}, len(mem))
		for _, r := range mem {
			inMem[r.Index] = struct{}{}
		}
		skip = func(i int) bool { _, ok := inMem[i]; return ok }
	}
	var rs []invoke.Result
	err := s.db.View(func(tx *bolt.Tx) error {
		// A live task may have no record yet: then all its results are
		// in mem.
		_, seq, ok, tomb, err := getTask(tx, id)
		switch {
		case err != nil:
			return err
		case e == nil && (!ok || tomb):
			return ErrNotFound
		}
		rs, err = storedResults(tx, seq, from, limit, skip, mem)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, &fault.Error{Kind: fault.NotFound, Op: "taskstore: results " + id, Err: ErrNotFound}
	case err != nil:
		return nil, fault.Wrap(fault.Internal, "taskstore: results "+id, err)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Index < rs[j].Index })
	if limit > 0 && len(rs) > limit {
		rs = rs[:limit]
	}
	return rs, nil
}

// Wait blocks until the task is done or failed, and returns it; or until ctx
// ends (kind fault.Timeout for a deadline) or the store closes (kind
// fault.Unavailable).
func (s *Store) Wait(ctx context.Context, id string) (Task, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Task{}, closedErr("wait", id)
	}
	if e := s.live[id]; e != nil && e.admitted && !e.task.State.Finished() {
		if e.done == nil {
			e.done = make(chan struct{})
		}
		done := e.done
		s.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return Task{}, ctxErr("wait", id, ctx.Err())
		case <-s.closing:
			return Task{}, closedErr("wait", id)
		}
		return s.Get(id)
	}
	s.mu.Unlock()
	return s.Get(id)
}

// Close stops the background work, flushes everything written behind,
// folds the journal into the database and closes the files. It waits for
// the calls in progress; Wait and Follow return early. Later calls fail with
// ErrClosed. Close is idempotent: every call returns the error of the first,
// from the final flush or from closing the files.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		s.ops.Wait()
		s.cancel()
		s.wg.Wait()
		s.flushMu.Lock()
		err := s.journal.checkpoint(s.flushLocked)
		s.flushMu.Unlock()
		err = errors.Join(err, s.journal.close(), s.db.Close())
		if err == nil {
			err = removeMark(s.mark, s.opts.NoSync) // a clean close
		}
		if err != nil {
			s.closeErr = fault.Wrap(fault.Internal, "taskstore: close", err)
		}
	})
	return s.closeErr
}

// flush writes what is pending in one transaction.
func (s *Store) flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.flushLocked()
}

// checkpoint flushes and empties the journal.
func (s *Store) checkpoint() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.journal.checkpoint(s.flushLocked)
}

// flushLocked takes a snapshot of the dirty entries, writes it, and drops
// from memory the finished tasks it wrote in full. On failure the snapshot
// goes back into the queue for the next try. The caller holds flushMu.
func (s *Store) flushLocked() error {
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = nil
	s.pending = 0
	items := make([]flushItem, len(dirty))
	for i, e := range dirty {
		e.inDirty = false
		it := &items[i]
		it.e = e
		if e.seq == 0 {
			s.seq++
			e.seq = s.seq
		}
		it.seq = e.seq
		if e.taskDirty {
			it.task, it.writeTask, it.wasStored = e.task, true, e.stored
			e.taskDirty = false
		}
		if len(e.pending) > 0 {
			e.flushing, e.pending = e.pending, nil
			it.results = e.flushing
		}
	}
	seq := s.seq
	s.mu.Unlock()
	if len(items) == 0 {
		return nil
	}

	err := s.db.Update(func(tx *bolt.Tx) error { return writeItems(tx, items, seq, s.opts.Retention) })

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		for i := range items {
			it := &items[i]
			e := it.e
			if it.writeTask {
				e.taskDirty = true
			}
			if it.results != nil {
				e.pending = append(it.results, e.pending...)
				e.flushing = nil
			}
			s.markDirtyLocked(e, 1+len(it.results))
		}
		if s.flushErr == nil {
			s.log.Error("taskstore: flush", "err", err, "pending", len(items))
		}
		s.flushErr = err
		return fmt.Errorf("taskstore: flush: %w", err)
	}
	if s.flushErr != nil {
		s.log.Info("taskstore: flush recovered")
		s.flushErr = nil
	}
	for i := range items {
		e := items[i].e
		e.flushing = nil
		if items[i].writeTask {
			e.stored = true
		}
		if items[i].results != nil {
			e.onDisk = true
		}
		if e.task.State.Finished() && !e.inDirty && s.live[e.id] == e {
			delete(s.live, e.id)
		}
	}
	return nil
}

// runFlusher writes behind: FlushInterval after the first pending write, or
// sooner once flushBatch are pending, it flushes; when the journal has grown
// past its checkpointAt, it folds it into the database.
func (s *Store) runFlusher(ctx context.Context) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var backoff time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		timer.Reset(s.opts.FlushInterval + backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-s.urgent:
			timer.Stop()
		}
		err := s.flush()
		if err == nil && s.journal.used() >= s.journal.checkpointAt {
			if err = s.checkpoint(); err != nil {
				s.log.Error("taskstore: checkpoint", "err", err)
			}
		}
		if err != nil {
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
		} else {
			backoff = 0
		}
	}
}

// runCollector deletes expired tasks every GCInterval; Open did the first
// pass.
func (s *Store) runCollector(ctx context.Context) {
	defer s.wg.Done()
	ticker := time.NewTicker(s.opts.GCInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if err := s.collect(); err != nil {
			s.log.Error("taskstore: collect garbage", "err", err)
		}
	}
}

// collect purges the tasks whose retention has passed: their results go,
// and the task itself too unless its invocation has not yet expired, in
// which case a tombstone keeps refusing replays until it has. It empties
// the journal first, so that no admission it holds can outlive its task.
func (s *Store) collect() error {
	if err := s.checkpoint(); err != nil {
		return err
	}
	now := s.opts.Now()
	purged := 0
	var next []byte
	for {
		var n int
		err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			n, next, err = collectTx(tx, now, s.isLive, next)
			return err
		})
		if err != nil {
			return fmt.Errorf("taskstore: collect: %w", err)
		}
		purged += n
		if next == nil {
			break
		}
	}
	if purged > 0 {
		s.log.Debug("taskstore: collected", "expired", purged)
	}
	return nil
}

func (s *Store) isLive(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[id] != nil
}

func closedErr(verb, id string) error {
	return &fault.Error{Kind: fault.Unavailable, Op: "taskstore: " + verb + " " + id, Err: ErrClosed}
}

func ctxErr(verb, id string, err error) error {
	kind := fault.Unavailable
	if errors.Is(err, context.DeadlineExceeded) {
		kind = fault.Timeout
	}
	return fault.Wrap(kind, "taskstore: "+verb+" "+id, err)
}

// Healthy returns why the store cannot admit tasks now (a write that keeps
// failing, a full disk), or nil when it can.
func (s *Store) Healthy() error {
	s.mu.Lock()
	err := s.flushErr
	s.mu.Unlock()
	if err == nil {
		err = s.journal.failed()
	}
	return err
}
