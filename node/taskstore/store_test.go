package taskstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

func TestAdmitReplay(t *testing.T) {
	tests := []struct {
		name   string
		replay func(t *testing.T, s *Store, path string, opts Options) *Store // returns the store to replay into
	}{
		{"same process", func(t *testing.T, s *Store, _ string, _ Options) *Store { return s }},
		{"after finishing", func(t *testing.T, s *Store, _ string, _ Options) *Store {
			if err := s.PutResult(taskID(1), result(0)); err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"after flush", func(t *testing.T, s *Store, _ string, _ Options) *Store {
			if err := s.flush(); err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"after close and reopen", func(t *testing.T, s *Store, path string, opts Options) *Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return reopen(t, path, opts)
		}},
		{"after crash", func(t *testing.T, s *Store, path string, opts Options) *Store {
			s.crash()
			return reopen(t, path, opts)
		}},
	}
	for _, tt := range tests {
		for _, synced := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sync=%v", tt.name, synced), func(t *testing.T) {
				c := newClock()
				opts := Options{Now: c.Now, FlushInterval: time.Hour, SyncAdmissions: synced}
				s, path := openTest(t, opts)
				tk := task(taskID(1), 1, c.Now())
				if err := s.Admit(tk); err != nil {
					t.Fatalf("Admit: %v", err)
				}
				s = tt.replay(t, s, path, opts)
				if seen, err := s.Seen(tk.ID); err != nil || !seen {
					t.Errorf("Seen of the admitted task = %v, %v; want true", seen, err)
				}
				if seen, err := s.Seen(taskID(2)); err != nil || seen {
					t.Errorf("Seen of another task = %v, %v; want false", seen, err)
				}
				err := s.Admit(tk)
				if !errors.Is(err, ErrReplayed) || fault.KindOf(err) != fault.Replayed {
					t.Fatalf("second Admit = %v, want ErrReplayed of kind replayed", err)
				}
				if !strings.Contains(err.Error(), "taskstore: admit "+tk.ID) {
					t.Errorf("error %q does not name the operation and task", err)
				}
				if err := s.Admit(task(taskID(2), 1, c.Now())); err != nil {
					t.Errorf("Admit of another task: %v", err)
				}
			})
		}
	}
}

func TestAdmitConcurrentDuplicates(t *testing.T) {
	c := newClock()
	s, _ := openTest(t, Options{Now: c.Now})
	const n = 16
	var ok, replayed atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			switch err := s.Admit(task(taskID(7), 1, c.Now())); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrReplayed):
				replayed.Add(1)
			default:
				t.Errorf("Admit: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || replayed.Load() != n-1 {
		t.Errorf("%d admitted and %d replayed, want 1 and %d", ok.Load(), replayed.Load(), n-1)
	}
}

func TestAdmitRefuses(t *testing.T) {
	c := newClock()
	now := c.Now()
	s, _ := openTest(t, Options{Now: c.Now})
	tests := []struct {
		name string
		task Task
		kind fault.Kind
	}{
		{"empty ID", Task{Count: 1, Expires: now.Add(time.Hour)}, fault.Invalid},
		{"NUL in ID", Task{ID: "a\x00b", Count: 1, Expires: now.Add(time.Hour)}, fault.Invalid},
		{"long ID", Task{ID: strings.Repeat("a", maxIDLen+1), Count: 1, Expires: now.Add(time.Hour)}, fault.Invalid},
		{"no inputs", Task{ID: "a", Expires: now.Add(time.Hour)}, fault.Invalid},
		{"too many inputs", Task{ID: "a", Count: maxCount + 1, Expires: now.Add(time.Hour)}, fault.TooLarge},
		{"no expiry", Task{ID: "a", Count: 1}, fault.Invalid},
		{"expired", Task{ID: "a", Count: 1, Expires: now}, fault.Expired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Admit(tt.task)
			if got := fault.KindOf(err); got != tt.kind {
				t.Errorf("Admit = %v (kind %q), want kind %q", err, got, tt.kind)
			}
		})
	}
	if _, err := s.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a refused task = %v, want ErrNotFound", err)
	}
}

