package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/internal/atomicfile"
)

// The journal of task records is $FX_HOME/tasks/records.ndjson: one JSON
// object a line, either a task's whole record (TaskRecord) or a note of
// its status seen later (journalNote). Writers only append, a whole batch
// of complete lines with one write(2) on a file opened O_APPEND, so lines
// of several fx processes never interleave. A reader merges the lines in
// file order: a record line gives the fields (its state never moving
// back, see mergeRecord), a note is applied as NoteTask applies it, and a
// note for a task without a record line is ignored. A last line without
// its newline (a write in progress) is left for a later read; a line that
// does not decode is skipped, all but the whole line that may end it (one
// appended after a write cut short).
//
// Appenders hold a shared flock on tasks/records.lock while they open and
// write the journal; compaction (compactJournal) holds it exclusively
// while it rewrites the journal, one line per task, and renames it over,
// so no line is appended to a file about to be replaced.

const (
	journalName = "records.ndjson"
	lockName    = "records.lock"
	// journalKeep is how long a finished task is kept by compaction after
	// it was last seen.
	journalKeep = 30 * 24 * time.Hour
)

// journalCompactAt is the size over which a writer compacts the journal,
// when it is also more than twice the size of the last compaction's result
// (which records.lock holds). Tests lower it.
var journalCompactAt int64 = 16 << 20

// journalAppends counts appends to any journal, for tests.
var journalAppends atomic.Int64

// journalNote is a note line: a task's status seen at Seen.
type journalNote struct {
	TaskID string       `json:"task_id"`
	Note   bool         `json:"note"`
	State  State        `json:"state"`
	Seen   time.Time    `json:"seen"`
	Done   int          `json:"done"`
	Count  int          `json:"count,omitempty"`
	Error  *ResultError `json:"error,omitempty"`
}

// journalLine is any line, as decoded: a note when Note is set.
type journalLine struct {
	TaskRecord
	Note bool `json:"note,omitempty"`
}

func (h Home) journalPath() string { return filepath.Join(h.taskDir(), journalName) }

// appendRecord adds r's record line to buf.
func appendRecord(buf []byte, r TaskRecord) ([]byte, error) {
	r.Submitted, r.Seen = r.Submitted.UTC(), r.Seen.UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return buf, fmt.Errorf("client: task record %s: %w", r.TaskID, err)
	}
	return append(append(buf, b...), '\n'), nil
}

// appendNote adds a note line to buf: st as seen at now for task id.
func appendNote(buf []byte, id string, st *Status, now time.Time) ([]byte, error) {
	b, err := json.Marshal(journalNote{TaskID: id, Note: true, State: st.State, Seen: now.UTC(), Done: st.Done, Count: st.Count, Error: st.Error})
	if err != nil {
		return buf, fmt.Errorf("client: task note %s: %w", id, err)
	}
	return append(append(buf, b...), '\n'), nil
}

// mergeRecord is the record a record line r makes of the task's record so
// far, old (nil when none): r's fields, but never an earlier state than
// old's, nor another than old's final one.
func mergeRecord(old *TaskRecord, r TaskRecord) TaskRecord {
	if old != nil && (old.State.Finished() || stateRank(old.State) > stateRank(r.State)) {
		r.State, r.Seen, r.Done, r.Error = old.State, old.Seen, old.Done, old.Error
		if r.Count == 0 {
			r.Count = old.Count
		}
	}
	return r
}

// applyLines merges the complete lines of b into tasks and returns how
// many bytes they take: a last line without its newline is left.
func applyLines(tasks map[string]*TaskRecord, b []byte) int {
	used := 0
	for {
		i := bytes.IndexByte(b[used:], '\n')
		if i < 0 {
			return used
		}
		applyLine(tasks, b[used:used+i])
		used += i + 1
	}
}

// lineStart is how every record and note line starts.
var lineStart = []byte(`{"task_id":`)

func applyLine(tasks map[string]*TaskRecord, line []byte) {
	var l journalLine
	if err := json.Unmarshal(line, &l); err != nil {
		// A write cut short (a full disk, a crash) leaves part of a line
		// that the next append completes with a whole one: read that.
		i := bytes.LastIndex(line, lineStart)
		if i <= 0 || json.Unmarshal(line[i:], &l) != nil {
			return
		}
	}
	if l.TaskID == "" {
		return // a header
	}
	old := tasks[l.TaskID]
	if l.Note {
		if old != nil {
			noteTask(old, &Status{State: l.State, Done: l.Done, Count: l.Count, Error: l.Error}, l.Seen)
		}
		return
	}
	r := l.TaskRecord
	if r.State == stateNone {
		r.State = StateReceived
	}
	r = mergeRecord(old, r)
	tasks[r.TaskID] = &r
}

// appendJournal writes b, whole lines, to the end of the journal with one
// write, under a shared lock, then compacts the journal if it grew large.
// A compaction that fails fails no append: the journal stays whole, only
// larger, and the next append tries again.
func (h Home) appendJournal(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	dir := h.taskDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("client: task journal: %w", err)
	}
	lock, err := openLocked(dir, lockShared)
	if err != nil {
		return fmt.Errorf("client: task journal: %w", err)
	}
	defer lock.Close()
	size, err := appendFile(h.journalPath(), b)
	journalAppends.Add(1)
	var last int64
	if err == nil && size > journalCompactAt {
		last = compactedSize(lock)
	}
	unlock(lock)
	if err != nil {
		return fmt.Errorf("client: task journal: %w", err)
	}
	if size > journalCompactAt && size > 2*last {
		_ = h.compactJournal()
	}
	return nil
}

