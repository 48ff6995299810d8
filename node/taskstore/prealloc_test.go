package taskstore

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// volume stands in for a file system with little free space, for
// Options.preallocate: a preallocation that needs more than is free fails
// with ENOSPC, as fallocate does; the others are made for real.
type volume struct {
	mu    sync.Mutex
	free  int64
	held  map[string]int64 // what each file has taken, by its final name
	asked []int64          // the sizes asked for, in order
}

func newVolume(free int64) *volume { return &volume{free: free, held: map[string]int64{}} }

func (v *volume) preallocate(f *os.File, size int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.asked = append(v.asked, size)
	name := strings.TrimSuffix(f.Name(), ".tmp")
	add := size - v.held[name]
	if add > v.free {
		return syscall.ENOSPC
	}
	if err := preallocate(f, size); err != nil {
		return err
	}
	v.free -= add
	v.held[name] = size
	return nil
}

// logBuffer is a logger that keeps what it logs, and shows it in the
// test's log too.
func logBuffer(t *testing.T) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&syncWriter{w: &buf, t: t}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), &buf
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
	t  *testing.T
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return w.w.Write(p)
}

// TestJournalOnSmallVolume: where the volume lacks room for the journal's
// two files at full size, the store starts with smaller ones, halving down
// to journalMinSize, and says so; with less room than that, Open fails and
// says how much the journal needs and where.
func TestJournalOnSmallVolume(t *testing.T) {
	const (
		kib = int64(1) << 10
		mib = int64(1) << 20
	)
	tests := []struct {
		name  string
		free  int64
		sizes [2]int64 // the files' sizes; zero: Open fails
	}{
		{"room to spare", 16 * mib, [2]int64{4 * mib, 4 * mib}},
		{"room for both, exactly", 8 * mib, [2]int64{4 * mib, 4 * mib}},
		{"room for one and a quarter", 5 * mib, [2]int64{2 * mib, 2 * mib}},
		{"room for 1.5 MiB", 3 * mib / 2, [2]int64{512 * kib, 512 * kib}},
		{"room for the smallest two", 2 * journalMinSize, [2]int64{journalMinSize, journalMinSize}},
		{"room for one of the smallest", 2*journalMinSize - 1, [2]int64{}},
		{"no room", 0, [2]int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vol := newVolume(tc.free)
			log, logged := logBuffer(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "tasks.db")
			c := newClock()
			opts := Options{Now: c.Now, Logger: log, NoSync: true, preallocate: vol.preallocate}
			s, err := Open(path, opts)
			if tc.sizes[0] == 0 {
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, syscall.ENOSPC) || fault.KindOf(err) != fault.Internal {
					t.Fatalf("err = %v (kind %s), want ENOSPC, kind internal", err, fault.KindOf(err))
				}
				t.Log(err)
				for _, want := range []string{dir, "admission journal", "4 MiB", "64 KiB"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
				if len(left) > 0 {
					t.Errorf("left behind: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			for i, suffix := range []string{".journal-a", ".journal-b"} {
				fi, err := os.Stat(path + suffix)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != tc.sizes[i] {
					t.Errorf("%s is %d bytes, want %d", suffix, fi.Size(), tc.sizes[i])
				}
			}
			small := tc.sizes[1] < journalInitialSize
			if warned := strings.Contains(logged.String(), "smaller journal"); warned != small {
				t.Errorf("warned of a smaller journal: %v, want %v", warned, small)
			}
			if want := min(int64(journalCheckpoint), tc.sizes[1]/4); s.journal.checkpointAt != want {
				t.Errorf("checkpoint at %d bytes of records, want %d", s.journal.checkpointAt, want)
			}
			// The store works, and keeps its admissions across a restart.
			for i := range 3 {
				if err := s.Admit(task(taskID(i), 1, c.Now())); err != nil {
					t.Fatal(err)
				}
			}
			s.crash()
			s = reopen(t, path, opts)
			for i := range 3 {
				if tk, err := s.Get(taskID(i)); err != nil || tk.State != invoke.StateFailed {
					t.Errorf("task %d after a crash: %+v, %v", i, tk, err)
				}
			}
		})
	}
}

// TestJournalPreallocateOtherError: only a lack of space makes the journal
// smaller; any other failure fails Open at once.
func TestJournalPreallocateOtherError(t *testing.T) {
	calls := 0
	opts := Options{NoSync: true, Logger: testLogger(t), preallocate: func(*os.File, int64) error {
		calls++
		return syscall.EIO
	}}
	_, err := Open(filepath.Join(t.TempDir(), "tasks.db"), opts)
	if !errors.Is(err, syscall.EIO) || calls != 1 {
		t.Fatalf("err = %v after %d tries, want EIO after 1", err, calls)
	}
}

// TestJournalGrowWithoutRoom: a journal that must grow where there is no
// room refuses the admission with an error that says how much it needs and
// where, and goes on once there is room.
func TestJournalGrowWithoutRoom(t *testing.T) {
	vol := newVolume(2 * journalMinSize)
	c := newClock()
	dir := t.TempDir()
	path := filepath.Join(dir, "tasks.db")
	s := reopen(t, path, Options{Now: c.Now, NoSync: true, FlushInterval: time.Hour, preallocate: vol.preallocate})
	var err error
	for i := 0; err == nil; i++ {
		if i > 10000 {
			t.Fatal("the journal never needed to grow")
		}
		err = s.Admit(task(taskID(i), 1, c.Now()))
	}
	if !errors.Is(err, syscall.ENOSPC) || fault.KindOf(err) != fault.Internal {
		t.Fatalf("err = %v (kind %s), want ENOSPC, kind internal", err, fault.KindOf(err))
	}
	t.Log(err)
	for _, want := range []string{path + ".journal-a", "64 KiB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	vol.mu.Lock()
	vol.free = 1 << 20
	vol.mu.Unlock()
	if err := s.Admit(task(taskID(-1), 1, c.Now())); err != nil {
		t.Fatalf("Admit once there is room: %v", err)
	}
}
