package taskstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fxmesh/fxmesh/invoke"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d and returns the new time.
func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// testWriter sends log lines to t.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openTest opens a store in a fresh directory, closed when the test ends,
// and returns it with its path. A nil clock means a new one.
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tasks.db")
	return reopen(t, path, opts), path
}

// reopen opens the store at path, closed when the test ends.
func reopen(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// crash stops s as a SIGKILL would, as far as the files are concerned:
// nothing pending is flushed and the journal is not folded.
func (s *Store) crash() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		s.ops.Wait()
		s.cancel()
		s.wg.Wait()
		s.journal.close()
		s.db.Close()
		s.closeErr = ErrClosed
	})
}

// count returns how many keys the bucket holds in the closed or open store's
// database.
func (s *Store) count(bucket []byte) int {
	n := 0
	s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n
}

// taskID returns a CID-like ID.
func taskID(i int) string { return fmt.Sprintf("bafyreib%051d", i) }

// task returns a task to admit, expiring an hour after now.
func task(id string, count int, now time.Time) Task {
	return Task{ID: id, Caller: "12D3KooWcaller", Function: "bafyfunction", Count: count, Expires: now.Add(time.Hour), Issued: now}
}

func result(i int) invoke.Result {
	return invoke.Result{Index: i, Value: []byte(fmt.Sprintf(`{"n":%d}`, i)), Stdout: fmt.Sprintf("out %d\n", i)}
}
