package node

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
)

// TestStoreTaskExtremeTimes: whatever times an invocation carries, the
// task store is given times it can keep (Unix nanoseconds), and the replay
// entry lasts at least as long as the invocation is valid.
func TestStoreTaskExtremeTimes(t *testing.T) {
	k, _ := identity.GenerateKey()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()
	const p62 = int64(1) << 62
	tests := []struct {
		name            string
		issued, expires int64
		skew            time.Duration
	}{
		{"ordinary", at, at + int64(time.Minute), 30 * time.Second},
		{"±2^62", -p62, p62, 30 * time.Second},
		{"the whole int64 range", math.MinInt64, math.MaxInt64, 30 * time.Second},
		{"expires at MaxInt64", at, math.MaxInt64, 30 * time.Second},
		{"issued at MinInt64", math.MinInt64, at, 30 * time.Second},
		{"a skew of MaxInt64", at, at + int64(time.Minute), math.MaxInt64},
		{"a skew of MaxInt64, the whole range", math.MinInt64, math.MaxInt64, math.MaxInt64},
		{"no skew, the whole range", math.MinInt64, math.MaxInt64, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := &invoke.Signed{
				Invocation: invoke.Invocation{IssuedAt: tc.issued, Expires: tc.expires, Inputs: []invoke.Input{{}}},
				Caller:     k.ID(), TaskID: "task",
			}
			task := storeTask(inv, tc.skew)
			for name, got := range map[string]time.Time{"expires": task.Expires, "issued": task.Issued} {
				if back := time.Unix(0, got.UnixNano()); !back.Equal(got) {
					t.Errorf("%s %s is kept as %s", name, got, back)
				}
			}
			if task.Expires.Before(time.Unix(0, tc.expires)) {
				t.Errorf("replay entry expires at %s, before the invocation (%s)", task.Expires, time.Unix(0, tc.expires))
			}
			if task.Issued.After(time.Unix(0, tc.issued)) {
				t.Errorf("issued %s, after the invocation says (%s)", task.Issued, time.Unix(0, tc.issued))
			}
			if tc.name == "ordinary" {
				if want := time.Unix(0, tc.expires).Add(tc.skew + 30*time.Second); !task.Expires.Equal(want) {
					t.Errorf("expires %s, want %s", task.Expires, want)
				}
				if want := time.Unix(0, tc.issued).Add(-tc.skew); !task.Issued.Equal(want) {
					t.Errorf("issued %s, want %s", task.Issued, want)
				}
			}
		})
	}
}

// TestCapTimeoutExtremes: an invocation's Timeout is the caller's, any
// non-negative int64 (invoke refuses negative ones). Capped or not, it
// gives a deadline after now, as the executors compute it.
func TestCapTimeoutExtremes(t *testing.T) {
	tests := []struct {
		name     string
		max, ask time.Duration
		want     time.Duration
	}{
		{"none asked, no cap", 0, 0, 0},
		{"MaxInt64 asked, no cap", 0, math.MaxInt64, math.MaxInt64},
		{"MaxInt64 asked, capped", time.Hour, math.MaxInt64, time.Hour},
		{"2^62 asked, capped", time.Hour, 1 << 62, time.Hour},
		{"none asked, capped", time.Hour, 0, time.Hour},
		{"MaxInt64 asked, cap MaxInt64", math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{"a second asked, cap MaxInt64", math.MaxInt64, time.Second, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{MaxTimeout: tc.max}
			got := c.capTimeout(tc.ask)
			if got != tc.want {
				t.Fatalf("capTimeout(%v) = %v, want %v", tc.ask, got, tc.want)
			}
			if got <= 0 {
				return // the executor's default
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), got)
			defer cancel()
			if d, _ := ctx.Deadline(); !d.After(start) || ctx.Err() != nil {
				t.Fatalf("deadline %v, err %v: not after now", d, ctx.Err())
			}
			if d := start.Add(got); !d.After(start) {
				t.Fatalf("start.Add(%v) = %v, not after start", got, d)
			}
		})
	}
}
