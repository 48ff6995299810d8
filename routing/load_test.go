package routing

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/fxmesh/fxmesh/fault"
)

func testLoad(t testing.TB) Load {
	return Load{
		ID: testPeer(t, 1).String(), Seq: 7, Workers: 8, Idle: 3, Running: 5, Queued: 1,
		Accepting: true, At: t0.Add(1234567 * time.Nanosecond),
	}
}

func TestHeartbeatRoundTrip(t *testing.T) {
	l := testLoad(t)
	b, err := EncodeHeartbeat(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxHeartbeatBytes/2 {
		t.Errorf("heartbeat is %d bytes: keep it small, it goes out every few seconds", len(b))
	}
	got, err := DecodeHeartbeat(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != l {
		t.Fatalf("got %+v, want %+v", got, l)
	}
	again, _ := EncodeHeartbeat(got)
	if string(again) != string(b) {
		t.Fatal("re-encoding changed the bytes")
	}
	// At is read back in UTC whatever zone it was written in.
	l.At = t0.In(time.FixedZone("x", 3600))
	b, _ = EncodeHeartbeat(l)
	got, _ = DecodeHeartbeat(b)
	if !got.At.Equal(t0) || got.At.Location() != time.UTC {
		t.Fatalf("At = %v", got.At)
	}
}

func TestEncodeHeartbeatRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Load)
		msg  string
	}{
		{"bad id", func(l *Load) { l.ID = "nobody" }, "id:"},
		{"zero seq", func(l *Load) { l.Seq = 0 }, "seq is zero"},
		{"negative idle", func(l *Load) { l.Idle = -1 }, "idle -1"},
		{"huge queue", func(l *Load) { l.Queued = MaxLoadCount + 1 }, "queued"},
		{"no time", func(l *Load) { l.At = time.Time{} }, "no time"},
		{"far future", func(l *Load) { l.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "outside 1970 to 9999"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := testLoad(t)
			tc.edit(&l)
			_, err := EncodeHeartbeat(l)
			if !errors.Is(err, ErrBadHeartbeat) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrBadHeartbeat saying %q", err, tc.msg)
			}
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("kind = %s", fault.KindOf(err))
			}
		})
	}
}

func TestDecodeHeartbeatRejects(t *testing.T) {
	l := testLoad(t)
	raw := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := map[int]any{1: l.ID, 2: uint64(7), 3: 8, 4: 3, 5: 5, 6: 1, 7: true, 8: l.At.Format(time.RFC3339Nano)}
	with := func(k int, v any) map[int]any {
		m := map[int]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	if _, err := DecodeHeartbeat(raw(good)); err != nil {
		t.Fatalf("the good map is rejected: %v", err)
	}
	// The good map with key 2 once more: one more pair in the header (a8 to
	// a9), and 2: 1 at the end.
	dup := append(raw(good), 0x02, 0x01)
	dup[0]++

	tests := []struct {
		name string
		data []byte
		want error
		kind fault.Kind
		msg  string // a part of the message
	}{
		{"empty", nil, ErrBadHeartbeat, fault.Invalid, "EOF"},
		{"garbage", []byte("\xffgarbage"), ErrBadHeartbeat, fault.Invalid, ""},
		{"too large", make([]byte, MaxHeartbeatBytes+1), ErrHeartbeatTooLarge, fault.TooLarge, "513 bytes"},
		{"unknown field", raw(with(9, "x")), ErrBadHeartbeat, fault.Invalid, "unknown field"},
		{"duplicate field", dup, ErrBadHeartbeat, fault.Invalid, "duplicate"},
		{"wrong type", raw(with(3, "eight")), ErrBadHeartbeat, fault.Invalid, "cannot unmarshal"},
		{"negative count", raw(with(6, -4)), ErrBadHeartbeat, fault.Invalid, "queued -4"},
		{"bad id", raw(with(1, "12D3KooWnobody")), ErrBadHeartbeat, fault.Invalid, "id:"},
		{"zero seq", raw(with(2, 0)), ErrBadHeartbeat, fault.Invalid, "seq is zero"},
		{"no time", raw(with(8, nil)), ErrBadHeartbeat, fault.Invalid, "no time"},
		{"bad time", raw(with(8, "yesterday")), ErrBadHeartbeat, fault.Invalid, "cannot parse"},
		{"time past 9999", raw(with(8, int64(1)<<40)), ErrBadHeartbeat, fault.Invalid, "outside 1970 to 9999"},
		{"time before 1970", raw(with(8, -1)), ErrBadHeartbeat, fault.Invalid, "outside 1970 to 9999"},
		{"an array", raw([]int{1, 2, 3}), ErrBadHeartbeat, fault.Invalid, "cannot unmarshal"},
		{"indefinite map", []byte{0xbf, 0x02, 0x01, 0xff}, ErrBadHeartbeat, fault.Invalid, "indefinite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeHeartbeat(tc.data)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.want, tc.msg)
			}
			if k := fault.KindOf(err); k != tc.kind {
				t.Fatalf("kind = %s, want %s", k, tc.kind)
			}
		})
	}
}

