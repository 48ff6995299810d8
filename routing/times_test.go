package routing

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/fxmesh/fxmesh/identity"
)

// TestRecordTimesExtreme: an endpoint record's Updated and Expires are the
// signer's to choose, anywhere in int64, and the verifier's clock may read
// anything: no choice wraps round, and every record accepted has times fx
// can print.
func TestRecordTimesExtreme(t *testing.T) {
	k, _ := identity.GenerateKey()
	const p62 = int64(1) << 62
	tests := []struct {
		name             string
		updated, expires int64
		now              time.Time
		want             error // nil: accepted
	}{
		{"the whole int64 range", math.MinInt64, math.MaxInt64, t0, nil},
		{"±2^62", -p62, p62, t0, nil},
		{"made at the top", math.MaxInt64 - 1, math.MaxInt64, t0, nil},
		{"expired at the bottom", math.MinInt64, math.MinInt64 + 1, t0, ErrExpired},
		{"expired at -2^62", math.MinInt64, -p62, t0, ErrExpired},
		{"expires before it is made", math.MaxInt64, math.MinInt64, t0, ErrInvalidField},
		{"expires as it is made", math.MaxInt64, math.MaxInt64, t0, ErrInvalidField},
		{"read at the last Unix nanosecond", math.MinInt64, math.MaxInt64, time.Unix(0, math.MaxInt64), ErrExpired},
		{"read in the year 3000", t0.UnixNano(), t0.Add(time.Hour).UnixNano(), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), ErrExpired},
		{"read in the year 1000", t0.UnixNano(), t0.Add(time.Hour).UnixNano(), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testRecord(k, 1)
			r.Updated, r.Expires = tc.updated, tc.expires
			env, err := SignRecord(k, r)
			if errors.Is(tc.want, ErrInvalidField) {
				if !errors.Is(err, ErrInvalidField) {
					t.Fatalf("SignRecord = %v, want ErrInvalidField", err)
				}
				payload, _ := encMode.Marshal(r)
				env, _ = identity.Seal(k, identity.DomainEndpoint, RecordCodec, payload)
			} else if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeRecord(env, tc.now)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if _, err := json.Marshal([]time.Time{got.UpdatedAt(), got.ExpiresAt()}); err != nil {
				t.Fatalf("times fx cannot print: %v", err)
			}
		})
	}
}

// TestHeartbeatTimesExtreme: a heartbeat's At is read from CBOR in any of
// the forms the decoder knows (RFC 3339 text, epoch seconds as an integer
// or a float); whatever it says, the heartbeat is refused unless At lies in
// the years 1970 to 9999, never taken with a time that wrapped, and every
// heartbeat taken can be printed.
func TestHeartbeatTimesExtreme(t *testing.T) {
	l := testLoad(t)
	fields := func(at any) []byte {
		b, err := cbor.Marshal(map[int]any{1: l.ID, 2: uint64(7), 3: 8, 4: 3, 5: 5, 6: 1, 7: true, 8: at})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		at   any
		ok   bool
	}{
		{"now", t0.Format(time.RFC3339Nano), true},
		{"the last Unix nanosecond", time.Unix(0, math.MaxInt64).UTC().Format(time.RFC3339Nano), true},
		{"the first Unix nanosecond", time.Unix(0, math.MinInt64).UTC().Format(time.RFC3339Nano), false},
		{"the end of 9999", "9999-12-31T23:59:59.999999999Z", true},
		{"epoch seconds MaxInt64", cbor.Tag{Number: 1, Content: int64(math.MaxInt64)}, false},
		{"epoch seconds MinInt64", cbor.Tag{Number: 1, Content: int64(math.MinInt64)}, false},
		{"epoch seconds 2^62", cbor.Tag{Number: 1, Content: int64(1) << 62}, false},
		{"epoch seconds -2^62", cbor.Tag{Number: 1, Content: -int64(1) << 62}, false},
		{"epoch seconds 1e300", cbor.Tag{Number: 1, Content: 1e300}, false},
		{"epoch seconds -1e300", cbor.Tag{Number: 1, Content: -1e300}, false},
		{"epoch seconds +Inf", cbor.Tag{Number: 1, Content: math.Inf(1)}, false},
		{"epoch seconds NaN", cbor.Tag{Number: 1, Content: math.NaN()}, false},
		{"epoch seconds 2^53, untagged", uint64(1) << 53, false},
		{"epoch seconds now, untagged", t0.Unix(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeHeartbeat(fields(tc.at))
			if !tc.ok {
				if !errors.Is(err, ErrBadHeartbeat) {
					t.Fatalf("err = %v, at %v, want ErrBadHeartbeat", err, got.At)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Fatalf("a heartbeat fx cannot print: %v", err)
			}
			if y := got.At.Year(); y < 1970 || y > 9999 {
				t.Fatalf("At in the year %d", y)
			}
		})
	}
	// Seq is compared, never added to: the largest one is taken, and then
	// holds off smaller ones only while the endpoint is up.
	var lv Liveness
	top := l
	top.Seq = math.MaxUint64
	if !lv.Observe(l.ID, top, t0) || lv.Observe(l.ID, l, t0.Add(time.Second)) {
		t.Fatal("Seq MaxUint64 not taken, or a smaller one taken while up")
	}
	if !lv.Observe(l.ID, l, t0.Add(time.Hour)) {
		t.Fatal("a smaller Seq not taken once the endpoint was down")
	}
}
