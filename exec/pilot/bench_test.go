package pilot

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/python"
)

var noop = pyFn("noop", "def f(i):\n    return i\n", "f")

// reportLatencies reports the median and p99 of ds.
func reportLatencies(b *testing.B, ds []time.Duration, prefix string) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, prefix+"p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, prefix+"p99-ms")
}

// blockProviders are the providers the benchmarks run blocks on, by
// sub-benchmark name: the local one ("block"), then each of
// BenchSchedulers ("slurm-block"), made once the sub-benchmark runs.
func blockProviders() []blockProvider {
	out := []blockProvider{{"block", nil}}
	for _, name := range slices.Sorted(maps.Keys(BenchSchedulers)) {
		out = append(out, blockProvider{name + "-block", BenchSchedulers[name]})
	}
	return out
}

// blockProvider makes a benchmark's provider; nil make is the rig's local
// one.
type blockProvider struct {
	name string
	make func(testing.TB) Provider
}

// withProvider sets the rig's provider to mk's, where mk is not nil, with
// a job name prefix of the rig's own: a scheduler's jobs are seen by every
// user of the cluster, and New cancels those under its prefix.
func withProvider(b *testing.B, mk func(testing.TB) Provider, c *Config) {
	if mk != nil {
		c.Provider, c.Prefix = mk(b), "fxbench"+randHex(4)+"-"
	}
}

// BenchmarkColdStart: from an idle manager with no block (min_blocks 0)
// to the first result: submitting a block, its agent starting and
// connecting, its Python worker starting, the task; with the local
// provider and with each scheduler's (slurm-block: a real Slurm job).
// Beside them, the same first call on a fresh local pool (its workers
// started at New).
func BenchmarkColdStart(b *testing.B) {
	task := exec.Task{Function: noop, Args: raw("[1]")}
	for _, p := range blockProviders() {
		b.Run(p.name, func(b *testing.B) {
			var ds []time.Duration
			for range b.N {
				r := newRig(b, func(c *Config) { c.MinBlocks, c.MaxBlocks, c.Logger = 0, 1, nil; withProvider(b, p.make, c) })
				start := time.Now()
				res, err := r.Execute(context.Background(), task)
				ds = append(ds, time.Since(start))
				if err != nil || res.Error != nil {
					b.Fatalf("%v %+v", err, res.Error)
				}
				r.Close()
			}
			reportLatencies(b, ds, "first-result-")
		})
	}
	b.Run("local-pool", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			start := time.Now()
			p, err := python.New(python.Config{Workers: 2})
			if err != nil {
				b.Fatal(err)
			}
			res, err := p.Execute(context.Background(), task)
			ds = append(ds, time.Since(start))
			if err != nil || res.Error != nil {
				b.Fatalf("%v %+v", err, res.Error)
			}
			p.Close()
		}
		reportLatencies(b, ds, "first-result-")
	})
}

// BenchmarkThroughput: 1,000 no-op tasks, all at once, through a running
// block of 2 workers (a local one, and a Slurm job's), and through a local
// pool of 2 workers, in the same run. Each op is the whole 1,000.
func BenchmarkThroughput(b *testing.B) {
	const n = 1000
	run := func(b *testing.B, x exec.Executor) {
		var ds []time.Duration
		var mu sync.Mutex
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					t0 := time.Now()
					res, err := x.Execute(context.Background(), exec.Task{Tenant: "bench", Function: noop, Args: raw("[1]")})
					d := time.Since(t0)
					if err != nil || res.Error != nil {
						b.Errorf("task %d: %v %+v", i, err, res.Error)
					}
					mu.Lock()
					ds = append(ds, d)
					mu.Unlock()
				}()
			}
			wg.Wait()
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "tasks/s")
		reportLatencies(b, ds, "task-")
	}
	for _, p := range blockProviders() {
		b.Run(p.name, func(b *testing.B) {
			r := newRig(b, func(c *Config) {
				c.MinBlocks, c.MaxBlocks, c.WorkersPerNode, c.Logger = 1, 1, 2, nil
				withProvider(b, p.make, c)
			})
			defer r.Close()
			if res, err := r.Execute(context.Background(), exec.Task{Tenant: "bench", Function: noop, Args: raw("[1]")}); err != nil || res.Error != nil {
				b.Fatalf("warm-up: %v %+v", err, res.Error)
			}
			run(b, r)
		})
	}
	b.Run("local-pool", func(b *testing.B) {
		p, err := python.New(python.Config{Workers: 2})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		run(b, p)
	})
}
