package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
)

func BenchmarkDecodeUpdate(b *testing.B) {
	env := newClient(b, testKey(b, 1)).publish(pyFunc("f", "bench"), Access{Public: true})
	b.SetBytes(int64(len(env)))
	for b.Loop() {
		if _, err := DecodeUpdate(env, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPullInSync is the periodic pull between two stores that agree.
func BenchmarkPullInSync(b *testing.B) {
	quiet := Options{Logger: slog.New(slog.DiscardHandler)}
	x, y := memStore(b, quiet), memStore(b, quiet)
	for i := range 2000 {
		env := newClient(b, testKey(b, byte(i%8+1))).publish(pyFunc(fmt.Sprintf("f%d", i), ""), Access{Public: true})
		mustApply(b, x, env)
		mustApply(b, y, env)
	}
	req, err := EncodeSyncRequest(x.CompareRequest(0), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if st, err := x.Pull(context.Background(), direct{y}); err != nil || st.Rounds != 1 {
			b.Fatal(st, err)
		}
	}
	b.ReportMetric(float64(len(req)), "request-bytes")
}
