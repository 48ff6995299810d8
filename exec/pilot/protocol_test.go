package pilot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

func frame(body string) []byte {
	var b bytes.Buffer
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	b.Write(hdr[:])
	b.WriteString(body)
	return b.Bytes()
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string // kind of error, "" for none
	}{
		{"hello", frame(`{"t":"hello","workers":2,"host":"n1"}`), ""},
		{"result", frame(`{"t":"result","id":3,"result":{"value":1,"started":"2026-01-01T00:00:00Z","finished":"2026-01-01T00:00:00Z"}}`), ""},
		{"error", frame(`{"t":"result","id":3,"err":{"kind":"invalid","message":"x"}}`), ""},
		{"hello with a runtime", frame(`{"t":"hello","workers":2,"host":"n1","runtime":"docker"}`), ""},
		{"runtime too long", frame(`{"t":"hello","workers":2,"runtime":"` + strings.Repeat("d", 65) + `"}`), "invalid"},
		{"no workers", frame(`{"t":"hello"}`), "invalid"},
		{"too many workers", frame(`{"t":"hello","workers":100000}`), "invalid"},
		{"unknown type", frame(`{"t":"shell"}`), "invalid"},
		{"result and error", frame(`{"t":"result","id":3,"result":{},"err":{"kind":"x","message":"y"}}`), "invalid"},
		{"result without id", frame(`{"t":"result","result":{}}`), "invalid"},
		{"error without kind", frame(`{"t":"result","id":1,"err":{"message":"y"}}`), "invalid"},
		{"not json", frame(`{"t":`), "invalid"},
		{"too large", []byte{0xff, 0xff, 0xff, 0xff}, "too-large"},
		{"cut", frame(`{"t":"beat"}`)[:8], "eof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readMessage(bufio.NewReader(bytes.NewReader(tc.in)), 1<<20)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("readMessage: %v", err)
			case tc.want == "eof" && !errors.Is(err, io.ErrUnexpectedEOF):
				t.Fatalf("readMessage = %v, want unexpected EOF", err)
			case tc.want != "" && tc.want != "eof" && string(fault.KindOf(err)) != tc.want:
				t.Fatalf("readMessage = %v (kind %q), want kind %s", err, fault.KindOf(err), tc.want)
			}
		})
	}
}

func TestMessageRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	task := exec.Task{Tenant: "alice", Function: exec.Function{ID: "f", Kind: exec.KindShell, Command: "echo"}, Retries: 2}
	if err := writeMessage(w, &message{Type: msgTask, ID: 9, Task: &task}); err != nil {
		t.Fatal(err)
	}
	m, err := readMessage(bufio.NewReader(&b), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != 9 || m.Task.Tenant != "alice" || m.Task.Retries != 2 || m.Task.Function.Command != "echo" {
		t.Fatalf("round trip: %+v", m)
	}
}

// FuzzReadMessage: whatever an agent sends, the manager's reader returns
// a checked message or an error, never panics, and never takes a frame
// over its limit.
func FuzzReadMessage(f *testing.F) {
	for _, s := range []string{
		`{"t":"hello","workers":2,"host":"n1"}`, `{"t":"beat","running":1}`,
		`{"t":"hello","workers":1,"runtime":"podman"}`,
		`{"t":"result","id":3,"result":{"value":[1,2],"error":{"kind":"user","message":"x"}}}`,
		`{"t":"result","id":3,"err":{"kind":"invalid","message":"x"}}`,
		`{"t":"task","id":1,"task":{"function":{"id":"f","kind":"python"}}}`, `{"t":"welcome","beat":1000}`,
	} {
		f.Add(frame(s))
	}
	f.Add([]byte{0, 0, 0, 200, '{'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readMessage(bufio.NewReader(bytes.NewReader(b)), 1<<16)
		if err != nil {
			return
		}
		switch m.Type {
		case msgHello:
			if m.Workers < 1 || m.Workers > maxAgentWorkers || len(m.Runtime) > 64 {
				t.Fatalf("hello of %d workers, runtime of %d bytes accepted", m.Workers, len(m.Runtime))
			}
		case msgResult:
			if m.ID == 0 || (m.Result == nil) == (m.Err == nil) {
				t.Fatalf("malformed result accepted: %+v", m)
			}
		case msgTask, msgCancel, msgBeat, msgWelcome:
		default:
			t.Fatalf("unknown type %q accepted", m.Type)
		}
		if len(b) > 4+1<<16 && binary.BigEndian.Uint32(b) > 1<<16 {
			t.Fatal("frame over the limit accepted")
		}
	})
}
