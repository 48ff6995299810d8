package client

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/internal/atomicfile"
	"github.com/fxmesh/fxmesh/invoke"
)

// setCompactAt sets journalCompactAt for the test.
func setCompactAt(t *testing.T, n int64) {
	old := journalCompactAt
	journalCompactAt = n
	t.Cleanup(func() { journalCompactAt = old })
}

// appendRaw appends s to h's journal as another process (or a crashed
// one) would.
func appendRaw(t *testing.T, h Home, s string) {
	t.Helper()
	if err := os.MkdirAll(h.taskDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := appendFile(h.journalPath(), []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func recordLine(t *testing.T, r TaskRecord) string {
	t.Helper()
	b, err := appendRecord(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJournalConcurrentCompaction: writers of several Home values at once
// (as several fx processes), recording and noting tasks while the journal
// is compacted again and again under them, lose no record and no note.
func TestJournalConcurrentCompaction(t *testing.T) {
	setCompactAt(t, 4<<10)
	dir := t.TempDir()
	const writers, each = 4, 60
	ids := make([][]string, writers)
	for w := range ids {
		for i := 0; i < each; i++ {
			ids[w] = append(ids[w], testTaskID(t, w*each+i))
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := Home{Dir: dir}
			for i, id := range ids[w] {
				now := time.Now()
				if err := h.RecordTask(TaskRecord{TaskID: id, Endpoint: "ep", Submitted: now}); err != nil {
					t.Error(err)
				}
				if err := h.NoteTask(id, &invoke.Status{State: invoke.StateRunning}, now); err != nil {
					t.Error(err)
				}
				if err := h.NoteTask(id, &invoke.Status{State: invoke.StateDone, Done: i + 1}, now); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	h := Home{Dir: dir}
	all, err := h.Tasks("", 0)
	if err != nil || len(all) != writers*each {
		t.Fatalf("%d records, %v; want %d", len(all), err, writers*each)
	}
	for w := range ids {
		for i, id := range ids[w] {
			if r, err := h.Task(id); err != nil || r.State != invoke.StateDone || r.Done != i+1 {
				t.Errorf("task %d/%d: %+v, %v; want done, %d done", w, i, r, err, i+1)
			}
		}
	}
	b, err := os.ReadFile(h.journalPath())
	if err != nil || !strings.HasPrefix(string(b), `{"compacted"`) {
		t.Fatalf("the journal was never compacted (%v)", err)
	}
}

// TestJournalTornAndMalformed: a last line still being written is left
// until it is whole, and a line that does not decode is skipped, not the
// read failed.
func TestJournalTornAndMalformed(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, b := testTaskID(t, 1), testTaskID(t, 2)
	if err := h.RecordTask(TaskRecord{TaskID: a, Endpoint: "ep", Submitted: t0}); err != nil {
		t.Fatal(err)
	}
	appendRaw(t, h, "not json at all\n{\"task_id\":\n")
	appendRaw(t, h, recordLine(t, TaskRecord{TaskID: b, Endpoint: "ep", State: invoke.StateQueued, Submitted: t0}))
	note := fmt.Sprintf(`{"task_id":%q,"note":true,"state":"done","seen":"2026-11-26T12:00:05Z","done":1}`+"\n", a)
	appendRaw(t, h, note[:30]) // torn
	if r, err := h.Task(a); err != nil || r.State != invoke.StateReceived {
		t.Fatalf("with a torn last line: %+v, %v; want received", r, err)
	}
	if r, err := h.Task(b); err != nil || r.State != invoke.StateQueued {
		t.Fatalf("a record after malformed lines: %+v, %v", r, err)
	}
	appendRaw(t, h, note[30:])
	if r, err := h.Task(a); err != nil || r.State != invoke.StateDone || r.Done != 1 {
		t.Fatalf("once the line is whole: %+v, %v; want done", r, err)
	}
	if all, err := h.Tasks("", 0); err != nil || len(all) != 2 {
		t.Fatalf("Tasks = %+v, %v", all, err)
	}
	// A line cut short for good (a writer that died) and the whole line
	// appended after it: the whole one is read.
	c := testTaskID(t, 3)
	appendRaw(t, h, note[:40])
	appendRaw(t, h, recordLine(t, TaskRecord{TaskID: c, Endpoint: "ep", Submitted: t0}))
	if _, err := h.Task(c); err != nil {
		t.Fatalf("a record after a line cut short: %v", err)
	}
}

// TestJournalIndex: the index of a journal reads only what was appended
// since its last read, whoever appended it, and reads the journal anew
// when compaction replaced it or it was rewritten in place.
func TestJournalIndex(t *testing.T) {
	dir := t.TempDir()
	h1, h2 := Home{Dir: dir}, Home{Dir: dir}
	now := time.Now().UTC()
	a, b, old := testTaskID(t, 1), testTaskID(t, 2), testTaskID(t, 3)
	if err := h1.RecordTask(TaskRecord{TaskID: a, Endpoint: "ep", Submitted: now}); err != nil {
		t.Fatal(err)
	}
	if err := h1.RecordTask(TaskRecord{TaskID: old, Endpoint: "ep", State: invoke.StateDone, Submitted: now.Add(-40 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h1.Task(a); err != nil {
		t.Fatal(err)
	}
	x := indexOf(h1.journalPath())
	read, rebuilds := x.read, x.rebuilds

	line := recordLine(t, TaskRecord{TaskID: b, Endpoint: "ep", Submitted: now})
	appendRaw(t, h1, line) // another process
	if r, err := h2.Task(b); err != nil || r.Endpoint != "ep" {
		t.Fatalf("a record appended by another: %+v, %v", r, err)
	}
	if x.read-read != int64(len(line)) || x.rebuilds != rebuilds {
		t.Fatalf("read %d bytes and rebuilt %d times for a line of %d", x.read-read, x.rebuilds-rebuilds, len(line))
	}
	if _, err := h2.Task(a); err != nil || x.read-read != int64(len(line)) {
		t.Fatalf("read again with nothing new: %v, %d bytes", err, x.read-read)
	}

	// Compaction replaces the file: the index starts over, and sees the
	// task finished long ago gone.
	setCompactAt(t, 0)
	before, _ := os.Stat(h1.journalPath())
	if err := h1.compactJournal(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(h1.journalPath())
	if os.SameFile(before, after) || after.Mode().Perm() != 0o600 {
		t.Fatalf("compaction left the same file, or mode %v", after.Mode())
	}
	// Another process appends to the new file until it is longer than the
	// old one, so that its size alone does not tell it is another.
	for i := 10; after.Size() <= before.Size(); i++ {
		appendRaw(t, h1, recordLine(t, TaskRecord{TaskID: testTaskID(t, i), Endpoint: "ep", Submitted: now}))
		after, _ = os.Stat(h1.journalPath())
	}
	if _, err := h2.Task(old); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a task finished 40 days ago after compaction: %v, want not-found", err)
	}
	if x.rebuilds != rebuilds+1 {
		t.Fatalf("rebuilt %d times after compaction, want 1", x.rebuilds-rebuilds)
	}
	for _, id := range []string{a, b} {
		if r, err := h2.Task(id); err != nil || r.Endpoint != "ep" {
			t.Fatalf("after compaction: %+v, %v", r, err)
		}
	}

	// A file rewritten in place, longer than before (as one made anew
	// whose inode number was reused), is read anew too.
	rewritten := recordLine(t, TaskRecord{TaskID: old, Endpoint: "ep2", Submitted: now}) + recordLine(t, TaskRecord{TaskID: a, Endpoint: "ep2", Submitted: now})
	rewritten += rewritten // longer than the compacted file
	if err := os.WriteFile(h1.journalPath(), []byte(rewritten), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := h1.Task(a); err != nil || r.Endpoint != "ep2" {
		t.Fatalf("after a rewrite in place: %+v, %v", r, err)
	}
	if _, err := h1.Task(b); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a task the rewrite dropped: %v", err)
	}
}

// TestJournalCompactMerges: compaction leaves one line per task, merged as
// a reader merges the journal, less tasks finished and last seen more than
// 30 days ago, and the next compaction waits for the journal to double.
func TestJournalCompactMerges(t *testing.T) {
	setCompactAt(t, 1) // every append compacts, when the journal doubled
	h := Home{Dir: t.TempDir()}
	now := time.Now().UTC()
	a, b, c := testTaskID(t, 1), testTaskID(t, 2), testTaskID(t, 3)
	long := now.Add(-31 * 24 * time.Hour)
	lines := recordLine(t, TaskRecord{TaskID: a, Endpoint: "ep", Function: "fn", Submitted: now, Seen: now}) +
		fmt.Sprintf(`{"task_id":%q,"note":true,"state":"running","seen":%q,"done":2,"count":4}`+"\n", a, now.Format(time.RFC3339Nano)) +
		recordLine(t, TaskRecord{TaskID: b, Endpoint: "ep", State: invoke.StateDone, Submitted: long, Seen: long}) +
		recordLine(t, TaskRecord{TaskID: c, Endpoint: "ep", State: invoke.StateRunning, Submitted: long, Seen: long})
	if err := h.appendJournal([]byte(lines)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(h.journalPath())
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(ls) != 3 || !strings.HasPrefix(ls[0], `{"compacted"`) {
		t.Fatalf("compacted journal:\n%s", got)
	}
	var r TaskRecord
	if err := json.Unmarshal([]byte(ls[2]), &r); err != nil || r.TaskID != a || r.State != invoke.StateRunning || r.Done != 2 || r.Count != 4 || r.Function != "fn" {
		t.Fatalf("merged line %s (%v)", ls[2], err)
	}
	if _, err := h.Task(b); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a task finished 31 days ago kept: %v", err)
	}
	if r, err := h.Task(c); err != nil || r.State != invoke.StateRunning {
		t.Fatalf("an unfinished task seen long ago: %+v, %v", r, err)
	}
	// One more small line does not double the journal: no compaction.
	if err := h.NoteTask(c, &invoke.Status{State: invoke.StateDone}, now); err != nil {
		t.Fatal(err)
	}
	if got2, _ := os.ReadFile(h.journalPath()); len(got2) <= len(got) || !strings.HasPrefix(string(got2), string(got)) {
		t.Fatalf("a small append compacted again:\n%s", got2)
	}
}

// TestJournalOldFiles: records of an earlier version, one file per task,
// are read and listed; when the journal has the task too, its record
// wins; a note on an old record moves it into the journal.
func TestJournalOldFiles(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, b := testTaskID(t, 1), testTaskID(t, 2)
	if err := os.MkdirAll(h.taskDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{a, b} {
		b, _ := json.Marshal(TaskRecord{TaskID: id, Endpoint: "old", State: invoke.StateRunning, Submitted: t0.Add(time.Duration(i) * time.Second)})
		if err := atomicfile.Write(filepath.Join(h.taskDir(), id+".json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.RecordTask(TaskRecord{TaskID: a, Endpoint: "new", Submitted: t0}); err != nil {
		t.Fatal(err)
	}
	all, err := h.Tasks("", 0)
	if err != nil || len(all) != 2 || all[0].TaskID != b || all[0].Endpoint != "old" || all[1].TaskID != a || all[1].Endpoint != "new" {
		t.Fatalf("Tasks = %+v, %v; want b (old file), then a (journal)", all, err)
	}
	if err := h.NoteTask(b, &invoke.Status{State: invoke.StateDone, Done: 1}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	x, err := h.journal()
	if err != nil {
		t.Fatal(err)
	}
	r := x.tasks[b]
	x.mu.Unlock()
	if r == nil || r.State != invoke.StateDone || r.Endpoint != "old" {
		t.Fatalf("an old record noted: %+v in the journal, want done", r)
	}
}
