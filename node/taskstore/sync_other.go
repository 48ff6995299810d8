//go:build !linux

package taskstore

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// fdatasync flushes f; elsewhere than Linux that is a full fsync.
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate makes f size bytes long (sparse where the file system allows).
func preallocate(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() >= size {
		return err
	}
	return f.Truncate(size)
}

// noSpace reports whether err is the file system's lack of space.
func noSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// freeSpace is unknown here.
func freeSpace(dir string) (int64, bool) { return 0, false }

// bootInfo is unknown here: a store not closed cleanly is taken to have
// lost what the kernel held.
func bootInfo() (id string, booted time.Time, ok bool) { return "", time.Time{}, false }
