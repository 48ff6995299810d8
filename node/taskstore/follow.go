package taskstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/fxmesh/fxmesh/invoke"
)

// follower is one Follow's queue of results stored after it began. Its
// fields but wake are guarded by Store.mu.
type follower struct {
	queue []invoke.Result
	ended bool          // the task finished: nothing more will be queued
	wake  chan struct{} // cap 1: queue grew, or ended was set
}

// followPage is how many stored results a follower reads per transaction.
const followPage = 256

// Follow streams the task's results: first those already stored, then each
// one as PutResult stores it, every index once, in no set order. The
// channel is closed once the task has finished and every result was sent,
// or early when ctx ends or the store closes; call Get to tell which. An
// unknown task is an error of kind fault.NotFound.
//
// A follower that does not read holds up only itself: results queue in
// memory for it until it does, or until ctx ends.
func (s *Store) Follow(ctx context.Context, id string) (<-chan invoke.Result, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, closedErr("follow", id)
	}
	var f *follower
	var mem []invoke.Result
	var count int
	disk := true // whether results may be on disk already
	e := s.live[id]
	if e != nil && e.admitted {
		count = e.task.Count
		mem = append(append(mem, e.flushing...), e.pending...)
		disk = e.onDisk
		if !e.task.State.Finished() {
			f = &follower{wake: make(chan struct{}, 1)}
			e.followers = append(e.followers, f)
		}
	} else {
		e = nil
	}
	s.wg.Add(1) // Close waits for the goroutine before it closes the database
	s.mu.Unlock()
	if e == nil {
		t, err := s.load("follow", id)
		if err != nil {
			s.wg.Done()
			return nil, err
		}
		count = t.Count
	}
	ch := make(chan invoke.Result)
	go s.follow(ctx, id, e, f, disk, mem, count, ch)
	return ch, nil
}

// follow feeds ch for Follow: stored results (unless disk says there are
// none), those in memory when Follow began, then f's queue until the task
// ends.
func (s *Store) follow(ctx context.Context, id string, e *entry, f *follower, disk bool, mem []invoke.Result, count int, ch chan<- invoke.Result) {
	defer s.wg.Done()
	defer close(ch)
	if f != nil {
		defer s.unfollow(e, f)
	}
	sent := make([]uint64, (count+63)/64)
	send := func(r invoke.Result) bool {
		if r.Index < 0 || r.Index >= count || sent[r.Index/64]&(1<<(r.Index%64)) != 0 {
			return true
		}
		sent[r.Index/64] |= 1 << (r.Index % 64)
		select {
		case ch <- r:
			return true
		case <-ctx.Done():
		case <-s.closing:
		}
		return false
	}
	for from := 0; disk; {
		var rs []invoke.Result
		err := s.db.View(func(tx *bolt.Tx) error {
			_, seq, _, _, err := getTask(tx, id)
			if err == nil {
				rs, err = storedResults(tx, seq, from, followPage, nil, nil)
			}
			return err
		})
		if err != nil {
			s.log.Error("taskstore: follow", "task", id, "err", err)
			return
		}
		for _, r := range rs {
			if !send(r) {
				return
			}
		}
		if len(rs) < followPage {
			break
		}
		from = rs[len(rs)-1].Index + 1
	}
	for _, r := range mem {
		if !send(r) {
			return
		}
	}
	if f == nil {
		return
	}
	for {
		s.mu.Lock()
		q, ended := f.queue, f.ended
		f.queue = nil
		s.mu.Unlock()
		for _, r := range q {
			if !send(r) {
				return
			}
		}
		if ended {
			return
		}
		select {
		case <-f.wake:
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

// unfollow removes f from e's followers.
func (s *Store) unfollow(e *entry, f *follower) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range e.followers {
		if x == f {
			e.followers = append(e.followers[:i], e.followers[i+1:]...)
			return
		}
	}
}

// Following returns how many Follow calls still wait for task id's
// results.
func (s *Store) Following(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.live[id]; e != nil {
		return len(e.followers)
	}
	return 0
}
