package taskstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

func sampleTask() Task {
	at := time.Unix(1_770_000_000, 123456789)
	return Task{
		ID: taskID(1), Caller: "12D3KooWcaller", Function: "bafyfunction", Count: 3, Expires: at.Add(time.Hour),
		State: invoke.StateFailed, Received: at, Queued: at.Add(1), Started: at.Add(2), Finished: at.Add(3), Completed: 2,
		Error: &invoke.Error{Kind: string(fault.System), Type: "T", Message: restartMessage, Traceback: "tb"},
	}
}

func sampleResult() invoke.Result {
	at := time.Unix(1_770_000_000, 5)
	return invoke.Result{
		Index: 2, Value: []byte(`{"x":[1,2]}`), Stdout: "out", Stderr: "err", ExitCode: -3,
		Error: &invoke.Error{Kind: string(fault.User), Type: "ValueError", Message: "m"}, Started: at.UnixNano(), Finished: at.Add(time.Second).UnixNano(),
	}
}

func TestCodecRoundTrip(t *testing.T) {
	tasks := []struct {
		name string
		task Task
	}{
		{"zero times", Task{ID: "a", Count: 1, State: invoke.StateReceived}},
		{"every field", sampleTask()},
	}
	for _, st := range states {
		tasks = append(tasks, struct {
			name string
			task Task
		}{"state " + string(st), Task{ID: "s", Count: 1, State: st}})
	}
	for _, tt := range tasks {
		t.Run("task/"+tt.name, func(t *testing.T) {
			got, seq, tomb, err := decodeTask(tt.task.ID, encodeTask(&tt.task, 1<<40))
			if err != nil || tomb || seq != 1<<40 || !taskEqual(got, tt.task) {
				t.Errorf("decoded %+v (seq %d, tomb %v, %v), want %+v", got, seq, tomb, err, tt.task)
			}
		})
	}
	t.Run("tombstone", func(t *testing.T) {
		exp := time.Unix(1_770_000_000, 0)
		got, _, tomb, err := decodeTask("a", encodeTombstone(exp))
		if err != nil || !tomb || !got.Expires.Equal(exp) || got.ID != "a" {
			t.Errorf("decoded %+v (tomb %v, %v)", got, tomb, err)
		}
	})
	results := []struct {
		name string
		r    invoke.Result
	}{
		{"empty", invoke.Result{Index: 0}},
		{"every field", sampleResult()},
	}
	for _, tt := range results {
		t.Run("result/"+tt.name, func(t *testing.T) {
			got, err := decodeResult(tt.r.Index, encodeResult(&tt.r))
			if err != nil || !resultEqual(got, tt.r) {
				t.Errorf("decoded %+v (%v), want %+v", got, err, tt.r)
			}
		})
	}
	t.Run("admission", func(t *testing.T) {
		want := sampleTask()
		want.State, want.Queued, want.Started, want.Finished, want.Completed, want.Error = invoke.StateReceived, time.Time{}, time.Time{}, time.Time{}, 0, nil
		got, err := decodeAdmit(encodeAdmit(&want))
		if err != nil || !taskEqual(got, want) {
			t.Errorf("decoded %+v (%v), want %+v", got, err, want)
		}
	})
}

func TestDecodeCorrupt(t *testing.T) {
	task := encodeTask(new(sampleTask()), 3)
	res := encodeResult(new(sampleResult()))
	adm := encodeAdmit(new(sampleTask()))
	tests := []struct {
		name   string
		decode func([]byte) error
		b      []byte
	}{
		{"task empty", decodeTaskErr, nil},
		{"task unknown tag", decodeTaskErr, append([]byte{9}, task[1:]...)},
		{"task truncated", decodeTaskErr, task[:len(task)-3]},
		{"task trailing bytes", decodeTaskErr, append(bytes.Clone(task), 0)},
		{"task huge string", decodeTaskErr, []byte{tagTask, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"task bad state", decodeTaskErr, []byte{tagTask, 1, 0, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0}},
		{"task count too large", decodeTaskErr, []byte{tagTask, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"tombstone truncated", decodeTaskErr, []byte{tagTombstone}},
		{"result empty", decodeResultErr, nil},
		{"result truncated", decodeResultErr, res[:len(res)/2]},
		{"result bad error flag", decodeResultErr, append(bytes.Clone(res[:len(res)-len(appendError(nil, sampleResult().Error))]), 7)},
		{"admission truncated", decodeAdmitErr, adm[:len(adm)-1]},
		{"admission without ID", decodeAdmitErr, encodeAdmit(&Task{Count: 1, Expires: time.Now()})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.b); !errors.Is(err, errCorrupt) {
				t.Errorf("decode = %v, want errCorrupt", err)
			}
		})
	}
}

func decodeTaskErr(b []byte) error   { _, _, _, err := decodeTask("id", b); return err }
func decodeResultErr(b []byte) error { _, err := decodeResult(0, b); return err }
func decodeAdmitErr(b []byte) error  { _, err := decodeAdmit(b); return err }

func FuzzDecodeTask(f *testing.F) {
	f.Add(encodeTask(new(sampleTask()), 9))
	f.Add(encodeTombstone(time.Unix(1, 0)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, seq, tomb, err := decodeTask("id", b)
		if err != nil || tomb {
			return
		}
		again, seq2, _, err := decodeTask("id", encodeTask(&tk, seq))
		if err != nil || seq2 != seq || !taskEqual(again, tk) {
			t.Errorf("re-encoding %+v gave %+v, %v", tk, again, err)
		}
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add(encodeResult(new(sampleResult())))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResult(1, b)
		if err != nil {
			return
		}
		again, err := decodeResult(1, encodeResult(&r))
		if err != nil || !resultEqual(again, r) {
			t.Errorf("re-encoding %+v gave %+v, %v", r, again, err)
		}
	})
}

func FuzzDecodeAdmit(f *testing.F) {
	f.Add(encodeAdmit(new(sampleTask())))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeAdmit(b)
	})
}

func FuzzScanJournal(f *testing.F) {
	const epoch = 3
	var buf bytes.Buffer
	buf.Write(make([]byte, journalDataStart))
	for i := range 3 {
		tk := task(taskID(i), 1, time.Unix(1_770_000_000, 0))
		rec := encodeAdmit(&tk)
		var hdr [journalRecordHdr]byte
		frameRecord(hdr[:], epoch, rec)
		buf.Write(hdr[:])
		buf.Write(rec)
	}
	f.Add(buf.Bytes()[journalDataStart:])
	f.Fuzz(func(t *testing.T, b []byte) {
		file := append(make([]byte, journalDataStart), b...)
		end, err := scanJournal(bytes.NewReader(file), epoch, func(p []byte) error {
			_, err := decodeAdmit(p)
			return err
		})
		if err == nil && (end < journalDataStart || end > int64(len(file))) {
			t.Errorf("end %d outside the file of %d bytes", end, len(file))
		}
	})
}
