package routing

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestExplain(t *testing.T) {
	caller := testCaller(t)
	cands := []Candidate{
		up(gpuBox(t), load(4, 1, 0), 1500*time.Microsecond),
		up(dataBox(t), load(8, 6, 2), 42*time.Millisecond),
		up(cpuBox(t), nil, 0),
		{Record: box(t, 10, "laptop"), Online: false},
		up(box(t, 11, ""), load(2, 0, 1), time.Millisecond),
		up(box(t, 12, "new"), nil, 0),
	}
	cands[4].Record.Software.Python = []string{"3.12.3"}
	cands[5].Record.Software.Python = []string{"3.10.1"}
	scored := Rank(cands, Request{Requirements: mustReqs(t, "python>=3.10"), Caller: caller, Datasets: []string{"cryo-2026"}})
	var buf bytes.Buffer
	if err := Explain(&buf, scored); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "explain.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestExplain -update ./routing/ to write it)", err)
	}
	if buf.String() != string(want) {
		t.Fatalf("Explain wrote\n%s\nwant (%s)\n%s", buf.String(), golden, want)
	}
	for _, s := range []string{"rejected: offline", "rejected: needs python>=3.10, has [3.9.18]", "unknown"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("the table does not say %q", s)
		}
	}
}

func TestShortID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{"12D3KooWABCDEFGHIJ", "12*EFGHIJ"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := shortID(tc.in); got != tc.want {
				t.Fatalf("shortID(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