func FuzzDecodeHeartbeat(f *testing.F) {
	good, err := EncodeHeartbeat(testLoad(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x60})
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeHeartbeat(data)
		if err != nil {
			if k := fault.KindOf(err); k != fault.Invalid && k != fault.TooLarge {
				t.Fatalf("rejection of kind %s: %v", k, err)
			}
			return
		}
		// What is accepted encodes, and decodes to itself.
		b, err := EncodeHeartbeat(l)
		if err != nil {
			t.Fatalf("accepted %+v, which does not encode: %v", l, err)
		}
		again, err := DecodeHeartbeat(b)
		if err != nil || again != l {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, l)
		}
	})
}

func TestLivenessDown(t *testing.T) {
	type step struct {
		at    time.Duration // after t0
		beat  bool          // observe a heartbeat then
		seq   uint64        // its Seq
		taken bool          // whether Observe takes it
		down  bool          // Down, after the beat if any
	}
	tests := []struct {
		name     string
		interval time.Duration
		missed   int
		steps    []step
	}{
		{"defaults: down 6s after the last beat", 0, 0, []step{
			{at: 0, beat: true, seq: 1, taken: true},
			{at: 2 * time.Second, beat: true, seq: 2, taken: true},
			{at: 4 * time.Second},
			{at: 7*time.Second + 999*time.Millisecond},
			{at: 8 * time.Second, down: true},
			{at: 9 * time.Second, beat: true, seq: 3, taken: true},
			{at: 14 * time.Second},
			{at: 15 * time.Second, down: true},
		}},
		{"one missed beat of 100ms", 100 * time.Millisecond, 1, []step{
			{at: 0, beat: true, seq: 1, taken: true},
			{at: 99 * time.Millisecond},
			{at: 100 * time.Millisecond, down: true},
		}},
		{"stale and repeated beats do not keep it up", 0, 0, []step{
			{at: 0, beat: true, seq: 5, taken: true},
			{at: 2 * time.Second, beat: true, seq: 4},
			{at: 4 * time.Second, beat: true, seq: 5},
			{at: 6 * time.Second, down: true},
		}},
		{"a restart with a smaller seq is taken once down", 0, 0, []step{
			{at: 0, beat: true, seq: 5, taken: true},
			{at: 10 * time.Second, beat: true, seq: 1, taken: true},
			{at: 11 * time.Second, beat: true, seq: 2, taken: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lv := &Liveness{Interval: tc.interval, Missed: tc.missed}
			if lv.Down("ep", t0) {
				t.Fatal("an endpoint never heard from is down")
			}
			if _, ok := lv.Get("ep"); ok {
				t.Fatal("Get knows an endpoint never heard from")
			}
			var lastSeq uint64
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.beat {
					taken := lv.Observe("ep", Load{Seq: s.seq, Idle: int(s.seq), Accepting: true}, now)
					if taken != s.taken {
						t.Fatalf("step %d: Observe = %v, want %v", i, taken, s.taken)
					}
					if taken {
						lastSeq = s.seq
					}
				}
				if got := lv.Down("ep", now); got != s.down {
					t.Fatalf("step %d (%v): Down = %v, want %v", i, s.at, got, s.down)
				}
				if l, ok := lv.Get("ep"); !ok || l.Seq != lastSeq {
					t.Fatalf("step %d: Get = %+v, %v; want seq %d", i, l, ok, lastSeq)
				}
			}
		})
	}
}

func TestLivenessForgetPrune(t *testing.T) {
	var lv Liveness // the zero value is ready
	lv.Observe("a", Load{Seq: 1}, t0)
	lv.Observe("b", Load{Seq: 1}, t0.Add(time.Minute))
	lv.Observe("c", Load{Seq: 1}, t0.Add(2*time.Minute))
	if n := lv.Prune(t0.Add(time.Minute)); n != 1 {
		t.Fatalf("Prune forgot %d, want 1", n)
	}
	if _, ok := lv.Get("a"); ok {
		t.Fatal("a survived Prune")
	}
	lv.Forget("b")
	if _, ok := lv.Get("b"); ok {
		t.Fatal("b survived Forget")
	}
	if _, ok := lv.Get("c"); !ok {
		t.Fatal("c was forgotten")
	}
}

func TestLivenessConcurrent(t *testing.T) {
	var lv Liveness
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a' + g%3))
			for i := range 200 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				lv.Observe(id, Load{Seq: uint64(i + 1)}, now)
				lv.Down(id, now)
				lv.Get(id)
			}
			lv.Prune(t0)
		}()
	}
	wg.Wait()
	for _, id := range []string{"a", "b", "c"} {
		if l, ok := lv.Get(id); !ok || l.Seq != 200 {
			t.Fatalf("%s: %+v, %v", id, l, ok)
		}
	}
}
