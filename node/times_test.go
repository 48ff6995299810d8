package node

import (
	"context"
	"math"
	"testing"
	"time"
)

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
