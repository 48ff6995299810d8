package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lines reads the lines of the file at path; none when it is absent.
func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// TestRotation: past MaxBytes the file moves to PATH.1 and the older ones
// up by one; no more than Keep rotated files stay, no line is split, and
// the newest lines are in PATH.
func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	f, err := Open(path, Options{MaxBytes: 100, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Each line is 10 bytes: ten fit a file exactly, the eleventh rotates.
	for i := range 45 {
		if err := f.WriteLine(fmt.Appendf(nil, "line %04d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name        string
		first, last int
	}{{"audit.log", 40, 44}, {"audit.log.1", 30, 39}, {"audit.log.2", 20, 29}} {
		got := lines(t, filepath.Join(filepath.Dir(path), tc.name))
		want := tc.last - tc.first + 1
		if len(got) != want || got[0] != fmt.Sprintf("line %04d", tc.first) || got[len(got)-1] != fmt.Sprintf("line %04d", tc.last) {
			t.Errorf("%s holds %q, want lines %d to %d", tc.name, got, tc.first, tc.last)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("audit.log.3 exists (err %v): Keep is 2", err)
	}
	tail, err := Tail(path, 7)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tail, ",") != "line 0038,line 0039,line 0040,line 0041,line 0042,line 0043,line 0044" {
		t.Errorf("Tail(7) = %q", tail)
	}
}

// TestReopenAppends: a File opened on an existing log appends, and counts
// what is there towards MaxBytes.
func TestReopenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for range 2 {
		f, err := Open(path, Options{MaxBytes: 25})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.WriteLine([]byte("0123456789\n")); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Open(path, Options{MaxBytes: 25})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteLine([]byte("0123456789\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, old := lines(t, path), lines(t, path+".1"); len(got) != 1 || len(old) != 2 {
		t.Errorf("after three lines of 11 bytes with MaxBytes 25: %d lines in the log, %d in .1; want 1 and 2", len(got), len(old))
	}
	if err := f.WriteLine([]byte("x\n")); err != ErrClosed {
		t.Errorf("write after Close = %v, want ErrClosed", err)
	}
}

// TestEventLine: an event is one JSON line with its times in UTC and
// nothing of what it leaves empty.
func TestEventLine(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 5, time.FixedZone("x", 3600))
	e := Event{Time: at.UTC(), Event: Finished, Task: "bafk", Caller: "12D3", Function: "bafy", Inputs: 1,
		Outcome: "failed", ErrorKind: "user", FailedInputs: 1, Received: At(at), Started: At(time.Time{})}
	b, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n") != 1 || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("line %q is not one line", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["received"] != "2026-11-26T11:00:00.000000005Z" {
		t.Errorf("received = %v, want UTC", m["received"])
	}
	for _, absent := range []string{"started", "finished", "reason", "detail"} {
		if _, ok := m[absent]; ok {
			t.Errorf("line has %s: %s", absent, b)
		}
	}
}
