package taskstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// The journal makes admissions durable with one fdatasync, where a bbolt
// commit costs two. It is a preallocated file: a header, then records.
//
//	header (offset 0):  magic[8] epoch[8] crc32c(magic, epoch)[4]
//	record (from 4096): length[4] crc32c(epoch, payload)[4] epoch[8] payload
//
// Records are appended in groups, one write and one fdatasync per group
// (group commit: callers that arrive while a group is being written form the
// next one). Reading stops at the first record that is short, fails its
// checksum or belongs to another epoch, which is where the last write was
// torn or where older, folded records begin. A checkpoint folds the records
// into bbolt, then bumps the epoch in the header, which empties the journal
// without truncating it: later writes overwrite blocks already allocated,
// the cheapest kind of fdatasync.
const (
	journalMagic       = "fxtsjnl1"
	journalHeaderLen   = 20
	journalDataStart   = 4096
	journalRecordHdr   = 16
	journalMaxRecord   = 1 << 20
	journalInitialSize = 8 << 20 // preallocated
	journalCheckpoint  = 4 << 20 // bytes of records that prompt a checkpoint
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journal is the admission log. Its methods are safe for concurrent use.
type journal struct {
	f         *os.File
	noSync    bool
	onDurable func([]*entry) // called with io held once a group is durable

	mu   sync.Mutex // guards cur, busy and err
	cur  *group     // the group new records join; nil if none is forming
	busy bool       // a group's leader holds the turn: writing, or about to
	err  error      // sticky: a write or sync failed, so the file's state is unknown

	io    sync.Mutex // held to write the file, by group leaders and checkpoints; guards epoch, size and wbuf
	epoch uint64
	size  int64
	wbuf  []byte
	off   atomic.Int64 // where the next record goes; written with io held
}

// group is a set of records written and synced together.
type group struct {
	recs    [][]byte
	entries []*entry
	turn    chan struct{} // closed when the group may be written
	done    chan struct{} // closed once written, or failed; then err is set
	led     atomic.Bool   // a member has taken the lead
	err     error
}

// openJournal opens the journal at path, creating it if need be, and returns
// the admissions it holds.
func openJournal(path string, noSync bool) (*journal, []Task, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		err = createJournal(path, noSync)
		if err == nil {
			f, err = os.OpenFile(path, os.O_RDWR, 0)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	j := &journal{f: f, noSync: noSync}
	tasks, err := j.load()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return j, tasks, nil
}

// createJournal writes an empty journal beside path and renames it into
// place, so that a journal with a torn header is never mistaken for an empty
// one.
func createJournal(path string, noSync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = preallocate(f, journalInitialSize)
	if err == nil {
		_, err = f.WriteAt(journalHeader(1), 0)
	}
	if err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil && !noSync {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func journalHeader(epoch uint64) []byte {
	b := make([]byte, journalHeaderLen)
	copy(b, journalMagic)
	binary.LittleEndian.PutUint64(b[8:], epoch)
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], crcTable))
	return b
}

// load reads the header and the records of the current epoch, and leaves
// the journal ready to append after them.
func (j *journal) load() ([]Task, error) {
	fi, err := j.f.Stat()
	if err != nil {
		return nil, err
	}
	j.size = fi.Size()
	h := make([]byte, journalHeaderLen)
	if _, err := j.f.ReadAt(h, 0); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if string(h[:8]) != journalMagic || crc32.Checksum(h[:16], crcTable) != binary.LittleEndian.Uint32(h[16:]) {
		return nil, fmt.Errorf("header: %w", errCorrupt)
	}
	j.epoch = binary.LittleEndian.Uint64(h[8:])
	var tasks []Task
	end, err := scanJournal(io.NewSectionReader(j.f, 0, j.size), j.epoch, func(p []byte) error {
		t, err := decodeAdmit(p)
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	j.off.Store(end)
	return tasks, nil
}

// scanJournal calls fn with the payload of each record of epoch, in order,
// and returns the offset after the last one. It stops quietly at the end of
// the valid records; an error from fn stops it loudly.
func scanJournal(r io.ReaderAt, epoch uint64, fn func(payload []byte) error) (int64, error) {
	off := int64(journalDataStart)
	br := bufio.NewReaderSize(io.NewSectionReader(r, off, 1<<62), 64<<10)
	var hdr [journalRecordHdr]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, nil
		}
		n := binary.LittleEndian.Uint32(hdr[0:])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if n == 0 || n > journalMaxRecord || binary.LittleEndian.Uint64(hdr[8:]) != epoch {
			return off, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return off, nil
		}
		if crc32.Update(crc32.Checksum(hdr[8:16], crcTable), crcTable, payload) != sum {
			return off, nil
		}
		if err := fn(payload); err != nil {
			return off, fmt.Errorf("record at %d: %w", off, err)
		}
		off += journalRecordHdr + int64(n)
	}
}

// used is how many bytes of records the journal holds.
func (j *journal) used() int64 { return j.off.Load() - journalDataStart }

// append writes rec and returns once it is durable, or failed. Once the
// group holding rec is durable, and before append returns, onDurable is
// called with e among the group's entries.
func (j *journal) append(rec []byte, e *entry) error {
	j.mu.Lock()
	if j.err != nil {
		err := j.err
		j.mu.Unlock()
		return err
	}
	g := j.cur
	if g == nil {
		g = &group{turn: make(chan struct{}), done: make(chan struct{})}
		j.cur = g
		if !j.busy {
			j.busy = true
			close(g.turn)
		}
	}
	g.recs = append(g.recs, rec)
	g.entries = append(g.entries, e)
	j.mu.Unlock()
	select {
	case <-g.turn:
		if g.led.CompareAndSwap(false, true) {
			j.lead(g)
		}
		<-g.done
	case <-g.done:
	}
	return g.err
}

// lead writes g, then passes the turn to the next group if one formed.
func (j *journal) lead(g *group) {
	j.io.Lock()
	j.mu.Lock()
	if j.cur == g {
		j.cur = nil // later arrivals form the next group
	}
	err := j.err
	j.mu.Unlock()
	sticky := false
	if err == nil {
		err, sticky = j.writeLocked(g.recs)
		if err == nil {
			j.onDurable(g.entries)
		}
	}
	j.io.Unlock()

	g.err = err
	close(g.done)
	j.mu.Lock()
	if sticky && j.err == nil {
		j.err = err
	}
	if j.cur != nil {
		close(j.cur.turn)
	} else {
		j.busy = false
	}
	j.mu.Unlock()
}

// writeLocked frames recs, writes them at the end and syncs. sticky reports
// an error after which the file's content is unknown. The caller holds io.
func (j *journal) writeLocked(recs [][]byte) (err error, sticky bool) {
	n := 0
	for _, r := range recs {
		n += journalRecordHdr + len(r)
	}
	off := j.off.Load()
	if end := off + int64(n); end > j.size {
		size := max(2*j.size, end)
		if err := preallocate(j.f, size); err != nil {
			return fmt.Errorf("journal: grow: %w", err), false
		}
		j.size = size
	}
	b := j.wbuf[:0]
	for _, r := range recs {
		var hdr [journalRecordHdr]byte
		frameRecord(hdr[:], j.epoch, r)
		b = append(b, hdr[:]...)
		b = append(b, r...)
	}
	if cap(b) <= 1<<20 {
		j.wbuf = b
	}
	if _, err := j.f.WriteAt(b, off); err != nil {
		return fmt.Errorf("journal: write: %w", err), true
	}
	if !j.noSync {
		if err := fdatasync(j.f); err != nil {
			return fmt.Errorf("journal: sync: %w", err), true
		}
	}
	j.off.Store(off + int64(n))
	return nil, false
}

// frameRecord fills hdr, journalRecordHdr bytes, for payload p.
func frameRecord(hdr []byte, epoch uint64, p []byte) {
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(p)))
	binary.LittleEndian.PutUint64(hdr[8:], epoch)
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Update(crc32.Checksum(hdr[8:16], crcTable), crcTable, p))
}

