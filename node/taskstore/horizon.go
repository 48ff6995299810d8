package taskstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyHorizon holds, in the meta bucket, the time before which admissions
// may have been lost (Unix nanoseconds).
var keyHorizon = []byte("horizon")

// openMark is what a store leaves beside its files while open: the boot
// it was opened under, and whether every admission was synced. A clean
// Close removes it; finding it at Open means the last run ended in a crash.
type openMark struct {
	boot   string // the machine's boot ID; "" when unknown
	synced bool   // Options.SyncAdmissions was set
}

func (m openMark) encode() []byte {
	sync := "0"
	if m.synced {
		sync = "1"
	}
	return []byte("boot=" + m.boot + "\nsync=" + sync + "\n")
}

// readMark reads the mark at path; found is false when there is none.
func readMark(path string) (m openMark, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "boot":
			m.boot = v
		case "sync":
			m.synced = v == "1"
		}
	}
	return m, true, nil
}

// writeMark puts the mark at path, durably unless noSync.
func writeMark(path string, m openMark, noSync bool) error {
	return replaceFile(path, noSync, func(f *os.File) error {
		_, err := f.Write(m.encode())
		return err
	})
}

// removeMark deletes the mark at path: the store closed cleanly.
func removeMark(path string, noSync bool) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if noSync {
		return nil
	}
	return syncDir(filepath.Dir(path))
}

// lostSince says from when admissions may have been lost, given the mark a
// crashed run left (found) and this boot: the zero time when none may have
// been. Admissions are lost only when they were not synced and the machine
// itself went down, taking its kernel's buffers with it; they were all made
// before this boot, or, when the boot is unknown, before now.
func lostSince(prev openMark, found bool, cur openMark, booted, now time.Time) time.Time {
	switch {
	case !found, prev.synced:
		return time.Time{}
	case prev.boot != "" && prev.boot == cur.boot:
		return time.Time{} // the process died, the kernel kept its writes
	case cur.boot != "":
		return booted
	}
	return now
}

// raiseHorizon stores h as the horizon if it is later than the one stored,
// and returns the horizon now in force.
func raiseHorizon(tx *bolt.Tx, h time.Time) (time.Time, error) {
	meta := tx.Bucket(bucketMeta)
	var cur time.Time
	switch v := meta.Get(keyHorizon); len(v) {
	case 0:
	case 8:
		cur = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	default:
		return cur, fmt.Errorf("horizon: %d bytes, want 8", len(v))
	}
	if h.IsZero() || !h.After(cur) {
		return cur, nil
	}
	if err := meta.Put(keyHorizon, binary.BigEndian.AppendUint64(nil, uint64(h.UnixNano()))); err != nil {
		return cur, err
	}
	return h, nil
}
