package catalog

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// TestUpdateTimesExtreme: a function's creation time and an update's time
// are unix seconds chosen by whoever signs them. A store takes only those
// that every reader can print (up to the end of the year 9999, as RFC 3339
// and encoding/json can); fx prints them with time.Unix, and a time it
// cannot print would break its listing of every function.
func TestUpdateTimesExtreme(t *testing.T) {
	alice := testKey(t, 1)
	const p62 = int64(1) << 62
	tests := []struct {
		name string
		secs int64
		ok   bool
	}{
		{"zero", 0, true},
		{"now", t0.Unix(), true},
		{"the last second of 9999", 253402300799, true},
		{"the first second of 10000", 253402300800, false},
		{"2^62", p62, false},
		{"MaxInt64", math.MaxInt64, false},
		{"-1", -1, false},
		{"-2^62", -p62, false},
		{"MinInt64", math.MinInt64, false},
	}
	for _, tc := range tests {
		for _, field := range []string{"created", "time"} {
			t.Run(tc.name+"/"+field, func(t *testing.T) {
				u := rawPublish(t, alice, pyFunc("when", ""), 1)
				if field == "created" {
					u.Function.Created = tc.secs
					id, err := u.Function.ID()
					if err != nil {
						t.Fatal(err)
					}
					u.Versions[0].ID = id
				} else {
					u.Time = tc.secs
				}
				su, err := DecodeUpdate(sealUpdate(t, alice, u), Limits{})
				if !tc.ok {
					wantErr(t, err, ErrInvalidField, fault.Invalid)
					return
				}
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				for _, secs := range []int64{su.Update.Time, su.Update.Function.Created} {
					if _, err := json.Marshal(time.Unix(secs, 0).UTC()); err != nil {
						t.Fatalf("accepted a time fx cannot print: %v", err)
					}
				}
			})
		}
	}
}
