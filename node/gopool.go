package node

import "time"

// goPool runs functions on goroutines it keeps for reuse. A goroutine that
// has served one invocation keeps the stack it grew (signature checks and
// decoding need several KiB), so the next invocation does not pay for
// growing and copying it again, which under load costs as much as a
// signature check. Idle goroutines leave after idle, or when done closes.
type goPool struct {
	work chan func() // unbuffered: a send succeeds only into an idle goroutine
	idle time.Duration
	done <-chan struct{}
}

func newGoPool(idle time.Duration, done <-chan struct{}) *goPool {
	return &goPool{work: make(chan func()), idle: idle, done: done}
}

// Go runs f on an idle goroutine of the pool, or on a new one.
func (p *goPool) Go(f func()) {
	select {
	case p.work <- f:
	default:
		go p.serve(f)
	}
}

func (p *goPool) serve(f func()) {
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		f()
		f = nil // let it be collected while this goroutine waits
		t.Reset(p.idle)
		select {
		case f = <-p.work:
		case <-t.C:
			return
		case <-p.done:
			return
		}
	}
}