func TestStates(t *testing.T) {
	c := newClock()
	s, path := openTest(t, Options{Now: c.Now})
	id := taskID(1)
	t0 := c.Now()
	tk := task(id, 2, t0)
	if err := s.Admit(tk); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		do    func() error
		kind  fault.Kind // of the error do returns
		state invoke.State
	}{
		{"queued", func() error { return s.SetState(id, invoke.StateQueued) }, "", invoke.StateQueued},
		{"queued again", func() error { return s.SetState(id, invoke.StateQueued) }, "", invoke.StateQueued},
		{"running", func() error { return s.SetState(id, invoke.StateRunning) }, "", invoke.StateRunning},
		{"back to queued", func() error { return s.SetState(id, invoke.StateQueued) }, fault.Invalid, invoke.StateRunning},
		{"set done", func() error { return s.SetState(id, invoke.StateDone) }, fault.Invalid, invoke.StateRunning},
		{"set received", func() error { return s.SetState(id, invoke.StateReceived) }, fault.Invalid, invoke.StateRunning},
		{"first result", func() error { return s.PutResult(id, result(1)) }, "", invoke.StateRunning},
		{"index twice", func() error { return s.PutResult(id, result(1)) }, fault.Invalid, invoke.StateRunning},
		{"index out of range", func() error { return s.PutResult(id, result(2)) }, fault.Invalid, invoke.StateRunning},
		{"negative index", func() error { return s.PutResult(id, result(-1)) }, fault.Invalid, invoke.StateRunning},
		{"too large", func() error {
			return s.PutResult(id, invoke.Result{Index: 0, Stdout: strings.Repeat("x", defaultMaxResultBytes+1)})
		}, fault.TooLarge, invoke.StateRunning},
		{"last result", func() error { return s.PutResult(id, result(0)) }, "", invoke.StateDone},
		{"result after done", func() error { return s.PutResult(id, result(0)) }, fault.Invalid, invoke.StateDone},
		{"running after done", func() error { return s.SetState(id, invoke.StateRunning) }, fault.Invalid, invoke.StateDone},
		{"fail after done", func() error { return s.Fail(id, invoke.Error{Message: "late"}) }, fault.Invalid, invoke.StateDone},
		{"unknown task", func() error { return s.SetState("nope", invoke.StateRunning) }, fault.NotFound, invoke.StateDone},
	}
	for i, st := range steps {
		c.Advance(time.Second)
		if got := fault.KindOf(st.do()); got != st.kind {
			t.Fatalf("step %d %q: error kind %q, want %q", i, st.name, got, st.kind)
		}
		got, err := s.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != st.state {
			t.Fatalf("step %d %q: state %s, want %s", i, st.name, got.State, st.state)
		}
	}
	want := Task{
		ID: id, Caller: tk.Caller, Function: tk.Function, Count: 2, Expires: tk.Expires,
		State:     invoke.StateDone,
		Received:  t0,
		Queued:    t0.Add(1 * time.Second), // "queued again" changed nothing
		Started:   t0.Add(3 * time.Second),
		Finished:  t0.Add(12 * time.Second),
		Completed: 2,
	}
	check := func(where string, got Task) {
		t.Helper()
		if !taskEqual(got, want) {
			t.Errorf("%s: got %+v\nwant %+v", where, got, want)
		}
	}
	got, _ := s.Get(id)
	check("in memory", got)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, path, Options{Now: c.Now})
	got, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	check("after reopen", got)
}

func taskEqual(a, b Task) bool {
	if (a.Error == nil) != (b.Error == nil) || a.Error != nil && *a.Error != *b.Error {
		return false
	}
	a.Error, b.Error = nil, nil
	for _, p := range [][2]*time.Time{{&a.Expires, &b.Expires}, {&a.Received, &b.Received}, {&a.Queued, &b.Queued}, {&a.Started, &b.Started}, {&a.Finished, &b.Finished}} {
		if !p[0].Equal(*p[1]) {
			return false
		}
		*p[0], *p[1] = time.Time{}, time.Time{}
	}
	return a == b
}