// checkpoint runs fold, which must make every durable record durable in
// bbolt, with writes to the journal held off; if fold succeeds, it empties
// the journal.
func (j *journal) checkpoint(fold func() error) error {
	j.io.Lock()
	defer j.io.Unlock()
	if err := fold(); err != nil {
		return err
	}
	if j.off.Load() == journalDataStart {
		return nil
	}
	j.mu.Lock()
	err := j.err
	j.mu.Unlock()
	if err != nil {
		return err
	}
	if err := j.resetLocked(); err != nil {
		j.mu.Lock()
		if j.err == nil {
			j.err = err
		}
		j.mu.Unlock()
		return err
	}
	return nil
}

// resetLocked starts a new epoch, leaving the records of the old one behind.
// The caller holds io.
func (j *journal) resetLocked() error {
	if _, err := j.f.WriteAt(journalHeader(j.epoch+1), 0); err != nil {
		return fmt.Errorf("journal: reset: %w", err)
	}
	if !j.noSync {
		if err := fdatasync(j.f); err != nil {
			return fmt.Errorf("journal: reset: %w", err)
		}
	}
	j.epoch++
	j.off.Store(journalDataStart)
	return nil
}

// failed returns the sticky error, if any.
func (j *journal) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

func (j *journal) close() error { return j.f.Close() }

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
