package taskstore

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/invoke"
)

// reportLatency reports the 50th and 99th percentiles of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// benchStore opens a store with real fsyncs, in the test's temporary
// directory (which must be on the disk being measured).
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, _ := openTest(b, Options{Logger: testLogger(b)})
	return s
}

// BenchmarkAdmitSequential measures one caller's Admit: a journal write
// each, synced by the flush; with SyncAdmissions, an fdatasync each.
func BenchmarkAdmitSequential(b *testing.B) {
	for _, synced := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", synced), func(b *testing.B) {
			s, _ := openTest(b, Options{Logger: testLogger(b), SyncAdmissions: synced})
			now := time.Now()
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if err := s.Admit(task(taskID(i), 1, now)); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
			}
			b.StopTimer()
			reportLatency(b, ds)
		})
	}
}

// parallel64 runs body from 64 goroutines, b.N calls in all, and reports
// the latency percentiles and the rate.
func parallel64(b *testing.B, unit string, body func(i int) error) {
	var next atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var ds []time.Duration
		for pb.Next() {
			i := int(next.Add(1))
			t0 := time.Now()
			if err := body(i); err != nil {
				b.Error(err)
				return
			}
			ds = append(ds, time.Since(t0))
		}
		mu.Lock()
		all = append(all, ds...)
		mu.Unlock()
	})
	b.StopTimer()
	reportLatency(b, all)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit+"/s")
}

// BenchmarkAdmitParallel64 measures Admit from 64 goroutines: journal
// writes synced by the flush; with SyncAdmissions, each waits for an
// fdatasync, which the admissions that arrive together share.
func BenchmarkAdmitParallel64(b *testing.B) {
	for _, synced := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", synced), func(b *testing.B) {
			s, _ := openTest(b, Options{Logger: testLogger(b), SyncAdmissions: synced})
			now := time.Now()
			parallel64(b, "admits", func(i int) error { return s.Admit(task(taskID(i), 1, now)) })
		})
	}
}

// BenchmarkInvocationParallel64 measures the store's share of a no-op
// invocation, from 64 goroutines: Admit, running, its one result, done.
func BenchmarkInvocationParallel64(b *testing.B) {
	s := benchStore(b)
	now := time.Now()
	parallel64(b, "invocations", func(i int) error {
		id := taskID(i)
		if err := s.Admit(task(id, 1, now)); err != nil {
			return err
		}
		if err := s.SetState(id, invoke.StateRunning); err != nil {
			return err
		}
		return s.PutResult(id, invoke.Result{Index: 0, Value: []byte("null"), Started: now.UnixNano(), Finished: now.UnixNano()})
	})
}

// BenchmarkInvocationPaced10k offers the store 10,000 no-op invocations a
// second from 64 goroutines, as in BenchmarkInvocationParallel64, and
// reports their latency counted from when each was due, so that a store
// that falls behind shows it in full (and not only in the calls it has
// started). Its floor is Go's timers, up to a millisecond late on an idle
// machine: wake-p50-µs and wake-p99-µs are how late the callers woke, the
// baseline of the same run.
func BenchmarkInvocationPaced10k(b *testing.B) {
	const callers, rate = 64, 10000
	s := benchStore(b)
	now := time.Now()
	var mu sync.Mutex
	var all, woke []time.Duration
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range callers {
		wg.Go(func() {
			var ds, late []time.Duration
			for k := g; k < b.N; k += callers {
				due := start.Add(time.Duration(k) * time.Second / rate)
				time.Sleep(time.Until(due))
				late = append(late, time.Since(due))
				id := taskID(k)
				err := s.Admit(task(id, 1, now))
				if err == nil {
					err = s.SetState(id, invoke.StateRunning)
				}
				if err == nil {
					err = s.PutResult(id, invoke.Result{Index: 0, Value: []byte("null"), Started: now.UnixNano(), Finished: now.UnixNano()})
				}
				if err != nil {
					b.Error(err)
					return
				}
				ds = append(ds, time.Since(due))
			}
			mu.Lock()
			all = append(all, ds...)
			woke = append(woke, late...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	reportLatency(b, all)
	if len(woke) > 0 {
		slices.Sort(woke)
		b.ReportMetric(float64(woke[len(woke)/2].Nanoseconds())/1e3, "wake-p50-µs")
		b.ReportMetric(float64(woke[len(woke)*99/100].Nanoseconds())/1e3, "wake-p99-µs")
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "invocations/s")
}

// BenchmarkPutResultBatch stores the 10,000 results of one batch task, then
// flushes them to disk. ns/op is per batch.
func BenchmarkPutResultBatch(b *testing.B) {
	const n = 10000
	s := benchStore(b)
	now := time.Now()
	var put, flush []time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := taskID(i)
		if err := s.Admit(task(id, n, now)); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for j := range n {
			r := invoke.Result{Index: j, Value: []byte(fmt.Sprintf(`{"sum":%d}`, j)), Stdout: "ok\n", Started: now.UnixNano(), Finished: now.UnixNano()}
			if err := s.PutResult(id, r); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		if err := s.flush(); err != nil {
			b.Fatal(err)
		}
		put = append(put, t1.Sub(t0)/n)
		flush = append(flush, time.Since(t1))
	}
	b.StopTimer()
	slices.Sort(put)
	slices.Sort(flush)
	b.ReportMetric(float64(put[len(put)/2].Nanoseconds()), "ns/PutResult")
	b.ReportMetric(float64(flush[len(flush)/2].Microseconds())/1e3, "ms/flush-rest")
}
