package taskstore
import ("testing";"slices";"time";"os")
func TestDbgFlush(t *testing.T) {
	s, path := openTest(t, Options{})
	now := time.Now()
	b := testing.Benchmark(func(b *testing.B) {
		parallel64(b, "inv", func(i int) error {
			id := taskID(i+1e7*b.N)
			if err := s.Admit(task(id, 1, now)); err != nil { return err }
			s.SetState(id, StateRunning)
			return s.PutResult(id, Result{Index: 0, Value: []byte("null")})
		})
	})
	t.Log(b.String(), b.Extra)
	st := slices.Clone(FlushTimes); slices.Sort(st)
	gs := slices.Clone(FlushItems); slices.Sort(gs)
	n := len(st)
	t.Logf("flushes %d: p50 %v p90 %v p99 %v max %v", n, st[n/2], st[n*9/10], st[n*99/100], st[n-1])
	t.Logf("items: p50 %d p90 %d max %d", gs[n/2], gs[n*9/10], gs[n-1])
	fi, _ := os.Stat(path)
	t.Logf("db size %d MB, tasks %d", fi.Size()>>20, s.count(bucketTasks))
}