func TestFail(t *testing.T) {
	c := newClock()
	s, path := openTest(t, Options{Now: c.Now})
	id := taskID(1)
	if err := s.Admit(task(id, 3, c.Now())); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResult(id, result(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(id, invoke.Error{Kind: string(fault.Timeout), Message: "deadline passed"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResult(id, result(1)); fault.KindOf(err) != fault.Invalid {
		t.Errorf("PutResult after Fail = %v, want kind invalid", err)
	}
	s.Close()
	s = reopen(t, path, Options{Now: c.Now})
	got, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != invoke.StateFailed || got.Error == nil || got.Error.Kind != string(fault.Timeout) || got.Completed != 1 {
		t.Errorf("got %+v (error %+v), want failed of kind timeout with 1 result", got, got.Error)
	}
	rs, err := s.Results(id, 0, 0)
	if err != nil || len(rs) != 1 {
		t.Errorf("Results = %v, %v; want the one result stored before the failure", rs, err)
	}
}

func TestResults(t *testing.T) {
	c := newClock()
	s, path := openTest(t, Options{Now: c.Now, FlushInterval: time.Hour})
	id := taskID(1)
	if err := s.Admit(task(id, 10, c.Now())); err != nil {
		t.Fatal(err)
	}
	put := func(idx ...int) {
		t.Helper()
		for _, i := range idx {
			r := result(i)
			if i == 4 {
				r.Value, r.ExitCode = nil, 1
				r.Error = &invoke.Error{Kind: string(fault.User), Type: "ValueError", Message: "bad", Traceback: "line 1"}
			}
			r.Started = c.Now().UnixNano()
			r.Finished = c.Advance(time.Millisecond).UnixNano()
			if err := s.PutResult(id, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	indexes := func(rs []invoke.Result) []int {
		var is []int
		for _, r := range rs {
			is = append(is, r.Index)
		}
		return is
	}
	// Some results on disk, some in memory: the reads merge them.
	put(7, 2, 9)
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	put(4, 0, 5)
	tests := []struct {
		name        string
		from, limit int
		want        []int
	}{
		{"all", 0, 0, []int{0, 2, 4, 5, 7, 9}},
		{"from", 3, 0, []int{4, 5, 7, 9}},
		{"negative from", -5, 0, []int{0, 2, 4, 5, 7, 9}},
		{"limit", 1, 3, []int{2, 4, 5}},
		{"limit over disk and memory", 5, 2, []int{5, 7}},
		{"past the end", 10, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := s.Results(id, tt.from, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := indexes(rs); !slices.Equal(got, tt.want) {
				t.Errorf("indexes %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := s.Results("nope", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Results of an unknown task = %v, want ErrNotFound", err)
	}
	put(1, 3, 6, 8)
	want, err := s.Results(id, 0, 0)
	if err != nil || len(want) != 10 {
		t.Fatalf("Results = %d results, %v; want 10", len(want), err)
	}
	if want[4].Error == nil || want[4].Error.Type != "ValueError" || want[4].ExitCode != 1 {
		t.Errorf("result 4 = %+v, want its error", want[4])
	}
	s.Close()
	s = reopen(t, path, Options{Now: c.Now})
	got, err := s.Results(id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("after reopen, %d results, want %d", len(got), len(want))
	}
	for i := range got {
		if !resultEqual(got[i], want[i]) {
			t.Errorf("after reopen, result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestResultsAcrossRuns checks that tasks flushed by different runs of the
// store keep their results apart.
func TestResultsAcrossRuns(t *testing.T) {
	c := newClock()
	opts := Options{Now: c.Now}
	s, path := openTest(t, opts)
	for run := range 3 {
		if run > 0 {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = reopen(t, path, opts)
		}
		id := taskID(run)
		if err := s.Admit(task(id, 2, c.Now())); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			r := result(i)
			r.Stdout = fmt.Sprintf("run %d", run)
			if err := s.PutResult(id, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.flush(); err != nil {
			t.Fatal(err)
		}
	}
	for run := range 3 {
		rs, err := s.Results(taskID(run), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 2 || rs[0].Stdout != fmt.Sprintf("run %d", run) || rs[1].Stdout != fmt.Sprintf("run %d", run) {
			t.Errorf("task of run %d has results %+v", run, rs)
		}
	}
}

func resultEqual(a, b invoke.Result) bool {
	if (a.Error == nil) != (b.Error == nil) || a.Error != nil && *a.Error != *b.Error {
		return false
	}
	return a.Index == b.Index && string(a.Value) == string(b.Value) && a.Stdout == b.Stdout &&
		a.Stderr == b.Stderr && a.ExitCode == b.ExitCode && a.Started == b.Started && a.Finished == b.Finished
}

func TestWait(t *testing.T) {
	c := newClock()
	s, _ := openTest(t, Options{Now: c.Now})
	id := taskID(1)
	if err := s.Admit(task(id, 2, c.Now())); err != nil {
		t.Fatal(err)
	}
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, err := s.Wait(ctx, id); fault.KindOf(err) != fault.Timeout {
			t.Errorf("Wait = %v, want kind timeout", err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if _, err := s.Wait(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Wait = %v, want ErrNotFound", err)
		}
	})
	t.Run("woken by the last result", func(t *testing.T) {
		got := make(chan Task, 3)
		for range 3 {
			go func() {
				tk, err := s.Wait(context.Background(), id)
				if err != nil {
					t.Error(err)
				}
				got <- tk
			}()
		}
		s.PutResult(id, result(0))
		// Nothing may happen here: a short look for a wrong early return.
		select {
		case tk := <-got:
			t.Fatalf("Wait returned %s before the task finished", tk.State)
		case <-time.After(20 * time.Millisecond):
		}
		s.PutResult(id, result(1))
		for range 3 {
			if tk := <-got; tk.State != invoke.StateDone {
				t.Errorf("Wait returned %s, want done", tk.State)
			}
		}
	})
	t.Run("finished and flushed", func(t *testing.T) {
		if err := s.flush(); err != nil {
			t.Fatal(err)
		}
		if tk, err := s.Wait(context.Background(), id); err != nil || tk.State != invoke.StateDone {
			t.Errorf("Wait = %s, %v; want done", tk.State, err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		id := taskID(2)
		if err := s.Admit(task(id, 1, c.Now())); err != nil {
			t.Fatal(err)
		}
		// A Close that does not wake the waiter leaves it to this
		// deadline, which it reports as a timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		errc := make(chan error)
		go func() {
			_, err := s.Wait(ctx, id)
			errc <- err
		}()
		waiting(t, s, id)
		s.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) || fault.KindOf(err) != fault.Unavailable {
			t.Errorf("Wait = %v, want ErrClosed of kind unavailable", err)
		}
	})
}

// waiting waits until a Wait on id has begun to wait.
func waiting(t *testing.T, s *Store, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		e := s.live[id]
		ok := e != nil && e.done != nil
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Wait on %s began within 10s", id)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFollow(t *testing.T) {
	c := newClock()
	const n = 600 // over followPage, so the stored results come in pages
	tests := []struct {
		name    string
		before  int  // results stored before Follow
		flushed bool // flush them first
		finish  bool // store the rest after Follow
	}{
		{"nothing stored yet", 0, false, true},
		{"some in memory", 100, false, true},
		{"some on disk", 300, true, true},
		{"finished and flushed", n, true, false},
		{"finished in memory", n, false, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, Options{Now: c.Now, FlushInterval: time.Hour})
			id := taskID(i)
			if err := s.Admit(task(id, n, c.Now())); err != nil {
				t.Fatal(err)
			}
			order := make([]int, n)
			for i := range order {
				order[i] = (i * 7919) % n // a permutation: results finish out of order
			}
			for _, i := range order[:tt.before] {
				s.PutResult(id, result(i))
			}
			if tt.flushed {
				if err := s.flush(); err != nil {
					t.Fatal(err)
				}
			}
			ch, err := s.Follow(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			var producer sync.WaitGroup
			defer producer.Wait()
			producer.Go(func() {
				for _, i := range order[tt.before:] {
					if err := s.PutResult(id, result(i)); err != nil {
						t.Error(err)
					}
					if i%50 == 0 {
						s.flush() // some move to disk while followed
					}
				}
			})
			seen := make(map[int]bool)
			for r := range ch {
				if seen[r.Index] {
					t.Fatalf("result %d sent twice", r.Index)
				}
				seen[r.Index] = true
				if string(r.Value) != string(result(r.Index).Value) {
					t.Fatalf("result %d has value %s", r.Index, r.Value)
				}
			}
			if len(seen) != n {
				t.Errorf("followed %d results, want %d", len(seen), n)
			}
		})
	}
	t.Run("ctx ends", func(t *testing.T) {
		s, _ := openTest(t, Options{Now: c.Now})
		if err := s.Admit(task(taskID(1), 2, c.Now())); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := s.Follow(ctx, taskID(1))
		if err != nil {
			t.Fatal(err)
		}
		s.PutResult(taskID(1), result(0))
		if r := <-ch; r.Index != 0 {
			t.Errorf("got result %d, want 0", r.Index)
		}
		cancel()
		if _, ok := <-ch; ok {
			t.Error("channel still open after ctx ended")
		}
	})
	t.Run("unknown", func(t *testing.T) {
		s, _ := openTest(t, Options{Now: c.Now})
		if _, err := s.Follow(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Follow = %v, want ErrNotFound", err)
		}
	})
}

func TestCrashRecovery(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *Store, id string) error
		want  invoke.State // after the crash
	}{
		{"received", func(s *Store, id string) error { return nil }, invoke.StateFailed},
		{"queued", func(s *Store, id string) error { return s.SetState(id, invoke.StateQueued) }, invoke.StateFailed},
		{"running", func(s *Store, id string) error { return s.SetState(id, invoke.StateRunning) }, invoke.StateFailed},
		{"running and flushed", func(s *Store, id string) error {
			s.SetState(id, invoke.StateRunning)
			return s.flush()
		}, invoke.StateFailed},
		{"running, journal folded", func(s *Store, id string) error {
			s.SetState(id, invoke.StateRunning)
			return s.checkpoint()
		}, invoke.StateFailed},
		{"done in memory only", func(s *Store, id string) error { return s.PutResult(id, result(0)) }, invoke.StateFailed},
		{"done and flushed", func(s *Store, id string) error {
			s.PutResult(id, result(0))
			return s.flush()
		}, invoke.StateDone},
		{"failed and flushed", func(s *Store, id string) error {
			s.Fail(id, invoke.Error{Kind: string(fault.User), Message: "boom"})
			return s.flush()
		}, invoke.StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			opts := Options{Now: c.Now, FlushInterval: time.Hour}
			s, path := openTest(t, opts)
			id := taskID(1)
			tk := task(id, 1, c.Now())
			if err := s.Admit(tk); err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(s, id); err != nil {
				t.Fatal(err)
			}
			s.crash()
			restart := c.Advance(time.Minute)
			s = reopen(t, path, opts)
			got, err := s.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.want {
				t.Fatalf("after the crash, %s, want %s", got.State, tt.want)
			}
			if tt.want == invoke.StateFailed && tt.name != "failed and flushed" {
				if got.Error == nil || got.Error.Kind != string(fault.System) || got.Error.Message != restartMessage || !got.Finished.Equal(restart) {
					t.Errorf("got %+v (error %+v), want failed at the restart, kind system, %q", got, got.Error, restartMessage)
				}
			}
			if err := s.Admit(tk); !errors.Is(err, ErrReplayed) {
				t.Errorf("Admit after the crash = %v, want ErrReplayed", err)
			}
			if n := s.count(bucketActive); n != 0 {
				t.Errorf("%d active keys left after recovery", n)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	c := newClock()
	retention := 7 * 24 * time.Hour
	s, _ := openTest(t, Options{Now: c.Now, Retention: retention, GCInterval: time.Hour})
	now := c.Now()
	short := task(taskID(1), 2, now) // expires in an hour
	long := task(taskID(2), 1, now)
	long.Expires = now.Add(30 * 24 * time.Hour) // outlives its retention
	running := task(taskID(3), 1, now)
	running.Expires = now.Add(60 * 24 * time.Hour)
	for _, tk := range []Task{short, long, running} {
		if err := s.Admit(tk); err != nil {
			t.Fatal(err)
		}
	}
	s.PutResult(short.ID, result(0))
	s.PutResult(short.ID, result(1))
	s.PutResult(long.ID, result(0))
	s.SetState(running.ID, invoke.StateRunning)

	all := []string{short.ID, long.ID, running.ID}
	steps := []struct {
		name    string
		advance time.Duration
		found   []string // Get succeeds
		replay  []string // Admit says replayed
		expired []string // Admit says expired
		results int      // keys in the results bucket
		tasks   int      // keys in the tasks bucket, tombstones included
	}{
		{"before retention", 30 * time.Minute, all, all, nil, 3, 3},
		{"after retention", 8 * 24 * time.Hour, []string{running.ID}, []string{long.ID, running.ID}, []string{short.ID}, 0, 2},
		{"after the long expiry", 30 * 24 * time.Hour, []string{running.ID}, []string{running.ID}, []string{short.ID, long.ID}, 0, 1},
	}
	for _, st := range steps {
		c.Advance(st.advance)
		if err := s.collect(); err != nil {
			t.Fatal(err)
		}
		for _, id := range st.found {
			if _, err := s.Get(id); err != nil {
				t.Errorf("%s: Get %s: %v", st.name, id[len(id)-1:], err)
			}
		}
		for _, tk := range []Task{short, long} {
			if !slices.Contains(st.found, tk.ID) {
				if _, err := s.Get(tk.ID); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s: Get %s = %v, want ErrNotFound", st.name, tk.ID[len(tk.ID)-1:], err)
				}
				if _, err := s.Results(tk.ID, 0, 0); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s: Results %s = %v, want ErrNotFound", st.name, tk.ID[len(tk.ID)-1:], err)
				}
			}
		}
		for _, tk := range []Task{short, long, running} {
			if seen, err := s.Seen(tk.ID); err != nil || seen != slices.Contains(st.replay, tk.ID) {
				t.Errorf("%s: Seen %s = %v, %v; want %v", st.name, tk.ID[len(tk.ID)-1:], seen, err, !seen)
			}
		}
		for _, tk := range []Task{short, long, running} {
			want := fault.Kind("")
			switch {
			case slices.Contains(st.expired, tk.ID):
				want = fault.Expired
			case slices.Contains(st.replay, tk.ID):
				want = fault.Replayed
			}
			if got := fault.KindOf(s.Admit(tk)); got != want {
				t.Errorf("%s: Admit %s: kind %q, want %q", st.name, tk.ID[len(tk.ID)-1:], got, want)
			}
		}
		if n := s.count(bucketResults); n != st.results {
			t.Errorf("%s: %d results stored, want %d", st.name, n, st.results)
		}
		if n := s.count(bucketTasks); n != st.tasks {
			t.Errorf("%s: %d task records, want %d", st.name, n, st.tasks)
		}
	}
}

func TestConcurrent(t *testing.T) {
	c := newClock()
	opts := Options{Now: c.Now, FlushInterval: time.Millisecond}
	s, path := openTest(t, opts)
	const workers, perWorker = 32, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := taskID(w*perWorker + i)
				n := 1 + i%4
				if err := s.Admit(task(id, n, c.Now())); err != nil {
					t.Error(err)
					return
				}
				wg.Go(func() { // a client waiting for it
					tk, err := s.Wait(context.Background(), id)
					if err != nil || tk.State != invoke.StateDone {
						t.Errorf("Wait %s = %s, %v", id, tk.State, err)
					}
				})
				if i%3 == 0 {
					wg.Go(func() { // a client streaming it
						ch, err := s.Follow(context.Background(), id)
						if err != nil {
							t.Error(err)
							return
						}
						got := 0
						for range ch {
							got++
						}
						if got != n {
							t.Errorf("Follow %s: %d results, want %d", id, got, n)
						}
					})
				}
				s.SetState(id, invoke.StateQueued)
				s.SetState(id, invoke.StateRunning)
				for j := n - 1; j >= 0; j-- {
					if err := s.PutResult(id, result(j)); err != nil {
						t.Error(err)
					}
					if _, err := s.Results(id, 0, 0); err != nil {
						t.Error(err)
					}
				}
				if i%5 == 0 {
					s.flush()
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, path, opts)
	for i := range workers * perWorker {
		tk, err := s.Get(taskID(i))
		if err != nil || tk.State != invoke.StateDone || tk.Completed != tk.Count {
			t.Fatalf("task %d after reopen: %+v, %v", i, tk, err)
		}
		rs, err := s.Results(taskID(i), 0, 0)
		if err != nil || len(rs) != tk.Count {
			t.Fatalf("task %d after reopen: %d results, %v", i, len(rs), err)
		}
	}
}

func TestClose(t *testing.T) {
	c := newClock()
	s, _ := openTest(t, Options{Now: c.Now})
	if err := s.Admit(task(taskID(1), 1, c.Now())); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close %d: %v", i+1, err)
		}
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Admit", func() error { return s.Admit(task(taskID(2), 1, c.Now())) }},
		{"SetState", func() error { return s.SetState(taskID(1), invoke.StateRunning) }},
		{"PutResult", func() error { return s.PutResult(taskID(1), result(0)) }},
		{"Fail", func() error { return s.Fail(taskID(1), invoke.Error{}) }},
		{"Seen", func() error { _, err := s.Seen(taskID(1)); return err }},
		{"Get", func() error { _, err := s.Get(taskID(1)); return err }},
		{"Results", func() error { _, err := s.Results(taskID(1), 0, 0); return err }},
		{"Wait", func() error { _, err := s.Wait(context.Background(), taskID(1)); return err }},
		{"Follow", func() error { _, err := s.Follow(context.Background(), taskID(1)); return err }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", tt.name, err)
			}
		})
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	c := newClock()
	s, _ := openTest(t, Options{Now: c.Now})
	if err := s.Admit(task(taskID(1), 2, c.Now())); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Follow(context.Background(), taskID(1)) // never read
	if err != nil {
		t.Fatal(err)
	}
	s.PutResult(taskID(1), result(0))
	waited := make(chan error)
	go func() {
		_, err := s.Wait(context.Background(), taskID(1))
		waited <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, ErrClosed) {
		t.Errorf("Wait = %v, want ErrClosed", err)
	}
	for range ch {
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before Open", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"negative retention", Options{Retention: -1}},
		{"negative flush interval", Options{FlushInterval: -1}},
		{"negative GC interval", Options{GCInterval: -1}},
		{"negative max result", Options{MaxResultBytes: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(t.TempDir()+"/tasks.db", tt.opts)
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("Open = %v, want kind invalid", err)
			}
		})
	}
	t.Run("already open", func(t *testing.T) {
		_, path := openTest(t, Options{})
		if _, err := Open(path, Options{}); err == nil {
			t.Error("a second Open of the same file succeeded")
		}
	})
}

func TestFlushFailure(t *testing.T) {
	c := newClock()
	s, path := openTest(t, Options{Now: c.Now, FlushInterval: time.Hour})
	// A full disk: bbolt refuses to grow the file past its size now.
	s.db.MaxSize = 1 << 20
	id := taskID(1)
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy before any failure: %v", err)
	}
	if err := s.Admit(task(id, 8, c.Now())); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 512<<10)
	for i := range 8 {
		if err := s.PutResult(id, invoke.Result{Index: i, Stdout: big}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.flush(); err == nil {
		t.Fatal("flush past MaxSize succeeded")
	}
	if err := s.Healthy(); err == nil {
		t.Error("Healthy after a failed flush = nil")
	}
	if tk, err := s.Get(id); err != nil || tk.State != invoke.StateDone {
		t.Errorf("Get after a failed flush = %s, %v; want done, from memory", tk.State, err)
	}
	if rs, err := s.Results(id, 0, 0); err != nil || len(rs) != 8 {
		t.Errorf("Results after a failed flush = %d, %v; want 8, from memory", len(rs), err)
	}
	err := s.Admit(task(taskID(2), 1, c.Now()))
	if fault.KindOf(err) != fault.Internal || !strings.Contains(err.Error(), "cannot write") {
		t.Errorf("Admit after a failed flush = %v, want kind internal, cannot write", err)
	}
	if err := s.Close(); err == nil {
		t.Error("Close with unflushable results returned nil")
	}
	// The admission was journaled: it survives, failed by recovery.
	s = reopen(t, path, Options{Now: c.Now})
	if tk, err := s.Get(id); err != nil || tk.State != invoke.StateFailed {
		t.Errorf("after reopen: %s, %v; want failed", tk.State, err)
	}
}

func TestCorruptRecord(t *testing.T) {
	c := newClock()
	s, _ := openTest(t, Options{Now: c.Now})
	id := taskID(1)
	if err := s.Admit(task(id, 2, c.Now())); err != nil {
		t.Fatal(err)
	}
	s.PutResult(id, result(0))
	s.Fail(id, invoke.Error{Message: "x"})
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	corrupt := func(put func(tx *bolt.Tx) error) {
		t.Helper()
		if err := s.db.Update(put); err != nil {
			t.Fatal(err)
		}
	}
	corrupt(func(tx *bolt.Tx) error {
		_, seq, _, _, err := getTask(tx, id)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketResults).Put(resultKey(seq, 0), []byte{tagResult, 5, 1})
	})
	if _, err := s.Results(id, 0, 0); !errors.Is(err, errCorrupt) {
		t.Errorf("Results with a corrupt result = %v, want errCorrupt", err)
	}
	corrupt(func(tx *bolt.Tx) error { return tx.Bucket(bucketTasks).Put([]byte(id), []byte{tagTask, 200}) })
	if _, err := s.Get(id); !errors.Is(err, errCorrupt) || fault.KindOf(err) != fault.Internal {
		t.Errorf("Get of a corrupt task = %v, want errCorrupt of kind internal", err)
	}
	if _, err := s.Results(id, 0, 0); !errors.Is(err, errCorrupt) {
		t.Errorf("Results of a corrupt task = %v, want errCorrupt", err)
	}
	if err := s.Admit(task(id, 1, c.Now())); !errors.Is(err, ErrReplayed) {
		t.Errorf("Admit over a corrupt record = %v, want ErrReplayed", err)
	}
}

func TestErrorMessages(t *testing.T) {
	c := newClock()
	s, _ := openTest(t, Options{Now: c.Now})
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"not found", func() error { _, err := s.Get("x"); return err }(), "taskstore: get x: no such task"},
		{"bad state", s.SetState("x", invoke.StateDone), `taskstore: set state x: cannot set "done": a task finishes through PutResult or Fail`},
		{"bad count", s.Admit(Task{ID: "x", Expires: c.Now().Add(time.Hour)}), "taskstore: admit x: count 0, want at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Errorf("error %v, want %q", tt.err, tt.want)
			}
		})
	}
}
