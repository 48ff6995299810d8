package taskstore

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// boots returns a bootInfo for Options: the machine booted at booted, as
// boot id; "" means the boot is unknown.
func boots(id string, booted time.Time) func() (string, time.Time, bool) {
	return func() (string, time.Time, bool) { return id, booted, id != "" }
}

// loseUnsynced empties the records of the journal files beside path, as a
// crash of the machine does with writes its kernel had not yet synced.
func loseUnsynced(t *testing.T, path string) {
	t.Helper()
	for _, suffix := range []string{"-a", "-b"} {
		f, err := os.OpenFile(path+".journal"+suffix, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		if _, err := f.WriteAt(make([]byte, fi.Size()-journalDataStart), journalDataStart); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// TestHorizon: after a crash of the machine, with admissions not yet
// synced, the store refuses what was issued before the machine restarted,
// even though the admission itself is gone; a killed process, a clean
// close or synced admissions set no horizon.
func TestHorizon(t *testing.T) {
	c := newClock()
	admitted := c.Now()
	booted := admitted.Add(time.Minute) // the machine came back a minute later
	tests := []struct {
		name   string
		synced bool                        // SyncAdmissions in the run that crashed
		end    func(s *Store, path string) // how that run ended
		boot   func() (string, time.Time, bool)
		want   time.Time // the horizon after reopening
	}{
		{"clean close, other boot", false, func(s *Store, _ string) { s.Close() }, boots("boot-2", booted), time.Time{}},
		{"process killed, same boot", false, func(s *Store, _ string) { s.crash() }, boots("boot-1", booted), time.Time{}},
		{"machine crashed", false, func(s *Store, p string) { s.crash(); loseUnsynced(t, p) }, boots("boot-2", booted), booted},
		{"machine crashed, boot unknown", false, func(s *Store, p string) { s.crash(); loseUnsynced(t, p) }, boots("", time.Time{}), c.Now().Add(2 * time.Minute)},
		{"machine crashed, admissions synced", true, func(s *Store, _ string) { s.crash() }, boots("boot-2", booted), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			opts := Options{Now: c.Now, FlushInterval: time.Hour, SyncAdmissions: tt.synced, bootInfo: boots("boot-1", admitted.Add(-time.Hour))}
			s, path := openTest(t, opts)
			tk := task(taskID(1), 1, c.Now())
			if err := s.Admit(tk); err != nil {
				t.Fatal(err)
			}
			tt.end(s, path)
			c.Advance(2 * time.Minute)
			opts.bootInfo = tt.boot
			s = reopen(t, path, opts)
			if got := s.Horizon(); !got.Equal(tt.want) {
				t.Fatalf("Horizon = %v, want %v", got, tt.want)
			}
			err := s.Admit(tk)
			if tt.want.IsZero() {
				if !errors.Is(err, ErrReplayed) {
					t.Fatalf("replay = %v, want ErrReplayed", err)
				}
				return
			}
			// The admission was lost with the machine: the horizon refuses
			// the replay instead, and says why.
			if fault.KindOf(err) != fault.Expired || !strings.Contains(err.Error(), "restarted") {
				t.Fatalf("replay = %v, want expired, naming the restart", err)
			}
			// Invocations issued after the machine restarted run.
			fresh := task(taskID(2), 1, c.Now())
			if err := s.Admit(fresh); err != nil {
				t.Fatalf("Admit of a task issued after the restart: %v", err)
			}
			// The horizon outlives a clean restart.
			s.Close()
			opts.bootInfo = boots("boot-3", c.Now())
			if s = reopen(t, path, opts); !s.Horizon().Equal(tt.want) {
				t.Fatalf("after a clean restart Horizon = %v, want %v", s.Horizon(), tt.want)
			}
		})
	}
}

func TestOpenMark(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	booted := now.Add(-time.Minute)
	tests := []struct {
		name  string
		prev  openMark
		found bool
		cur   openMark
		want  time.Time
	}{
		{"no mark", openMark{}, false, openMark{boot: "b"}, time.Time{}},
		{"same boot", openMark{boot: "a"}, true, openMark{boot: "a"}, time.Time{}},
		{"other boot", openMark{boot: "a"}, true, openMark{boot: "b"}, booted},
		{"synced", openMark{boot: "a", synced: true}, true, openMark{boot: "b"}, time.Time{}},
		{"boot unknown now", openMark{boot: "a"}, true, openMark{}, now},
		{"boot unknown then", openMark{}, true, openMark{boot: "b"}, booted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lostSince(tt.prev, tt.found, tt.cur, booted, now); !got.Equal(tt.want) {
				t.Fatalf("lostSince = %v, want %v", got, tt.want)
			}
		})
	}
	path := t.TempDir() + "/mark"
	for _, m := range []openMark{{boot: "x", synced: true}, {}} {
		if err := writeMark(path, m, false); err != nil {
			t.Fatal(err)
		}
		got, found, err := readMark(path)
		if err != nil || !found || got != m {
			t.Fatalf("readMark = %+v, %v, %v; want %+v", got, found, err, m)
		}
	}
	if err := removeMark(path, false); err != nil {
		t.Fatal(err)
	}
	if _, found, err := readMark(path); found || err != nil {
		t.Fatalf("after removeMark: found %v, err %v", found, err)
	}
}

// TestBootInfo reads the real machine's boot: on Linux an ID and a time in
// the past; elsewhere nothing.
func TestBootInfo(t *testing.T) {
	id, booted, ok := bootInfo()
	if runtime.GOOS != "linux" {
		if ok {
			t.Fatalf("bootInfo = %q, %v, true off Linux", id, booted)
		}
		return
	}
	if !ok || len(id) < 16 || !booted.Before(time.Now()) || booted.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("bootInfo = %q, %v, %v", id, booted, ok)
	}
}
