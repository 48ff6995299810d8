package exec

import (
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/fxmesh/fxmesh/fault"
)

// The defaults of Limits' zero fields.
const (
	DefaultMaxOutputBytes = 64 << 10 // 64 KiB of stdout, and as much of stderr
	DefaultMaxResultBytes = 10 << 20 // 10 MiB of result JSON
)

// Limits bound what a task may produce. The zero value means the defaults.
type Limits struct {
	// MaxOutputBytes bounds Result.Stdout and Result.Stderr, each (before
	// the truncation note); 0 means DefaultMaxOutputBytes.
	MaxOutputBytes int `json:"max_output_bytes,omitempty"`
	// MaxResultBytes bounds Result.Value; a larger return value fails the
	// task with fault.TooLarge. 0 means DefaultMaxResultBytes.
	MaxResultBytes int `json:"max_result_bytes,omitempty"`
}

// WithDefaults returns l with its zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if l.MaxResultBytes == 0 {
		l.MaxResultBytes = DefaultMaxResultBytes
	}
	return l
}

// Validate reports a negative or absurd limit as fault.Invalid.
func (l Limits) Validate() error {
	const most = 1 << 30
	if l.MaxOutputBytes < 0 || l.MaxOutputBytes > most {
		return fault.E(fault.Invalid, "exec: limits", "max output bytes %d out of range [0, %d]", l.MaxOutputBytes, most)
	}
	if l.MaxResultBytes < 0 || l.MaxResultBytes > most {
		return fault.E(fault.Invalid, "exec: limits", "max result bytes %d out of range [0, %d]", l.MaxResultBytes, most)
	}
	return nil
}

// TruncatedNote starts the note that Truncate appends to cut output.
const TruncatedNote = "\n[fxmesh: output truncated, "

// Truncate bounds task output: s is the start of what a task wrote, total
// how many bytes it wrote in all (values below len(s) count as len(s)). It
// returns s cut to at most max bytes, at a UTF-8 boundary, followed, if
// anything is missing, by TruncatedNote and the number of bytes dropped.
func Truncate(s string, total int64, max int) string {
	if max < 0 {
		max = 0
	}
	if total < int64(len(s)) {
		total = int64(len(s))
	}
	if len(s) > max {
		cut := max
		for i := 1; i < utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
			cut--
		}
		if !utf8.RuneStart(s[cut]) { // not UTF-8 anyway: cut at max
			cut = max
		}
		s = s[:cut]
	}
	dropped := total - int64(len(s))
	if dropped <= 0 {
		return s
	}
	return s + TruncatedNote + strconv.FormatInt(dropped, 10) + " bytes dropped]\n"
}

// OutputBuffer is an io.Writer that keeps the first Max bytes written to it
// and counts the rest, for capturing a task's output. Its zero value keeps
// nothing; it is safe for concurrent use.
type OutputBuffer struct {
	Max int // bytes to keep

	mu    sync.Mutex // guards buf and total
	buf   []byte
	total int64
}

// Write keeps what fits and always reports success, so that a chatty task
// is not killed by a full buffer.
func (b *OutputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.Max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	b.total += int64(len(p))
	return len(p), nil
}

// String returns what was kept, truncated as Truncate does.
func (b *OutputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Truncate(string(b.buf), b.total, b.Max)
}

// Len returns how many bytes were written in all.
func (b *OutputBuffer) Len() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}
