package python

// The worker protocol. Go writes requests to the worker's fd 3 and reads
// replies from its fd 4; both ways a message is a frame, a 4-byte big-endian
// length followed by that many bytes of JSON.
//
// A request runs one function on a list of inputs:
//
//	{"f":ID, "s":SOURCE, "e":ENTRY, "b":[[ARGS,KWARGS], ...]}
//
// "s" and "e" come only when Go believes the worker lacks the function (or
// holds another version of it under the ID); the worker compiles SOURCE
// once, caches the function by ID and calls ENTRY(*ARGS, **KWARGS) for each
// input in turn. The worker answers with one frame per input, in order:
//
//	{"v":VALUE}                                   returned VALUE
//	{"o":OUT,"ot":N,"e":ERR,"et":M,"v":VALUE}     and wrote output ("v" last)
//	{"o":...,"x":{"k":KIND,"t":TYPE,"m":MSG,"tb":TRACEBACK}}  failed
//
// where OUT and ERR are the first MaxOutputBytes (roughly) of what the
// input wrote to sys.stdout and sys.stderr and N and M the bytes written in
// all. Instead of the per-input frames it may answer once:
//
//	{"miss":true}  it has no function ID (evicted, or a new worker): resend with "s"
//	{"lx":{...}}   compiling SOURCE or finding ENTRY failed; every input fails so
//	{"loaded":true} the function loaded, for a request with "s" and no inputs
//
// A worker sends {"ready":true} once when it starts.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/fxmesh/fxmesh/exec"
	workerreply "github.com/fxmesh/fxmesh/exec/internal/reply"
)

// maxCached is how many functions Go believes a worker keeps; the worker's
// MAX_FUNCTIONS. Believing too much costs a round trip ("miss"), never a
// wrong answer.
const maxCached = 256

// frameSlack is room in a frame beyond the limits, for JSON escapes and
// framing of a reply.
const frameSlack = 64 << 10

// maxFrame returns the largest reply frame a worker may send under lim: a
// result, and output and error texts of up to MaxOutputBytes characters
// each, which JSON's \uXXXX escapes may grow up to twelvefold.
func maxFrame(lim exec.Limits) int {
	return lim.MaxResultBytes + 48*lim.MaxOutputBytes + frameSlack
}

var (
	errFrameTooLarge = errors.New("frame too large")
	errBadReply      = errors.New("malformed reply")
)

// readFrame reads one frame from r and returns its body. The body aliases
// r's buffer when it fits there, else *buf (grown as needed), and is valid
// until the next read. It refuses frames over limit and never allocates much
// more than twice the bytes that actually arrived, whatever the length
// prefix claims. A clean end before a frame is io.EOF; an end inside one,
// io.ErrUnexpectedEOF.
func readFrame(r *bufio.Reader, buf *[]byte, limit int) ([]byte, error) {
	hdr, err := r.Peek(4)
	if err != nil {
		if len(hdr) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n64 := int64(binary.BigEndian.Uint32(hdr))
	if n64 > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, over %d", errFrameTooLarge, n64, limit)
	}
	n := int(n64)
	_, _ = r.Discard(4)
	if n <= r.Size() {
		body, err := r.Peek(n)
		if err != nil {
			return nil, noEOF(err)
		}
		_, _ = r.Discard(n)
		return body, nil
	}
	b := (*buf)[:0]
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(n-len(b), max(len(b), 64<<10)))
		}
		m, err := r.Read(b[len(b):min(n, cap(b))])
		b = b[:len(b)+m]
		if err != nil && len(b) < n {
			*buf = b[:0]
			return nil, noEOF(err)
		}
	}
	*buf = b[:0]
	return b, nil
}

// noEOF turns io.EOF, met inside a frame, into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
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

// decodeReply decodes a reply body. Its fields are copies: body may be
// reused. A reply with nothing it recognises is an error.
func decodeReply(body []byte) (reply, error) { return workerreply.Decode[wireError](body, errBadReply) }

// taskError converts a worker's exception, trusting only the kinds a worker
// may report.
func (e *wireError) taskError(max int) *exec.TaskError {
	return workerreply.TaskError(e.K, e.T, e.M, e.TB, max)
}

// appendRequest appends the frame of a request to run fn on inputs, with
// fn's source when withSource.
func appendRequest(b []byte, fn *exec.Function, withSource bool, inputs []exec.Input) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, '{', '"', 'f', '"', ':')
	b = appendString(b, fn.ID)
	if withSource {
		b = append(b, `,"s":`...)
		b = appendString(b, fn.Source)
		b = append(b, `,"e":`...)
		b = appendString(b, fn.Entry)
	}
	b = append(b, `,"b":[`...)
	for i, in := range inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		if exec.IsEmptyJSON(in.Args) {
			b = append(b, '[', ']')
		} else {
			b = append(b, in.Args...)
		}
		b = append(b, ',')
		if exec.IsEmptyJSON(in.Kwargs) {
			b = append(b, '{', '}')
		} else {
			b = append(b, in.Kwargs...)
		}
		b = append(b, ']')
	}
	b = append(b, ']', '}')
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
