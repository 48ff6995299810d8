package python

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	fxexec "github.com/fxmesh/fxmesh/exec"
)

func frame(body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(b, body...)
}

func TestReadFrame(t *testing.T) {
	big := strings.Repeat("x", 100)
	tests := []struct {
		name    string
		in      []byte
		limit   int
		want    []string
		wantErr error
	}{
		{"empty stream", nil, 1000, nil, io.EOF},
		{"one", frame(`{"v":1}`), 1000, []string{`{"v":1}`}, io.EOF},
		{"two", append(frame("a"), frame("bc")...), 1000, []string{"a", "bc"}, io.EOF},
		{"empty body", frame(""), 1000, []string{""}, io.EOF},
		{"bigger than the reader's buffer", frame(big), 1000, []string{big}, io.EOF},
		{"partial header", []byte{0, 0}, 1000, nil, io.ErrUnexpectedEOF},
		{"partial body", frame("abc")[:5], 1000, nil, io.ErrUnexpectedEOF},
		{"partial big body", frame(big)[:50], 1000, nil, io.ErrUnexpectedEOF},
		{"over the limit", frame(big), 99, nil, errFrameTooLarge},
		{"huge claim", []byte{0x3f, 0xff, 0xff, 0xff, 'x'}, 1 << 30, nil, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(bytes.NewReader(tc.in), 16)
			var buf []byte
			var got []string
			for {
				b, err := readFrame(r, &buf, tc.limit)
				if err != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("err = %v, want %v", err, tc.wantErr)
					}
					break
				}
				got = append(got, string(b))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("frames %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeReply(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    reply
		wantErr bool
	}{
		{"value", `{"v":[1,2]}`, reply{V: json.RawMessage(`[1,2]`)}, false},
		{"null", `{"v":null}`, reply{V: json.RawMessage(`null`)}, false},
		{"output", `{"o":"hi\n","ot":3,"v":"x"}`, reply{O: "hi\n", OT: 3, V: json.RawMessage(`"x"`)}, false},
		{"forged fast path", `{"v":1,"o":"x"}`, reply{V: json.RawMessage(`1`), O: "x"}, false},
		{"error", `{"x":{"k":"user","t":"E","m":"m","tb":"t"}}`, reply{X: &wireError{"user", "E", "m", "t"}}, false},
		{"miss", `{"miss":true}`, reply{Miss: true}, false},
		{"empty object", `{}`, reply{}, true},
		{"not json", `{"v":`, reply{}, true},
		{"invalid value", `{"v":nope}`, reply{}, true},
		{"wrong type", `{"ot":"3","v":1}`, reply{}, true},
		{"empty", ``, reply{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeReply([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errBadReply) {
					t.Errorf("err = %v, not errBadReply", err)
				}
				return
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if !bytes.Equal(g, w) {
				t.Fatalf("reply %s, want %s", g, w)
			}
		})
	}
}

func TestAppendRequest(t *testing.T) {
	fn := &fxexec.Function{ID: "id\"1", Source: "def f(): pass\n", Entry: "f"}
	b := appendRequest(nil, fn, true, []fxexec.Input{
		{},
		{Args: json.RawMessage(` [1, "a"] `), Kwargs: json.RawMessage(`{"k": null}`)},
		{Args: json.RawMessage(`null`), Kwargs: json.RawMessage(`null`)},
	})
	if n := binary.BigEndian.Uint32(b); int(n) != len(b)-4 {
		t.Fatalf("length prefix %d, body %d bytes", n, len(b)-4)
	}
	var req struct {
		F, S, E string
		B       [][2]any
	}
	if err := json.Unmarshal(b[4:], &req); err != nil {
		t.Fatalf("request %s: %v", b[4:], err)
	}
	got, _ := json.Marshal(req)
	want := `{"F":"id\"1","S":"def f(): pass\n","E":"f","B":[[[],{}],[[1,"a"],{"k":null}],[[],{}]]}`
	if string(got) != want {
		t.Fatalf("request %s, want %s", got, want)
	}
	if b := appendRequest(nil, fn, false, nil); string(b[4:]) != `{"f":"id\"1","b":[]}` {
		t.Fatalf("request without source: %s", b[4:])
	}
}

// FuzzDecodeFrame feeds the decoder of worker output random bytes: it must
// return errors, never panic, and never allocate for what did not arrive.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"v":1}`, `{"v":null}`, `{"ready":true}`, `{"miss":true}`, `{"lx":{"k":"user","t":"SyntaxError"}}`,
		`{"o":"out","ot":3,"e":"err","et":99,"v":{"a":[1,2.5,"x"]}}`,
		`{"x":{"k":"too-large","t":"T","m":"M","tb":"TB"}}`, `{"v":`, `{"v":1}}`,
	} {
		f.Add(frame(s))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(append(frame(`{"v":1}`), 0, 0, 0x10, 0, '{'))
	lim := fxexec.Limits{MaxOutputBytes: 16, MaxResultBytes: 64}
	w := &worker{lim: lim}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 64)
		var buf []byte
		for {
			body, err := readFrame(r, &buf, 4096)
			if err != nil {
				return
			}
			if len(body) > 4096 || cap(buf) > 2*len(data)+64<<10 {
				t.Fatalf("frame of %d bytes, buffer of %d, from %d bytes of input", len(body), cap(buf), len(data))
			}
			rep, err := decodeReply(body)
			if err != nil {
				continue
			}
			if rep.V != nil && !json.Valid(rep.V) {
				t.Fatalf("decoded invalid JSON value %q", rep.V)
			}
			res := w.result(&rep, time.Time{}, time.Time{})
			for _, s := range []string{res.Stdout, res.Stderr} {
				if len(s) > lim.MaxOutputBytes+len(fxexec.TruncatedNote)+32 {
					t.Fatalf("output of %d bytes past the limit %d", len(s), lim.MaxOutputBytes)
				}
			}
			if len(res.Value) > lim.MaxResultBytes {
				t.Fatalf("value of %d bytes past the limit", len(res.Value))
			}
			if rep.X != nil && (res.Error == nil || res.Error.Kind != "user" && res.Error.Kind != "too-large") {
				t.Fatalf("exception became %+v", res.Error)
			}
		}
	})
}

// FuzzAppendString checks the request encoder's strings against
// encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x1f\n\t\r", "é\u2028😀", "bad\xffutf8\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json's to %q", s, back, wantBack)
		}
	})
}
