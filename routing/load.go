package routing

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Load is what an endpoint says of its capacity now: the content of the
// heartbeat it publishes every few seconds (to the nodes that follow the
// load topic: bootstraps and web-view nodes), and of its answer to a
// status request.
//
// Heartbeats are not signed on their own. Gossipsub signs every message with
// the key of the peer that sent it, and the node that receives one checks
// that the sender is ID before it believes the rest; a heartbeat relayed or
// forged for another peer is dropped there.
type Load struct {
	// ID is the endpoint's peer ID.
	ID string `cbor:"1,keyasint" json:"id"`
	// Seq grows with every heartbeat of one run of the endpoint. Set it from
	// the clock (Unix nanoseconds) so that it grows across restarts too.
	Seq uint64 `cbor:"2,keyasint" json:"seq"`
	// Workers is the size of the endpoint's worker pool; Idle how many of
	// them wait for work, Running how many run a task, and Queued how many
	// tasks wait for a worker.
	Workers int `cbor:"3,keyasint" json:"workers"`
	Idle    int `cbor:"4,keyasint" json:"idle"`
	Running int `cbor:"5,keyasint" json:"running"`
	Queued  int `cbor:"6,keyasint" json:"queued"`
	// Accepting is false while the endpoint refuses new work (draining,
	// shutting down, over a limit).
	Accepting bool `cbor:"7,keyasint" json:"accepting"`
	// At is when the endpoint measured this, by its clock. It travels as an
	// RFC 3339 string with nanoseconds, and is read back in UTC.
	At time.Time `cbor:"8,keyasint" json:"at"`
}

// Free is the number of workers free for new work: idle workers not already
// claimed by queued tasks. It is negative when tasks queue beyond them.
func (l Load) Free() int { return l.Idle - l.Queued }

// Bounds of a heartbeat.
const (
	// MaxHeartbeatBytes bounds an encoded heartbeat.
	MaxHeartbeatBytes = 512
	// MaxLoadCount bounds each of Load's counts.
	MaxLoadCount = 1 << 24
)

// Errors of EncodeHeartbeat and DecodeHeartbeat.
var (
	ErrHeartbeatTooLarge = errors.New("routing: heartbeat too large")
	ErrBadHeartbeat      = errors.New("routing: malformed heartbeat")
)

var (
	hbEncMode cbor.EncMode
	hbDecMode cbor.DecMode
)

func init() {
	enc := cbor.CoreDetEncOptions()
	enc.Time = cbor.TimeRFC3339Nano
	var err error
	if hbEncMode, err = enc.EncMode(); err != nil {
		panic(err)
	}
	hbDecMode = wire.Strict(wire.Bounds{Nesting: 4, Arrays: 16, MapPairs: 16})
}

// validate checks l's fields.
func (l *Load) validate() error {
	if _, err := peer.Decode(l.ID); err != nil {
		return fmt.Errorf("id: %v", err)
	}
	if l.Seq == 0 {
		return errors.New("seq is zero")
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"workers", l.Workers}, {"idle", l.Idle}, {"running", l.Running}, {"queued", l.Queued}} {
		if c.n < 0 || c.n > MaxLoadCount {
			return fmt.Errorf("%s %d outside 0 to %d", c.name, c.n, MaxLoadCount)
		}
	}
	if l.At.IsZero() {
		return errors.New("no time")
	}
	if y := l.At.Year(); y < 1970 || y > 9999 {
		return fmt.Errorf("time in year %d, outside 1970 to 9999", y)
	}
	return nil
}

// EncodeHeartbeat checks l and encodes it in canonical CBOR.
func EncodeHeartbeat(l Load) ([]byte, error) {
	if err := l.validate(); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrBadHeartbeat, err))
	}
	b, err := hbEncMode.Marshal(&l)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, "", fmt.Errorf("routing: encode heartbeat: %w", err))
	}
	if len(b) > MaxHeartbeatBytes {
		return nil, fault.Wrap(fault.TooLarge, "", fmt.Errorf("%w: %d bytes, limit %d", ErrHeartbeatTooLarge, len(b), MaxHeartbeatBytes))
	}
	return b, nil
}

