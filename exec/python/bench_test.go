package python

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	fxexec "github.com/fxmesh/fxmesh/exec"
)

// The benchmarks run two workers, as on a 2-core machine:
//
//	go test -run x -bench . ./exec/python/
//
// Each reports the latency percentiles of its operations (p50-ns, p99-ns)
// and, where calls overlap, their rate.

var noop = pyFn("noop", "def f():\n    return None\n", "f")

func benchPool(b *testing.B) *Pool {
	b.Helper()
	p := newPool(b, Config{Workers: 2, Logger: nil})
	b.Cleanup(func() { p.Close() })
	if err := p.Warm(context.Background(), noop); err != nil {
		b.Fatal(err)
	}
	return p
}

// reportLatency reports the 50th and 99th percentiles of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns")
}

// echoWorker is the floor under the pool: a Python loop that echoes frames
// over the same pipes and framing, with no JSON and no pool.
const echoWorker = `
import os
read = os.fdopen(3, "rb", buffering=1 << 16).read
while True:
    h = read(4)
    if len(h) < 4:
        break
    os.write(4, h + read(int.from_bytes(h, "big")))
`

func BenchmarkRawPipeRoundTrip(b *testing.B) {
	needPython(b)
	python, _, err := resolvePython(context.Background(), Config{}.withDefaults(), DefaultPython)
	if err != nil {
		b.Fatal(err)
	}
	reqR, reqW, _ := os.Pipe()
	respR, respW, _ := os.Pipe()
	cmd := exec.Command(python, "-c", echoWorker)
	cmd.ExtraFiles = []*os.File{reqR, respW}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	reqR.Close()
	respW.Close()
	defer func() {
		reqW.Close()
		cmd.Wait()
		respR.Close()
	}()
	req := appendRequest(nil, &noop, false, []fxexec.Input{{}})
	rd := bufio.NewReaderSize(respR, 64<<10)
	var buf []byte
	ds := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := reqW.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := readFrame(rd, &buf, 1<<20); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, ds)
}

func BenchmarkExecuteNoop(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	task := fxexec.Task{Function: noop}
	ds := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		r, err := p.Execute(ctx, task)
		ds = append(ds, time.Since(t0))
		if err != nil || r.Error != nil {
			b.Fatal(err, r.Error)
		}
	}
	b.StopTimer()
	reportLatency(b, ds)
}

func BenchmarkExecuteParallel64(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	task := fxexec.Task{Function: noop}
	var mu sync.Mutex
	all := make([]time.Duration, 0, b.N)
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var ds []time.Duration
		for pb.Next() {
			t0 := time.Now()
			r, err := p.Execute(ctx, task)
			ds = append(ds, time.Since(t0))
			if err != nil || r.Error != nil {
				b.Error(err, r.Error)
				return
			}
		}
		mu.Lock()
		all = append(all, ds...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
	reportLatency(b, all)
}

func BenchmarkBatchNoop(b *testing.B) {
	p := benchPool(b)
	inputs := make([]fxexec.Input, b.N)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	err := p.ExecuteBatch(context.Background(), fxexec.Batch{Function: noop, Inputs: inputs}, func(i int, r fxexec.Result) {
		if r.Error != nil {
			b.Error(r.Error)
		}
		n++
	})
	b.StopTimer()
	if err != nil || n != b.N {
		b.Fatalf("err %v, %d of %d results", err, n, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
}

// BenchmarkColdStart starts a worker and waits until it is ready.
func BenchmarkColdStart(b *testing.B) {
	p := newPool(b, Config{Workers: 1, Logger: nil})
	defer p.Close()
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		w, err := p.startWorker(context.Background(), "")
		ds = append(ds, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		w.kill()
		w.reap()
	}
	b.StopTimer()
	reportLatency(b, ds)
}
