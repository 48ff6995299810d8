package taskstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// journalOffsets returns where each record of the current epoch starts in
// the journal file at path, and where the last one ends.
func journalOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	jf := &journalFile{f: f}
	var offs []int64
	off := int64(journalDataStart)
	end, err := jf.load(func(tk Task) {
		offs = append(offs, off)
		off += journalRecordHdr + int64(len(encodeAdmit(&tk)))
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(offs, end)
}

func TestJournalDamage(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, f *os.File, offs []int64)
		openErr bool // Open must fail
		want    int  // tasks recovered, of 3
	}{
		{"intact", func(*testing.T, *os.File, []int64) {}, false, 3},
		{"garbage after the records", func(t *testing.T, f *os.File, offs []int64) {
			f.WriteAt(bytes.Repeat([]byte{0xa5}, 100), offs[3])
		}, false, 3},
		{"last record torn", func(t *testing.T, f *os.File, offs []int64) {
			f.WriteAt(make([]byte, 5), offs[3]-5)
		}, false, 2},
		{"second record's checksum", func(t *testing.T, f *os.File, offs []int64) {
			f.WriteAt([]byte{0xff}, offs[1]+5)
		}, false, 1},
		{"length too large", func(t *testing.T, f *os.File, offs []int64) {
			f.WriteAt([]byte{0xff, 0xff, 0xff, 0x7f}, offs[0])
		}, false, 0},
		{"header", func(t *testing.T, f *os.File, offs []int64) {
			f.WriteAt([]byte("xx"), 0)
		}, true, 0},
		{"header's checksum", func(t *testing.T, f *os.File, offs []int64) {
			f.WriteAt([]byte{0xff}, 17)
		}, true, 0},
		{"truncated", func(t *testing.T, f *os.File, offs []int64) { f.Truncate(10) }, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			opts := Options{Now: c.Now, FlushInterval: time.Hour}
			s, path := openTest(t, opts)
			for i := range 3 {
				if err := s.Admit(task(taskID(i), 1, c.Now())); err != nil {
					t.Fatal(err)
				}
			}
			s.crash()
			jpath := path + ".journal-a"
			offs := journalOffsets(t, jpath)
			if len(offs) != 4 {
				t.Fatalf("%d records in the journal, want 3", len(offs)-1)
			}
			f, err := os.OpenFile(jpath, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, f, offs)
			f.Close()

			opts.Logger = testLogger(t)
			s, err = Open(path, opts)
			if tt.openErr {
				if err == nil {
					s.Close()
					t.Fatal("Open of a journal with a damaged header succeeded")
				}
				if !strings.Contains(err.Error(), "journal") {
					t.Errorf("Open error %q does not mention the journal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := 0
			for i := range 3 {
				switch tk, err := s.Get(taskID(i)); {
				case err == nil && tk.State == invoke.StateFailed && tk.Error.Message == restartMessage:
					got++
				case errors.Is(err, ErrNotFound):
				default:
					t.Errorf("task %d: %+v, %v", i, tk, err)
				}
			}
			if got != tt.want {
				t.Errorf("%d tasks recovered, want %d", got, tt.want)
			}
		})
	}
}

func TestJournalCheckpoint(t *testing.T) {
	prefix := t.TempDir() + "/j"
	j, tasks, err := openJournal(prefix, true, nil)
	if err != nil || len(tasks) != 0 {
		t.Fatalf("new journal: %d tasks, %v", len(tasks), err)
	}
	j.onDurable = func([]*entry) {}
	now := time.Now()
	add := func(i int) {
		t.Helper()
		tk := task(taskID(i), 1, now)
		if err := j.append(encodeAdmit(&tk), nil); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(tasks []Task) []string {
		var s []string
		for _, tk := range tasks {
			s = append(s, tk.ID[len(tk.ID)-1:])
		}
		return s
	}
	reopen := func() []string {
		t.Helper()
		j.close()
		var tasks []Task
		j, tasks, err = openJournal(prefix, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		j.onDurable = func([]*entry) {}
		return ids(tasks)
	}
	for i := range 5 {
		add(i)
	}
	// A fold that fails: the switch happened, but the first file keeps its
	// records until a checkpoint succeeds.
	if err := j.checkpoint(func() error { return errors.New("fold failed") }); err == nil {
		t.Fatal("checkpoint with a failing fold returned nil")
	}
	add(5) // into the second file
	if got := reopen(); !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5"}) {
		t.Fatalf("after a failed checkpoint, the journal holds %v, want 0 to 5", got)
	}
	// Reopened, appends go to the first file, after its records.
	add(6)
	if err := j.checkpoint(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	// No switch (the second file still held 5), but the second file was
	// retired.
	if got := reopen(); !slices.Equal(got, []string{"0", "1", "2", "3", "4", "6"}) {
		t.Fatalf("the journal holds %v, want 0 to 4 and 6", got)
	}
	if err := j.retireAll(); err != nil {
		t.Fatal(err)
	}
	add(7) // overwrites the start of record 0 of the old epoch; 1 to 4 stay behind
	if got := reopen(); !slices.Equal(got, []string{"7"}) {
		t.Fatalf("after retireAll, the journal holds %v, want only 7", got)
	}
	add(8)
	if err := j.checkpoint(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if j.used() != 0 {
		t.Errorf("the journal holds %d bytes after a checkpoint", j.used())
	}
	add(9)
	if got := reopen(); !slices.Equal(got, []string{"9"}) {
		t.Fatalf("after a checkpoint, the journal holds %v, want only 9", got)
	}
	j.close()
}

func TestJournalGroupCommit(t *testing.T) {
	path := t.TempDir() + "/j"
	j, _, err := openJournal(path, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	groups, durable := 0, 0
	j.onDurable = func(es []*entry) {
		mu.Lock()
		groups++
		durable += len(es)
		mu.Unlock()
	}
	const n = 400
	now := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tk := task(taskID(i), 1, now)
			if err := j.append(encodeAdmit(&tk), &entry{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	j.close()
	if durable != n {
		t.Errorf("%d records reported durable, want %d", durable, n)
	}
	t.Logf("%d records in %d groups", n, groups)
	j, tasks, err := openJournal(path, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	if len(tasks) != n {
		t.Errorf("reopened journal holds %d records, want %d", len(tasks), n)
	}
}

func TestJournalGrows(t *testing.T) {
	path := t.TempDir() + "/j"
	j, _, err := openJournal(path, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	j.onDurable = func([]*entry) {}
	rec := bytes.Repeat([]byte{7}, journalMaxRecord)
	const n = journalInitialSize/journalMaxRecord + 2
	for range n {
		if err := j.append(rec, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	jf := j.files[j.act]
	end, err := scanJournal(jf.f, jf.epoch, func(p []byte) error {
		if !bytes.Equal(p, rec) {
			return fmt.Errorf("record %d differs", got)
		}
		got++
		return nil
	})
	if err != nil || got != n || end != j.off.Load() || jf.size <= journalInitialSize {
		t.Errorf("scanned %d records to %d (%v), want %d to %d in a grown file (%d bytes)", got, end, err, n, j.off.Load(), jf.size)
	}
}

// TestKilledProcess kills, with SIGKILL, a process that has tasks in every
// state, and checks what the next Open makes of them.
func TestKilledProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := t.TempDir() + "/tasks.db"
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledProcessHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "TASKSTORE_HELPER_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == "ready" && !ok {
				ok = true
				ready <- true
			}
			if !ok {
				t.Log("helper: " + sc.Text())
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("helper ended before it was ready")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("helper not ready after 30s")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s := reopen(t, path, Options{})
	tests := []struct {
		id   string
		want invoke.State
		kind fault.Kind // of Task.Error
	}{
		{"received", invoke.StateFailed, fault.System},
		{"running", invoke.StateFailed, fault.System},
		{"done-flushed", invoke.StateDone, ""},
		{"running-unflushed", invoke.StateFailed, fault.System},
		{"done-unflushed", invoke.StateFailed, fault.System},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			tk, err := s.Get(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			var kind fault.Kind
			if tk.Error != nil {
				kind = fault.Kind(tk.Error.Kind)
			}
			if tk.State != tt.want || kind != tt.kind {
				t.Errorf("got %s (%q), want %s (%q)", tk.State, kind, tt.want, tt.kind)
			}
			if err := s.Admit(task(tt.id, 1, time.Now())); !errors.Is(err, ErrReplayed) {
				t.Errorf("Admit = %v, want ErrReplayed", err)
			}
		})
	}
}

// TestKilledProcessHelper is the process TestKilledProcess kills.
func TestKilledProcessHelper(t *testing.T) {
	path := os.Getenv("TASKSTORE_HELPER_DB")
	if path == "" {
		t.Skip("run by TestKilledProcess")
	}
	s, err := Open(path, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, id := range []string{"received", "running", "done-flushed", "running-unflushed", "done-unflushed"} {
		if err := s.Admit(task(id, 1, now)); err != nil {
			t.Fatal(err)
		}
	}
	s.SetState("running", invoke.StateRunning)
	s.PutResult("done-flushed", result(0))
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	s.SetState("running-unflushed", invoke.StateRunning)
	s.PutResult("done-unflushed", result(0))
	fmt.Println("ready")
	select {}
}
