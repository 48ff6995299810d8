package admission

import (
	"fmt"
	"math"
	"time"

	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node/taskstore"
)

// TaskOf is what the task store keeps of an admitted invocation. The
// replay entry outlives the invocation's last valid moment (its expiry plus
// the clock skew tolerated); the invocation may have been admitted as early
// as its issue time less the skew, which the store holds against its
// horizon. The times are the caller's, anywhere in int64: each sum
// saturates, and lands within the times the store can keep.
func TaskOf(inv *invoke.Signed, skew time.Duration) taskstore.Task {
	return taskstore.Task{
		ID: inv.TaskID, Caller: inv.Caller.String(), Function: inv.Function,
		Count:   len(inv.Inputs),
		Expires: unixNanoTime(time.Unix(0, inv.Expires).Add(skew).Add(30 * time.Second)),
		Issued:  unixNanoTime(time.Unix(0, inv.IssuedAt).Add(-skew)),
	}
}

// unixNanoTime clamps t to the times Unix nanoseconds can hold (the years
// 1677 to 2262), as the task store keeps them. time.Time's own sums
// saturate too, but only far beyond.
func unixNanoTime(t time.Time) time.Time {
	if lo := time.Unix(0, -1<<63); t.Before(lo) {
		return lo
	}
	if hi := time.Unix(0, 1<<63-1); t.After(hi) {
		return hi
	}
	return t
}

// addNanos returns a+b, saturated at the ends of int64 instead of wrapping.
func addNanos(a, b int64) int64 {
	sum := a + b
	if (sum > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return sum
}

// subNanos returns a-b, saturated at the ends of int64 instead of wrapping.
func subNanos(a, b int64) int64 {
	diff := a - b
	if (diff < a) != (b > 0) {
		if b > 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return diff
}

// durationText prints a span of d nanoseconds, which may be longer than
// a time.Duration holds.
func durationText(d uint64) string {
	if d <= math.MaxInt64 {
		return time.Duration(d).String()
	}
	return fmt.Sprintf("%.0fh", float64(d)/float64(time.Hour))
}