// openLocked opens dir's records.lock and takes it with take (lockShared or
// lockExclusive); the caller unlocks and closes it.
func openLocked(dir string, take func(*os.File) error) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := take(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return lock, nil
}

// appendFile appends b to path with one write and returns the file's size
// after it.
func appendFile(path string, b []byte) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := f.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	var size int64
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil {
			size = fi.Size()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return size, err
}

// compactedSize is the size of the journal the last compaction left, as
// records.lock says; 0 when it says none.
func compactedSize(lock *os.File) int64 {
	var b [24]byte
	n, _ := lock.ReadAt(b[:], 0)
	v, err := strconv.ParseInt(string(bytes.TrimSpace(b[:n])), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// compactJournal rewrites the journal with one record line per task,
// merged, less the tasks finished and last seen more than journalKeep
// ago, under the exclusive lock; it does nothing when another process
// compacted it meanwhile.
func (h Home) compactJournal() error {
	dir := h.taskDir()
	lock, err := openLocked(dir, lockExclusive)
	if err != nil {
		return fmt.Errorf("client: compact task journal: %w", err)
	}
	defer lock.Close()
	defer unlock(lock)
	path := h.journalPath()
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("client: compact task journal: %w", err)
	}
	if last := compactedSize(lock); int64(len(b)) <= journalCompactAt || int64(len(b)) <= 2*last {
		return nil // compacted by another meanwhile
	}
	tasks := map[string]*TaskRecord{}
	applyLines(tasks, b)
	old := time.Now().Add(-journalKeep)
	recs := make([]TaskRecord, 0, len(tasks))
	for _, r := range tasks {
		if r.State.Finished() && r.Seen.Before(old) {
			continue
		}
		recs = append(recs, *r)
	}
	sortTasks(recs)
	// The header makes the new file's start unlike the old one's, for
	// readers that know a file by its start (journalIndex).
	out := fmt.Appendf(nil, "{\"compacted\":%q}\n", time.Now().UTC().Format(time.RFC3339Nano))
	for i := len(recs) - 1; i >= 0; i-- { // oldest first, as appended
		if out, err = appendRecord(out, recs[i]); err != nil {
			return err
		}
	}
	if err := atomicfile.Write(path, out, 0o600); err != nil {
		return fmt.Errorf("client: compact task journal: %w", err)
	}
	if err := lock.Truncate(0); err == nil {
		_, _ = lock.WriteAt([]byte(strconv.Itoa(len(out))), 0)
	}
	return nil
}

// journalIndex is a process's merged view of one journal, brought up to
// date on each read by reading only what was appended since the last.
type journalIndex struct {
	mu    sync.Mutex // guards the fields below
	info  os.FileInfo
	head  []byte // the file's first bytes, as read
	off   int64  // bytes of the file merged into tasks
	tasks map[string]*TaskRecord
	// read and rebuilds count bytes read and rebuilds, for tests.
	read     int64
	rebuilds int
}

// headLen is how many of a journal's first bytes its index remembers, to
// tell a file rewritten by compaction whose inode number was reused.
const headLen = 64

var journals = struct {
	mu sync.Mutex // guards m
	m  map[string]*journalIndex
}{m: map[string]*journalIndex{}}

func indexOf(path string) *journalIndex {
	journals.mu.Lock()
	defer journals.mu.Unlock()
	x := journals.m[path]
	if x == nil {
		x = &journalIndex{tasks: map[string]*TaskRecord{}}
		journals.m[path] = x
	}
	return x
}

// journal returns the index of h's journal, brought up to date and
// locked: the caller unlocks it.
func (h Home) journal() (*journalIndex, error) {
	x := indexOf(h.journalPath())
	x.mu.Lock()
	if err := x.refreshLocked(h.journalPath()); err != nil {
		x.mu.Unlock()
		return nil, err
	}
	return x, nil
}

func (x *journalIndex) resetLocked() {
	x.info, x.head, x.off, x.tasks = nil, nil, 0, map[string]*TaskRecord{}
	x.rebuilds++
}

// refreshLocked merges what was appended to the journal at path since
// the last refresh; it starts over when the file is another (compacted).
func (x *journalIndex) refreshLocked(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		if x.info != nil {
			x.resetLocked()
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("client: task journal: %w", err)
	}
	if x.info != nil && os.SameFile(x.info, fi) && fi.Size() == x.off {
		return nil // nothing new
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // replaced meanwhile: read at the next
	}
	if err != nil {
		return fmt.Errorf("client: task journal: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return fmt.Errorf("client: task journal: %w", err)
	}
	if x.info != nil && (!os.SameFile(x.info, fi) || fi.Size() < x.off || !x.sameHead(f)) {
		x.resetLocked()
	}
	x.info = fi
	b := make([]byte, fi.Size()-x.off)
	n, err := f.ReadAt(b, x.off)
	if err != nil && err != io.EOF {
		return fmt.Errorf("client: task journal: %w", err)
	}
	b = b[:n]
	x.read += int64(n)
	if skip := int64(len(x.head)) - x.off; len(x.head) < headLen && skip >= 0 && skip < int64(len(b)) {
		x.head = append(x.head, b[skip:min(int64(len(b)), skip+int64(headLen-len(x.head)))]...)
	}
	x.off += int64(applyLines(x.tasks, b))
	return nil
}

// sameHead reports whether f starts as the file last read did.
func (x *journalIndex) sameHead(f *os.File) bool {
	b := make([]byte, len(x.head))
	n, _ := f.ReadAt(b, 0)
	return bytes.Equal(b[:n], x.head)
}
