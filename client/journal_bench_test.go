package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/internal/atomicfile"
)

// BenchmarkRecordWrite is the cost of writing one task record (ns/op is
// per record): as earlier versions did, a file per task replaced whole;
// as RecordTask does, one append per record; and as recordWriter does, a
// round of 100 records in one append.
func BenchmarkRecordWrite(b *testing.B) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = testTaskID(b, i)
	}
	rec := func(i int) TaskRecord {
		now := time.Now()
		return TaskRecord{TaskID: ids[i%len(ids)], Endpoint: "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo", Function: "bafyfn", FunctionRef: "me/sq", Count: 1, State: StateReceived, Submitted: now, Seen: now}
	}
	b.Run("file-per-record", func(b *testing.B) {
		h := Home{Dir: b.TempDir()}
		for i := 0; b.Loop(); i++ {
			r := rec(i)
			path, _ := h.taskPath(r.TaskID)
			buf, err := json.Marshal(r)
			if err == nil {
				err = os.MkdirAll(filepath.Dir(path), 0o700)
			}
			if err == nil {
				err = atomicfile.Write(path, buf, 0o600)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("journal-one", func(b *testing.B) {
		h := Home{Dir: b.TempDir()}
		for i := 0; b.Loop(); i++ {
			if err := h.RecordTask(rec(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("journal-round-100", func(b *testing.B) {
		h := Home{Dir: b.TempDir()}
		var buf []byte
		var err error
		flush := func() {
			if err := h.appendJournal(buf); err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
		}
		for i := 0; b.Loop(); i++ {
			if buf, err = appendRecord(buf, rec(i)); err != nil {
				b.Fatal(err)
			}
			if i%100 == 99 {
				flush()
			}
		}
		flush()
	})
}

// BenchmarkTaskRead is the cost of reading one task's record (Home.Task),
// as the local API does for each status request: from a journal of 1000
// tasks through its index, against a file of an earlier version.
func BenchmarkTaskRead(b *testing.B) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = testTaskID(b, i)
	}
	h := Home{Dir: b.TempDir()}
	var buf []byte
	var err error
	for _, id := range ids {
		if buf, err = appendRecord(buf, TaskRecord{TaskID: id, Endpoint: "ep", Submitted: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	if err := h.appendJournal(buf); err != nil {
		b.Fatal(err)
	}
	b.Run("journal", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := h.Task(ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file", func(b *testing.B) {
		old := Home{Dir: b.TempDir()}
		if err := os.MkdirAll(old.taskDir(), 0o700); err != nil {
			b.Fatal(err)
		}
		for _, id := range ids[:100] {
			r, _ := json.Marshal(TaskRecord{TaskID: id, Endpoint: "ep", Submitted: time.Now()})
			if err := atomicfile.Write(filepath.Join(old.taskDir(), id+".json"), r, 0o600); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; b.Loop(); i++ {
			if _, err := old.Task(ids[i%100]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
