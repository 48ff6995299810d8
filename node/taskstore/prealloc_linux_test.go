package taskstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallVolume mounts a tmpfs of size bytes for the test, or skips the test
// where it cannot (not root, no CAP_SYS_ADMIN).
func smallVolume(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestJournalOnTmpfs: the same as TestJournalOnSmallVolume, on a real
// volume that fallocate finds too small.
func TestJournalOnTmpfs(t *testing.T) {
	t.Run("1 MiB", func(t *testing.T) {
		dir := smallVolume(t, "1m")
		path := filepath.Join(dir, "tasks.db")
		c := newClock()
		s := reopen(t, path, Options{Now: c.Now})
		var sizes [2]int64
		for i, suffix := range []string{".journal-a", ".journal-b"} {
			fi, err := os.Stat(path + suffix)
			if err != nil {
				t.Fatal(err)
			}
			sizes[i] = fi.Size()
		}
		if sizes[0] != sizes[1] || sizes[0] >= journalInitialSize || sizes[0] < journalMinSize {
			t.Fatalf("journal files of %d and %d bytes, want two alike, from %d to under %d", sizes[0], sizes[1], journalMinSize, journalInitialSize)
		}
		t.Logf("journal files of %s", sizeText(sizes[0]))
		for i := range 100 {
			if err := s.Admit(task(taskID(i), 1, c.Now())); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("96 KiB", func(t *testing.T) {
		dir := smallVolume(t, "96k")
		s, err := Open(filepath.Join(dir, "tasks.db"), Options{Logger: testLogger(t)})
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded")
		}
		t.Log(err)
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no room in "+dir+" for the admission journal") {
			t.Fatalf("err = %v, want ENOSPC saying where and what", err)
		}
	})
}
