package container

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/python"
)

// The benchmarks compare a warm call in a container with a warm call on the
// local Python pool, in one run, and measure a container's cold start (the
// image present):
//
//	go test -run x -bench . -benchtime 300x ./exec/container/
//
// Each reports the latency percentiles of its calls (p50-ns, p99-ns).

var noop = exec.Function{ID: "noop", Kind: exec.KindPython, Source: "def f():\n    return None\n", Entry: "f"}

// reportLatency reports the 50th and 99th percentiles of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns")
}

// calls runs task b.N times, one after another, and reports the latencies.
func calls(b *testing.B, e exec.Executor, task func(i int) exec.Task) {
	ctx := context.Background()
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		r, err := e.Execute(ctx, task(i))
		if err != nil || r.Error != nil {
			b.Fatalf("Execute: %v, %v", err, r.Error)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, ds)
}

// BenchmarkWarmCall is a no-op Python call in a running container.
func BenchmarkWarmCall(b *testing.B) {
	e := newExec(b, Config{Workers: 1, Logger: nil})
	defer e.Close()
	fn := noop
	fn.Container = pyImage
	t := exec.Task{Function: fn}
	if _, err := e.Execute(context.Background(), t); err != nil {
		b.Fatal(err)
	}
	calls(b, e, func(int) exec.Task { return t })
}

// BenchmarkLocalWarmCall is the baseline: the same call on the local pool.
func BenchmarkLocalWarmCall(b *testing.B) {
	p, err := python.New(python.Config{Workers: 1})
	if err != nil {
		b.Skip(err)
	}
	defer p.Close()
	if err := p.Warm(context.Background(), noop); err != nil {
		b.Fatal(err)
	}
	t := exec.Task{Function: noop}
	calls(b, p, func(int) exec.Task { return t })
}

// BenchmarkColdStart is a call that starts its container: each call is for
// a new tenant, so none is warm (the image is present).
func BenchmarkColdStart(b *testing.B) {
	e := newExec(b, Config{Workers: 1, MaxContainers: 1, Logger: nil})
	defer e.Close()
	fn := noop
	fn.Container = pyImage
	calls(b, e, func(i int) exec.Task { return exec.Task{Tenant: fmt.Sprint("tenant-", i), Function: fn} })
}
