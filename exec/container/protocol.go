package container

// The worker protocols, spoken on the container's stdin and stdout.
//
// Python (worker.py): both ways a message is a frame, a 4-byte big-endian
// length and that many bytes of JSON. A request runs one function on one
// input:
//
//	{"f":ID, "s":SOURCE, "e":ENTRY, "a":ARGS, "k":KWARGS, "c":true}
//
// "s" and "e" come when Go believes the worker lacks the function, "c" when
// the worker should forget every function first (Go keeps count), and a
// request with "s" but no "a" only loads the function. Replies:
//
//	{"ready":true}                          once, when the worker starts
//	{"o":OUT,"ot":N,"e":ERR,"et":M,"v":V}    the call returned V
//	{"o":...,"x":{"k":KIND,"t":TYPE,"m":MSG,"tb":TRACEBACK}}  it failed
//	{"lx":{...}}                            compiling the source failed
//	{"loaded":true}                         the function loaded
//	{"miss":true}                           the worker lacks function ID
//
// Shell (worker.sh): lines. A request is the number of words of argv, then
// each word as a printf format (escape writes it); the reply is a line
// "STATUS OUT_BYTES ERR_BYTES" and then those bytes.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/exec"
	workerreply "github.com/fxmesh/fxmesh/exec/internal/reply"
	"github.com/fxmesh/fxmesh/fault"
)

// maxCached is how many functions a worker is asked to keep before Go tells
// it to forget them all.
const maxCached = 256

var errProtocol = errors.New("worker broke the protocol")

// request is a Python request.
type request struct {
	F string          `json:"f"`
	S *string         `json:"s,omitempty"`
	E *string         `json:"e,omitempty"`
	A json.RawMessage `json:"a,omitempty"`
	K json.RawMessage `json:"k,omitempty"`
	C bool            `json:"c,omitempty"`
}

// appendFrame appends the frame of req to b.
func appendFrame(b []byte, req *request) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return b, fault.Wrap(fault.Invalid, "exec/container: request", err)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...), nil
}

// readFrame reads one frame of at most limit bytes.
func readFrame(r *bufio.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(limit) {
		return nil, fmt.Errorf("%w: a frame of %d bytes, over %d", errProtocol, n, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

// maxFrame is the largest reply a worker may send under lim: a result and
// two outputs, which JSON's \uXXXX escapes may grow twelvefold.
func maxFrame(lim exec.Limits) int {
	return lim.MaxResultBytes + 24*lim.MaxOutputBytes + 64<<10
}

// reply is a decoded reply.
type reply = workerreply.Reply[wireError]

// wireError is an exception as the worker reports it.
type wireError struct {
	K  string `json:"k"`
	T  string `json:"t"`
	M  string `json:"m"`
	TB string `json:"tb"`
}

// decodeReply decodes a reply, refusing one that says nothing.
func decodeReply(body []byte) (reply, error) { return workerreply.Decode[wireError](body, errProtocol) }

// taskError converts a worker's exception, trusting only the kinds a worker
// may report.
func (e *wireError) taskError(max int) *exec.TaskError {
	return workerreply.TaskError(e.K, e.T, e.M, e.TB, max)
}

// appendCommand appends the shell request that runs argv.
func appendCommand(b []byte, argv []string) []byte {
	b = strconv.AppendInt(b, int64(len(argv)), 10)
	b = append(b, '\n')
	for _, w := range argv {
		b = escape(b, w)
		b = append(b, '\n')
	}
	return b
}

// escape appends w as a printf format that prints w: plain characters as
// they are, every other byte (blanks, quotes, %, \, a leading -) as an
// octal escape.
func escape(b []byte, w string) []byte {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("_./,:=+@", c) >= 0 || c == '-' && i > 0 {
			b = append(b, c)
			continue
		}
		b = append(b, '\\', '0'+c>>6, '0'+c>>3&7, '0'+c&7)
	}
	return b
}

// status is the head of a shell reply.
type status struct {
	code     int
	out, err int64
}

// readStatus reads the head line of a shell reply.
func readStatus(r *bufio.Reader) (status, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return status{}, fmt.Errorf("%w: a status line of over %d bytes", errProtocol, r.Size())
		}
		return status{}, err
	}
	f := strings.Fields(string(line))
	var s status
	var e1, e2, e3 error
	if len(f) == 3 {
		s.code, e1 = strconv.Atoi(f[0])
		s.out, e2 = strconv.ParseInt(f[1], 10, 64)
		s.err, e3 = strconv.ParseInt(f[2], 10, 64)
	}
	if len(f) != 3 || e1 != nil || e2 != nil || e3 != nil || s.out < 0 || s.err < 0 {
		return status{}, fmt.Errorf("%w: status line %.64q", errProtocol, line)
	}
	return s, nil
}
