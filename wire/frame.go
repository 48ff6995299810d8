package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// Reading frames from peers not yet trusted. A frame's header says how
// long it is before any of it arrives, so a reader that believes headers
// can be made to hold memory for bodies that never come. A FrameReader
// takes the frame's announced size from a Budget before it reads the body,
// and gives the frame a deadline from its first byte, so that what
// unfinished frames hold is bounded in bytes and in time.

// Budget bounds the bytes of frames being read, in total and per peer. A
// frame's announced size is taken when its header arrives and given back
// once the frame is complete or abandoned. The zero value admits nothing;
// use NewBudget. It is safe for concurrent use.
type Budget struct {
	total, perPeer int64

	mu    sync.Mutex // guards used and peers
	used  int64
	peers map[string]int64
}

// NewBudget returns a budget of total bytes, of which one peer may hold at
// most perPeer.
func NewBudget(total, perPeer int64) *Budget {
	return &Budget{total: total, perPeer: perPeer, peers: map[string]int64{}}
}

// take reserves n bytes for peer, or reports false when that would put the
// peer or the total over its bound.
func (b *Budget) take(peer string, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total || b.peers[peer]+n > b.perPeer {
		return false
	}
	b.used += n
	b.peers[peer] += n
	return true
}

// give returns n bytes of peer's.
func (b *Budget) give(peer string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.peers[peer] -= n; b.peers[peer] <= 0 {
		delete(b.peers, peer)
	}
}

// Used returns the bytes reserved now, in total and by peer.
func (b *Budget) Used(peer string) (total, byPeer int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peers[peer]
}

// Frame timing: once a frame's first byte is in, its header must follow
// within FrameGrace, and its body within FrameGrace plus its length at
// MinFrameRate. A 10 MiB invocation thus has 15 seconds.
const (
	FrameGrace   = 5 * time.Second
	MinFrameRate = 1 << 20 // bytes per second
)

// ErrFrameTimeout is returned for a frame that did not arrive in time.
var ErrFrameTimeout = errors.New("wire: frame not complete in time")

// ErrBudget is returned when a frame's size would put its peer, or the
// node, over the bytes allowed in unfinished frames.
var ErrBudget = errors.New("wire: too many unfinished requests")

// Deadliner is the part of a stream that bounds reads in time.
type Deadliner interface {
	SetReadDeadline(time.Time) error
}

// FrameReader reads frames from one stream of a peer that is not trusted
// with memory or time. The zero value of each field but R is documented.
type FrameReader struct {
	// R reads the stream.
	R *bufio.Reader
	// Max bounds one frame; zero means MaxFrame.
	Max int
	// Stream sets the read deadlines; nil means no deadlines.
	Stream Deadliner
	// Budget, when not nil, must hold each frame's size (under Peer)
	// while the frame is read.
	Budget *Budget
	Peer   string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (fr *FrameReader) now() time.Time {
	if fr.Now != nil {
		return fr.Now()
	}
	return time.Now()
}

func (fr *FrameReader) deadline(t time.Time) {
	if fr.Stream != nil {
		_ = fr.Stream.SetReadDeadline(t)
	}
}

// Next reads one frame, waiting at most idle for its first byte (zero: no
// bound). A stream that ends cleanly before the first byte gives io.EOF;
// one that ends or stalls inside a frame is fault.Unavailable or
// fault.Timeout; a frame over Max is fault.TooLarge, and one the budget
// cannot hold is fault.Overloaded, each found from the header alone, before
// any of the body is read.
func (fr *FrameReader) Next(idle time.Duration) ([]byte, error) {
	if idle > 0 {
		fr.deadline(fr.now().Add(idle))
	} else {
		fr.deadline(time.Time{})
	}
	if _, err := fr.R.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fault.Wrap(fault.Unavailable, "", fmt.Errorf("wire: frame header: %w", err))
	}
	start := fr.now()
	fr.deadline(start.Add(FrameGrace))
	n, err := readHeader(fr.R)
	if err != nil {
		return nil, fr.explain(err)
	}
	max := fr.Max
	if max <= 0 {
		max = MaxFrame
	}
	if n > uint64(max) {
		return nil, fault.Wrap(fault.TooLarge, "", fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max))
	}
	if fr.Budget != nil {
		if !fr.Budget.take(fr.Peer, int64(n)) {
			return nil, fault.Wrap(fault.Overloaded, "", fmt.Errorf("%w: a frame of %d bytes is over what this node reads at once", ErrBudget, n))
		}
		defer fr.Budget.give(fr.Peer, int64(n))
	}
	fr.deadline(start.Add(FrameGrace + time.Duration(n)*time.Second/MinFrameRate))
	b, err := readBody(fr.R, int(n), fr.Budget != nil)
	if err != nil {
		return nil, fr.explain(fmt.Errorf("wire: frame body: %w", err))
	}
	return b, nil
}

// eagerFrame is the size up to which a frame's buffer is allocated at once
// even when no budget holds it.
const eagerFrame = 64 << 10

// readBody reads n bytes. With reserved (the budget holds n) or a small n
// the buffer is allocated at once; otherwise it grows as the bytes arrive,
// so that a peer that announces megabytes and sends nothing costs nothing.
func readBody(r *bufio.Reader, n int, reserved bool) ([]byte, error) {
	if reserved || n <= eagerFrame {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b := make([]byte, 0, eagerFrame)
	for len(b) < n {
		if len(b) == cap(b) {
			b = append(make([]byte, 0, min(n, 2*cap(b))), b...)
		}
		m, err := r.Read(b[len(b):min(n, cap(b))])
		b = b[:len(b)+m]
		if err != nil && len(b) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// explain gives a read error inside a frame its kind: a deadline that
// passed is a timeout, anything else a broken stream.
func (fr *FrameReader) explain(err error) error {
	if fault.KindOf(err) != fault.Internal {
		return err
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return fault.Wrap(fault.Timeout, "", fmt.Errorf("%w: %v", ErrFrameTimeout, err))
	}
	return fault.Wrap(fault.Unavailable, "", err)
}

// readHeader reads a frame's length, an unsigned varint.
func readHeader(r *bufio.Reader) (uint64, error) {
	var n uint64
	for shift := uint(0); ; shift += 7 {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("wire: frame header: %w", err)
		}
		if shift >= 63 && c > 1 {
			return 0, fault.Wrap(fault.Invalid, "", errors.New("wire: frame header: length overflows 64 bits"))
		}
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return n, nil
		}
	}
}
