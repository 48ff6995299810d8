//go:build linux

package taskstore

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// noSpace reports whether err is the file system's lack of space, or of
// the user's quota.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// freeSpace returns how many bytes dir's volume has free for this user.
func freeSpace(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// bootInfo returns the machine's boot ID and the time it booted: a new ID
// means the machine restarted, and with it lost what its kernel held.
func bootInfo() (id string, booted time.Time, ok bool) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", time.Time{}, false
	}
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		return "", time.Time{}, false
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, found := strings.CutPrefix(line, "btime "); found {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				break
			}
			return strings.TrimSpace(string(b)), time.Unix(sec, 0), true
		}
	}
	return "", time.Time{}, false
}
