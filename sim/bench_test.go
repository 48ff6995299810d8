package sim

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node"
)

// benchFixture is one endpoint with two warm Python workers, a client with a
// connection to it, and a no-op function. configure, when not nil, changes
// the endpoint's config further.
func benchFixture(b *testing.B, configure ...func(*node.Config)) (*fixture, *client.ResolvedFunction) {
	node.TuneRuntime() // as fxnode runs

	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	owner := mustKey(b)
	m, err := Start(ctx, Options{Dir: b.TempDir(), Endpoints: 1, Owner: owner, Configure: func(_ int, cfg *node.Config) {
		cfg.Workers = 2
		for _, c := range configure {
			c(cfg)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	c, err := m.Client(ctx, owner)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	u := &client.UserCatalog{Key: owner, Mesh: c}
	if _, err := u.Register(ctx, catalog.Function{Name: "noop", Kind: catalog.KindPython, Source: "def noop(*a, **k):\n    return None\n", Entry: "noop"}, catalog.Access{Public: true}); err != nil {
		b.Fatal(err)
	}
	fn, err := u.Resolve(ctx, "noop")
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{ctx: ctx, mesh: m, ep: m.Endpoints[0], owner: owner, client: c}
	// Warm up: workers have the function, the connection is open.
	for i := 0; i < 50; i++ {
		if _, err := f.invoke(fn, 1); err != nil {
			b.Fatal(err)
		}
	}
	return f, fn
}

func (f *fixture) invoke(fn *client.ResolvedFunction, n int) (int, error) {
	inputs := make([]invoke.Input, n)
	got := 0
	_, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: fn, Inputs: inputs, Wait: true,
		OnResult: func(r invoke.Result) {
			if r.Error == nil {
				got++
			}
		}})
	if err == nil && got != n {
		err = fmt.Errorf("%d of %d inputs succeeded", got, n)
	}
	return got, err
}

func reportQuantiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkInvokeSequential: one caller, connection reused, a signed
// invocation per call, a no-op Python function, waiting for the result.
func BenchmarkInvokeSequential(b *testing.B) {
	f, fn := benchFixture(b)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := f.invoke(fn, 1); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportQuantiles(b, lat)
}

// BenchmarkInvokeParallel64: 64 concurrent callers, one invocation each call.
func BenchmarkInvokeParallel64(b *testing.B) {
	f, fn := benchFixture(b)
	parallel64(b, f, fn)
}

// BenchmarkInvokeParallel64SyncAdmissions: the same with sync_admissions
// set, so that each admission waits for a disk sync (shared by those that
// arrive together).
func BenchmarkInvokeParallel64SyncAdmissions(b *testing.B) {
	f, fn := benchFixture(b, func(cfg *node.Config) { cfg.SyncAdmissions = true })
	parallel64(b, f, fn)
}

func parallel64(b *testing.B, f *fixture, fn *client.ResolvedFunction) {
	var (
		mu  sync.Mutex
		lat = make([]time.Duration, 0, b.N)
		n   atomic.Int64
	)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n.Add(1) <= int64(b.N) {
				s := time.Now()
				if _, err := f.invoke(fn, 1); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(s)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "invocations/s")
	reportQuantiles(b, lat)
}

// BenchmarkInvokeBatch: one signed request of 10,000 no-op inputs.
func BenchmarkInvokeBatch(b *testing.B) {
	f, fn := benchFixture(b)
	const size = 10000
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := f.invoke(fn, size); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*size)/el.Seconds(), "inputs/s")
}
