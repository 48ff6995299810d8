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
// commit costs two. It is two preallocated files, prefix-a and prefix-b, of
// which one is active: appended to. Each is a header, then records.
//
//	header (offset 0):  magic[8] epoch[8] crc32c(magic, epoch)[4]
//	record (from 4096): length[4] crc32c(epoch, payload)[4] epoch[8] payload
//
// Records are appended in groups, one write and one fdatasync per group
// (group commit: callers that arrive while a group is being written form the
// next one). Reading stops at the first record that is short, fails its
// checksum or belongs to another epoch: where the last write was torn, or
// where older records, already folded, begin.
//
// Each file is created with journalInitialSize bytes allocated (fallocate
// where the file system has it), 8 MiB for the two, so that appends write
// into blocks the file already has. Where the volume lacks the room, a file
// starts with half as much, and half again, down to journalMinSize; with
// less room than that, Open fails and says how much the journal needs and
// where. A file grows (doubling) when a group of records does not fit, and
// checkpoints come early enough (checkpointAt) that a small file seldom
// must.
//
// A checkpoint switches appends to the other file, which costs no I/O and
// so holds up no admission; folds everything admitted into bbolt (a flush);
// then retires the file it switched from by bumping the epoch in its
// header, which empties it without truncating it: later writes overwrite
// blocks already allocated, the cheapest kind of fdatasync. A crash at any
// point leaves records that are folded again at Open, which is harmless:
// folding inserts only the tasks bbolt lacks.
const (
	journalMagic       = "fxtsjnl1"
	journalHeaderLen   = 20
	journalDataStart   = 4096
	journalRecordHdr   = 16
	journalMaxRecord   = 1 << 20
	journalInitialSize = 4 << 20  // preallocated, per file
	journalMinSize     = 64 << 10 // the least a file starts with, on a volume short of space
	journalCheckpoint  = 1 << 20  // bytes of records that prompt a checkpoint
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journal is the admission log. Its methods are safe for concurrent use,
// but checkpoint and retireAll must not run concurrently with each other.
type journal struct {
	noSync       bool
	checkpointAt int64          // bytes of records that prompt a checkpoint
	lazy         bool           // appends are not synced: the next flush makes them durable in bbolt
	onDurable    func([]*entry) // called with io held once a group is durable
	// prealloc allocates a file's blocks: preallocate, or a test's stand-in.
	prealloc func(f *os.File, size int64) error

	mu   sync.Mutex // guards cur, busy and err
	cur  *group     // the group new records join; nil if none is forming
	busy bool       // a group's leader holds the turn: writing, or about to
	err  error      // sticky: a write or sync failed, so the active file's state is unknown

	io    sync.Mutex // held to append, by group leaders and by checkpoint's switch; guards act, wbuf and the active file
	files [2]*journalFile
	act   int          // index of the active file
	wbuf  []byte       // reused write buffer
	off   atomic.Int64 // where the next record goes in the active file; written with io held
}

// journalFile is one of the journal's two files.
type journalFile struct {
	f     *os.File
	epoch uint64
	size  int64
	full  bool // may hold records of its epoch; cleared by retire
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

// openJournal opens the journal's files, creating them if need be, and
// returns the admissions they hold. Appends go to the first file, after its
// records; Open folds the admissions into bbolt, then calls retireAll.
// prealloc allocates a file's blocks; nil means preallocate.
func openJournal(prefix string, noSync bool, prealloc func(*os.File, int64) error) (*journal, []Task, error) {
	if prealloc == nil {
		prealloc = preallocate
	}
	paths := []string{prefix + "-a", prefix + "-b"}
	if err := createJournals(paths, noSync, prealloc); err != nil {
		return nil, nil, err
	}
	j := &journal{noSync: noSync, prealloc: prealloc}
	var tasks []Task
	for i, path := range paths {
		jf, end, err := openJournalFile(path, func(t Task) { tasks = append(tasks, t) })
		if err != nil {
			for _, f := range j.files[:i] {
				f.f.Close()
			}
			return nil, nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		j.files[i] = jf
		if i == 0 {
			j.off.Store(end)
		}
	}
	// A quarter of the smaller file: a checkpoint then usually empties a
	// file long before it must grow.
	j.checkpointAt = min(journalCheckpoint, j.size()/4)
	return j, tasks, nil
}

// size is the smaller of the journal's two files, in bytes.
func (j *journal) size() int64 { return min(j.files[0].size, j.files[1].size) }

// openJournalFile opens one file of the journal, calls fn with each
// admission it holds and returns the offset after them.
func openJournalFile(path string, fn func(Task)) (*journalFile, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	jf := &journalFile{f: f}
	end, err := jf.load(fn)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return jf, end, nil
}

// createJournals creates those of the journal's files that do not exist,
// all of one size: journalInitialSize allocated or, where the volume lacks
// the room for them all, half as much, and half again, down to
// journalMinSize. Below that it fails with an error that says what the
// journal needs, and where.
func createJournals(paths []string, noSync bool, prealloc func(*os.File, int64) error) error {
	var missing []string
	for _, path := range paths {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, path)
		} else if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
	}
	for size := int64(journalInitialSize); len(missing) > 0; size /= 2 {
		var made []string
		var err error
		for _, path := range missing {
			if err = createJournal(path, noSync, prealloc, size); err != nil {
				err = fmt.Errorf("%s: %w", filepath.Base(path), err)
				break
			}
			made = append(made, path)
		}
		if err == nil {
			return nil
		}
		// Empty journals, just made: try again with less.
		for _, path := range made {
			os.Remove(path)
		}
		switch {
		case !noSpace(err):
			return err
		case size/2 < journalMinSize:
			dir := filepath.Dir(paths[0])
			return fmt.Errorf("no room in %s for the admission journal: each of its %d files takes %s, %s in all (at least %s each on a volume short of space)%s: %w",
				dir, len(paths), sizeText(journalInitialSize), sizeText(int64(len(paths))*journalInitialSize),
				sizeText(journalMinSize), freeText(dir), err)
		}
	}
	return nil
}

// createJournal writes an empty journal file of size bytes beside path and
// renames it into place, so that a file with a torn header is never
// mistaken for an empty one.
func createJournal(path string, noSync bool, prealloc func(*os.File, int64) error, size int64) error {
	return replaceFile(path, noSync, func(f *os.File) error {
		if err := prealloc(f, size); err != nil {
			return err
		}
		_, err := f.WriteAt(journalHeader(1), 0)
		return err
	})
}

// freeText says how much space dir's volume has free, as ", N free", or
// nothing if unknown.
func freeText(dir string) string {
	if n, ok := freeSpace(dir); ok {
		return ", " + sizeText(n) + " free"
	}
	return ""
}

// sizeText prints n bytes in KiB or MiB.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// replaceFile puts at path a file that fill writes: into a file beside it,
// synced unless noSync, then renamed into place, with the rename synced
// too. A failure leaves path as it was.
func replaceFile(path string, noSync bool, fill func(*os.File) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = fill(f)
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

// load reads the header and the records of the current epoch, calling fn
// with each, and returns the offset after them.
func (jf *journalFile) load(fn func(Task)) (int64, error) {
	fi, err := jf.f.Stat()
	if err != nil {
		return 0, err
	}
	jf.size = fi.Size()
	h := make([]byte, journalHeaderLen)
	if _, err := jf.f.ReadAt(h, 0); err != nil {
		return 0, fmt.Errorf("header: %w", err)
	}
	if string(h[:8]) != journalMagic || crc32.Checksum(h[:16], crcTable) != binary.LittleEndian.Uint32(h[16:]) {
		return 0, fmt.Errorf("header: %w", errCorrupt)
	}
	jf.epoch = binary.LittleEndian.Uint64(h[8:])
	end, err := scanJournal(io.NewSectionReader(jf.f, 0, jf.size), jf.epoch, func(p []byte) error {
		t, err := decodeAdmit(p)
		if err != nil {
			return err
		}
		fn(t)
		return nil
	})
	jf.full = end > journalDataStart
	return end, err
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

// writeLocked frames recs, writes them at the end of the active file and
// syncs. sticky reports an error after which the file's content is unknown.
// The caller holds io.
func (j *journal) writeLocked(recs [][]byte) (err error, sticky bool) {
	jf := j.files[j.act]
	n := 0
	for _, r := range recs {
		n += journalRecordHdr + len(r)
	}
	off := j.off.Load()
	if end := off + int64(n); end > jf.size {
		size := max(2*jf.size, end)
		err := j.prealloc(jf.f, size)
		if noSpace(err) && size > end {
			size = end // the least that holds the group
			err = j.prealloc(jf.f, size)
		}
		if err != nil {
			if noSpace(err) {
				dir := filepath.Dir(jf.f.Name())
				return fmt.Errorf("journal: no room in %s to grow %s from %s to %s%s: %w",
					dir, jf.f.Name(), sizeText(jf.size), sizeText(size), freeText(dir), err), false
			}
			return fmt.Errorf("journal: grow %s to %s: %w", jf.f.Name(), sizeText(size), err), false
		}
		jf.size = size
	}
	b := j.wbuf[:0]
	for _, r := range recs {
		var hdr [journalRecordHdr]byte
		frameRecord(hdr[:], jf.epoch, r)
		b = append(b, hdr[:]...)
		b = append(b, r...)
	}
	if cap(b) <= 1<<20 {
		j.wbuf = b
	}
	jf.full = true
	if _, err := jf.f.WriteAt(b, off); err != nil {
		return fmt.Errorf("journal: write: %w", err), true
	}
	if !j.noSync && !j.lazy {
		if err := fdatasync(jf.f); err != nil {
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

// checkpoint empties the journal of what fold puts in bbolt. fold must make
// durable in bbolt every admission whose group was durable before fold
// began (a flush does: onDurable queued them). It switches appends to the
// other file, if that one is empty, runs fold, and retires the file it
// switched from. Appends wait only for the switch.
func (j *journal) checkpoint(fold func() error) error {
	j.io.Lock()
	other := j.files[1-j.act]
	if !other.full && j.off.Load() > journalDataStart {
		j.act = 1 - j.act
		j.off.Store(journalDataStart)
		other = j.files[1-j.act]
	}
	j.io.Unlock()
	if err := fold(); err != nil {
		return err
	}
	if other.full {
		// No one appends to it now: it is not active, and only checkpoint
		// makes it so.
		return other.retire(j.noSync)
	}
	return nil
}

// retireAll retires both files and makes the first active, once Open has
// folded their records into bbolt.
func (j *journal) retireAll() error {
	j.io.Lock()
	defer j.io.Unlock()
	for _, jf := range j.files {
		if jf.full {
			if err := jf.retire(j.noSync); err != nil {
				return err
			}
		}
	}
	j.act = 0
	j.off.Store(journalDataStart)
	return nil
}

// retire starts a new epoch in jf, leaving the records of the old one
// behind.
func (jf *journalFile) retire(noSync bool) error {
	if _, err := jf.f.WriteAt(journalHeader(jf.epoch+1), 0); err != nil {
		return fmt.Errorf("journal: retire: %w", err)
	}
	if !noSync {
		if err := fdatasync(jf.f); err != nil {
			return fmt.Errorf("journal: retire: %w", err)
		}
	}
	jf.epoch++
	jf.full = false
	return nil
}

// failed returns the sticky error, if any.
func (j *journal) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

func (j *journal) close() error {
	return errors.Join(j.files[0].f.Close(), j.files[1].f.Close())
}

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
