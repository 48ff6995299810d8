//go:build linux

package taskstore

import (
	"errors"
	"os"
	"syscall"
)

// fdatasync flushes f's data, and its metadata only where needed to read the
// data back: cheaper than fsync when the file did not grow.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// preallocate makes f size bytes long, with its blocks allocated where the
// file system can, so that writes inside it need not grow the file.
func preallocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return f.Truncate(size)
	}
	return err
}
