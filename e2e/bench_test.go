package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/invoke"
)

// BenchmarkProcessInvoke is sim's BenchmarkInvokeSequential and
// BenchmarkInvokeParallel64 across a process boundary: the endpoint is a
// real fxnode (built without the race detector when the benchmark is not,
// two warm workers), the caller this process, a client with one connection
// to it, and the function a no-op.
func BenchmarkProcessInvoke(b *testing.B) {
	processes(b)
	at := startTarget(b, false, catalog.Function{
		Name: "noop", Kind: catalog.KindPython, Source: "def noop(*a, **k):\n    return None\n", Entry: "noop",
	})
	for range 50 { // the workers have the function, the session is open
		if err := at.noop(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if err := at.noop(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		reportQuantiles(b, lat)
	})
	b.Run("parallel64", func(b *testing.B) {
		var (
			mu  sync.Mutex
			lat = make([]time.Duration, 0, b.N)
			n   atomic.Int64
			wg  sync.WaitGroup
		)
		b.ResetTimer()
		start := time.Now()
		for range 64 {
			wg.Go(func() {
				for n.Add(1) <= int64(b.N) {
					s := time.Now()
					if err := at.noop(); err != nil {
						b.Error(err)
						return
					}
					d := time.Since(s)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/el.Seconds(), "invocations/s")
		reportQuantiles(b, lat)
	})
}

// noop invokes the target's function once, with no arguments, and waits
// for its result.
func (at *attackTarget) noop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok := false
	_, err := at.client.Invoke(ctx, client.InvokeRequest{Endpoint: at.id, Function: at.fn, Inputs: []invoke.Input{{}}, Wait: true,
		OnResult: func(r invoke.Result) { ok = r.Error == nil }})
	if err == nil && !ok {
		err = fmt.Errorf("no successful result")
	}
	return err
}

// reportQuantiles reports the 50th and 99th percentiles of d, as sim's
// benchmarks do.
func reportQuantiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}
