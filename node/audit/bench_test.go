package audit

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkEvent: what one audit event costs on the task's path, encoded
// and appended to the file (rotation included, at the default size),
// against the baseline of encoding it alone; p50 and p99 of single events.
func BenchmarkEvent(b *testing.B) {
	at := time.Now()
	e := &Event{Time: at, Event: Finished, Task: "bafkreiektw5ue73aolguir2gfjkmbeksxyo4l5k3icza4cmdtkbzx6f2xm",
		Caller: "12D3KooWK64GhFQZrhGUUGfsbBqRVTp3WUkSMNGdiHb8ZZCx1ZyJ", Function: "bafireidj6qyi7az53uzzkushfbhdrz7t46zrsvzdarsczf4yrihmvcsfiy",
		Inputs: 1, Outcome: "done", Received: At(at), Started: At(at), Finished: At(at)}
	run := func(b *testing.B, op func() error) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			if err := op(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		}
	}
	b.Run("encode-baseline", func(b *testing.B) {
		run(b, func() error { _, err := e.Line(); return err })
	})
	b.Run("encode-and-append", func(b *testing.B) {
		f, err := Open(filepath.Join(b.TempDir(), "audit.log"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, func() error { return f.Write(e) })
	})
}
