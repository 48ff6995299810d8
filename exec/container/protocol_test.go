package container

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadStatus(t *testing.T) {
	tests := []struct {
		name, in string
		want     status
		err      error
	}{
		{"plain", "0 12 3\n", status{0, 12, 3}, nil},
		{"wc's padding", "127       0      42\n", status{127, 0, 42}, nil},
		{"two fields", "0 12\n", status{}, errProtocol},
		{"negative size", "0 -1 0\n", status{}, errProtocol},
		{"words", "ready\n", status{}, errProtocol},
		{"no newline", "0 1 2", status{}, io.EOF},
		{"too long", strings.Repeat("1", 100) + "\n", status{}, errProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readStatus(bufio.NewReaderSize(strings.NewReader(tc.in), 64))
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("readStatus = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	frame := func(body string) string {
		return string(binary.BigEndian.AppendUint32(nil, uint32(len(body)))) + body
	}
	tests := []struct {
		name, in string
		want     string
		err      error
	}{
		{"one", frame(`{"v":1}`), `{"v":1}`, nil},
		{"empty stream", "", "", io.EOF},
		{"cut body", frame(`{"v":1}`)[:6], "", io.ErrUnexpectedEOF},
		{"over the limit", frame(strings.Repeat("x", 65)), "", errProtocol},
		{"huge claim", "\xff\xff\xff\xff", "", errProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readFrame(bufio.NewReader(strings.NewReader(tc.in)), 64)
			if !errors.Is(err, tc.err) || string(got) != tc.want {
				t.Errorf("readFrame = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// FuzzReply feeds the Go side of the Python protocol what a worker (which
// runs the user's code) might write: it must never panic, and a reply it
// accepts says something.
func FuzzReply(f *testing.F) {
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"o":"out","ot":3,"x":{"k":"too-large","t":"T","m":"m"}}`))
	f.Add([]byte(`{"lx":{"k":"system"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
		b, err := readFrame(bufio.NewReader(bytes.NewReader(in)), 1<<16)
		if err != nil {
			return
		}
		r, err := decodeReply(b)
		if err != nil {
			return
		}
		if r.V == nil && r.X == nil && r.LX == nil && !r.Loaded && !r.Miss && !r.Ready {
			t.Fatalf("accepted an empty reply %q", body)
		}
		for _, x := range []*wireError{r.X, r.LX} {
			if x == nil {
				continue
			}
			if te := x.taskError(100); te.Kind != "user" && te.Kind != "too-large" {
				t.Fatalf("a worker reported kind %q", te.Kind)
			}
		}
	})
}

// FuzzStatus: the shell worker's status line, whatever it is, never panics
// readStatus, and what it accepts has sizes it can read.
func FuzzStatus(f *testing.F) {
	f.Add([]byte("0 1 2\n"))
	f.Add([]byte("1 99999999999999999999 0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := readStatus(bufio.NewReaderSize(bytes.NewReader(in), 64))
		if err == nil && (s.out < 0 || s.err < 0) {
			t.Fatalf("accepted %q as %+v", in, s)
		}
	})
}

func TestEscape(t *testing.T) {
	got := string(appendCommand(nil, []string{"printf", "-n", "a b%\\", ""}))
	want := "4\nprintf\n\\055n\na\\040b\\045\\134\n\n"
	if got != want {
		t.Errorf("appendCommand = %q, want %q", got, want)
	}
}