// DecodeHeartbeat reads a heartbeat from the network: size first, then
// strict CBOR (no duplicate or unknown fields, no indefinite lengths, few
// items), then the fields. Errors wrap ErrHeartbeatTooLarge (kind TooLarge)
// or ErrBadHeartbeat (kind Invalid). It does not check who sent it: that is
// the caller's (see Load).
func DecodeHeartbeat(b []byte) (Load, error) {
	if len(b) > MaxHeartbeatBytes {
		return Load{}, fault.Wrap(fault.TooLarge, "", fmt.Errorf("%w: %d bytes, limit %d", ErrHeartbeatTooLarge, len(b), MaxHeartbeatBytes))
	}
	var l Load
	if err := hbDecMode.Unmarshal(b, &l); err != nil {
		return Load{}, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrBadHeartbeat, err))
	}
	if err := l.validate(); err != nil {
		return Load{}, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrBadHeartbeat, err))
	}
	l.At = l.At.UTC()
	return l, nil
}

// Liveness defaults.
const (
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultMissedBeats       = 3
)

// Liveness tracks the heartbeats of endpoints and says which are down. It
// is a pure tracker: time comes from its callers. The zero value is ready to
// use; set Interval and Missed before first use. It is safe for concurrent
// use.
type Liveness struct {
	// Interval is how often endpoints beat; zero means
	// DefaultHeartbeatInterval.
	Interval time.Duration
	// Missed is how many beats an endpoint may miss before it is down; zero
	// means DefaultMissedBeats. With the defaults an endpoint is down 6s
	// after its last heartbeat.
	Missed int

	mu    sync.Mutex
	beats map[string]beat // guarded by mu: the last heartbeat of each endpoint
}

// beat is the last heartbeat of an endpoint and when it was observed.
type beat struct {
	load Load
	seen time.Time
}

// timeout is how long after its last heartbeat an endpoint is down.
func (lv *Liveness) timeout() time.Duration {
	iv, n := lv.Interval, lv.Missed
	if iv <= 0 {
		iv = DefaultHeartbeatInterval
	}
	if n <= 0 {
		n = DefaultMissedBeats
	}
	return iv * time.Duration(n)
}

// Observe records heartbeat l of endpoint id, received at now (by the
// observer's clock: l.At, by the endpoint's, is not used). It reports
// whether l was taken: a heartbeat whose Seq is not above the last one's is
// stale, reordered or repeated, and is ignored, unless the endpoint is down
// by now (it may have restarted with a smaller Seq).
func (lv *Liveness) Observe(id string, l Load, now time.Time) bool {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if last, ok := lv.beats[id]; ok && l.Seq <= last.load.Seq && !lv.downLocked(last, now) {
		return false
	}
	if lv.beats == nil {
		lv.beats = make(map[string]beat)
	}
	lv.beats[id] = beat{load: l, seen: now}
	return true
}

// Down reports whether endpoint id, once heard from, has missed Missed
// heartbeats by now. An endpoint never observed (or forgotten) is not down:
// nothing is known of it, and Get says so.
func (lv *Liveness) Down(id string, now time.Time) bool {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	b, ok := lv.beats[id]
	return ok && lv.downLocked(b, now)
}

func (lv *Liveness) downLocked(b beat, now time.Time) bool {
	return now.Sub(b.seen) >= lv.timeout()
}

// Get returns the last load observed of endpoint id, down or not.
func (lv *Liveness) Get(id string) (Load, bool) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	b, ok := lv.beats[id]
	return b.load, ok
}

// Forget drops what is known of endpoint id.
func (lv *Liveness) Forget(id string) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	delete(lv.beats, id)
}

// Prune forgets every endpoint last heard from before cutoff, and returns
// how many it forgot. Call it now and then so that endpoints gone for good
// do not stay.
func (lv *Liveness) Prune(cutoff time.Time) int {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	n := 0
	for id, b := range lv.beats {
		if b.seen.Before(cutoff) {
			delete(lv.beats, id)
			n++
		}
	}
	return n
}
