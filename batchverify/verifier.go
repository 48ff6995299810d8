package batchverify

import (
	"runtime"
	"sync"
)

// maxBatch bounds one batch: past it, a bigger batch saves little and keeps
// its first signatures waiting longer.
const maxBatch = 64

// Verifier checks signatures for many goroutines at once. A goroutine that
// calls Verify while fewer than Options.Leaders batches are under way leads
// one: it checks its own signature together with every one queued at that
// moment, and hands what queued meanwhile to a waiting goroutine, which
// leads the next batch. A lone caller therefore checks its signature at
// once, and callers that arrive together share the work. The zero value is
// not ready; use New.
type Verifier struct {
	leaders int
	jobs    sync.Pool

	mu     sync.Mutex // guards queue and active
	queue  []*job
	active int // batches under way
}

// job is one caller's signature, waiting for a leader.
type job struct {
	item Item
	ok   bool          // the answer, set before wake
	lead bool          // set before wake: lead the next batch instead
	wake chan struct{} // cap 1
}

// New returns a Verifier that runs at most leaders batches at once; zero
// means half the processors Go may use, and at least one.
func New(leaders int) *Verifier {
	if leaders <= 0 {
		leaders = max(1, runtime.GOMAXPROCS(0)/2)
	}
	v := &Verifier{leaders: leaders}
	v.jobs.New = func() any { return &job{wake: make(chan struct{}, 1)} }
	return v
}

// Verify reports whether item holds a valid signature, under the package's
// rule; it gives the answer the function Verify gives.
func (v *Verifier) Verify(item Item) bool {
	j := v.jobs.Get().(*job)
	j.item, j.ok, j.lead = item, false, false
	v.mu.Lock()
	leading := v.active < v.leaders
	if leading {
		v.active++
	} else {
		v.queue = append(v.queue, j)
	}
	v.mu.Unlock()
	if !leading {
		<-j.wake
		leading = j.lead
	}
	if leading {
		v.lead(j)
	}
	ok := j.ok
	j.item = Item{}
	v.jobs.Put(j)
	return ok
}

// lead checks own's signature with those queued, then passes the lead to
// the first job still queued, if any. A job is answered or handed the lead
// once: whoever takes it off the queue does either.
func (v *Verifier) lead(own *job) {
	// Let the goroutines that are ready to run do so first: under load
	// they are mostly callers about to verify, which then join this
	// batch. With nothing else ready this returns at once.
	runtime.Gosched()
	v.mu.Lock()
	n := min(len(v.queue), maxBatch-1)
	batch := make([]*job, 1, 1+n)
	batch[0] = own
	batch = append(batch, v.queue[:n]...)
	v.queue = append(v.queue[:0], v.queue[n:]...)
	v.mu.Unlock()

	if len(batch) == 1 {
		own.ok = Verify(own.item)
	} else {
		items := make([]Item, len(batch))
		for i, j := range batch {
			items[i] = j.item
		}
		for i, ok := range VerifyBatch(items) {
			batch[i].ok = ok
			if i > 0 {
				batch[i].wake <- struct{}{}
			}
		}
	}

	v.mu.Lock()
	if len(v.queue) == 0 {
		v.active--
		v.mu.Unlock()
		return
	}
	next := v.queue[0]
	v.queue = append(v.queue[:0], v.queue[1:]...)
	next.lead = true
	v.mu.Unlock()
	next.wake <- struct{}{}
}
