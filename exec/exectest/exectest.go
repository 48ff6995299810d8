package exectest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// Case is one function of an implementation and an input for it.
type Case struct {
	Function exec.Function
	Args     json.RawMessage
	Kwargs   json.RawMessage
	// Want is the expected Result.Value, compared as JSON; nil skips the
	// check.
	Want json.RawMessage
	// WantStdout must occur in Result.Stdout.
	WantStdout string
}

// Task returns a task running the case.
func (c Case) Task(timeout time.Duration) exec.Task {
	return exec.Task{Function: c.Function, Args: c.Args, Kwargs: c.Kwargs, Timeout: timeout}
}

// Fixtures are the functions an implementation is tested with.
type Fixtures struct {
	// Compute(i) returns a value computed from its arguments, which
	// depend on i, so that mixed-up results show. The Function must be
	// the same for every i.
	Compute func(i int) Case
	// Fail fails as the user's fault: Result.Error.Kind is fault.User.
	Fail Case
	// Sleep runs for far longer than the tests wait (30 s, say).
	Sleep Case
	// Print writes WantStdout to stdout and succeeds.
	Print Case
	// BigOutput writes far more than MaxOutputBytes to stdout and
	// succeeds.
	BigOutput Case
	// MaxOutputBytes is the limit the executors under test keep output to.
	MaxOutputBytes int
}

// Run tests the executors newExec makes against the contract of
// exec.Executor, and of the optional interfaces they implement. newExec is
// called once per subtest; Run closes what it returns.
func Run(t *testing.T, newExec func(t *testing.T) exec.Executor, fx Fixtures) {
	t.Helper()
	mk := func(t *testing.T) exec.Executor {
		e := newExec(t)
		t.Cleanup(func() {
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return e
	}
	ctx := context.Background()

	t.Run("Compute", func(t *testing.T) {
		e := mk(t)
		c := fx.Compute(7)
		before := time.Now()
		r, err := e.Execute(ctx, c.Task(0))
		checkOK(t, r, err, c)
		if r.Started.Before(before.Add(-time.Second)) || r.Finished.Before(r.Started) || r.Finished.After(time.Now().Add(time.Second)) {
			t.Errorf("Started %v, Finished %v: not around the call", r.Started, r.Finished)
		}
		// Again, now warm.
		c = fx.Compute(8)
		r, err = e.Execute(ctx, c.Task(0))
		checkOK(t, r, err, c)
	})

	t.Run("Started", func(t *testing.T) {
		// Every executor says when a call's input got a worker, for the
		// endpoint to tell a queued task from a running one.
		e := mk(t)
		var started atomic.Int64
		c := fx.Compute(3)
		r, err := e.Execute(exec.WithStarted(ctx, func() { started.Add(1) }), c.Task(0))
		checkOK(t, r, err, c)
		if started.Load() == 0 {
			t.Errorf("Execute returned a result without reporting that the call started (exec.Started)")
		}
	})

	t.Run("UserError", func(t *testing.T) {
		e := mk(t)
		r, err := e.Execute(ctx, fx.Fail.Task(0))
		if err != nil {
			t.Fatalf("Execute: %v (a task's failure belongs in Result.Error)", err)
		}
		if r.Error == nil || r.Error.Kind != fault.User || r.Error.Message == "" {
			t.Fatalf("Result.Error = %+v, want kind %q with a message", r.Error, fault.User)
		}
		if !fault.Is(r.Err(), fault.User) {
			t.Errorf("fault.KindOf(Result.Err()) = %q, want %q", fault.KindOf(r.Err()), fault.User)
		}
		// The executor goes on.
		c := fx.Compute(1)
		r, err = e.Execute(ctx, c.Task(0))
		checkOK(t, r, err, c)
	})

	t.Run("Timeout", func(t *testing.T) {
		e := mk(t)
		start := time.Now()
		r, err := e.Execute(ctx, fx.Sleep.Task(300*time.Millisecond))
		if err != nil {
			t.Fatalf("Execute: %v (a timeout belongs in Result.Error)", err)
		}
		if r.Error == nil || r.Error.Kind != fault.Timeout {
			t.Fatalf("Result.Error = %+v, want kind %q", r.Error, fault.Timeout)
		}
		if d := time.Since(start); d < 300*time.Millisecond || d > 10*time.Second {
			t.Errorf("timed out after %v, want about 300ms", d)
		}
		c := fx.Compute(2)
		r, err = e.Execute(ctx, c.Task(0))
		checkOK(t, r, err, c)
	})

	t.Run("Stdout", func(t *testing.T) {
		e := mk(t)
		r, err := e.Execute(ctx, fx.Print.Task(0))
		checkOK(t, r, err, fx.Print)
		if strings.Contains(r.Stdout, exec.TruncatedNote) {
			t.Errorf("Stdout %q is marked truncated", r.Stdout)
		}
	})

	t.Run("OutputTruncated", func(t *testing.T) {
		e := mk(t)
		r, err := e.Execute(ctx, fx.BigOutput.Task(0))
		checkOK(t, r, err, fx.BigOutput)
		if !strings.Contains(r.Stdout, exec.TruncatedNote) {
			t.Errorf("Stdout (%d bytes) ends %q: no truncation note", len(r.Stdout), tailOf(r.Stdout))
		}
		if max := fx.MaxOutputBytes + 100; len(r.Stdout) > max {
			t.Errorf("Stdout is %d bytes, want at most %d", len(r.Stdout), max)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		e := mk(t)
		const n = 64
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := fx.Compute(i)
				r, err := e.Execute(ctx, c.Task(0))
				if err == nil && r.Error == nil && !jsonEqual(r.Value, c.Want) {
					err = fmt.Errorf("value %s, want %s", r.Value, c.Want)
				}
				if err == nil && r.Error != nil {
					err = r.Error
				}
				if err != nil {
					errs <- fmt.Errorf("task %d: %w", i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if s, ok := e.(exec.Statser); ok {
			waitFor(t, "Stats().Running == 0", func() bool { return s.Stats().Running == 0 })
		}
	})

	t.Run("CancelledBeforeStart", func(t *testing.T) {
		e := mk(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := e.Execute(cctx, fx.Compute(0).Task(0))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Execute with a cancelled context: err = %v, want context.Canceled", err)
		}
	})

	t.Run("CancelledWhileRunning", func(t *testing.T) {
		e := mk(t)
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := e.Execute(cctx, fx.Sleep.Task(time.Minute))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("returned %v after the cancel", d)
		}
		c := fx.Compute(3)
		r, err := e.Execute(ctx, c.Task(0))
		checkOK(t, r, err, c)
	})

	t.Run("Deadline", func(t *testing.T) {
		e := mk(t)
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := e.Execute(dctx, fx.Sleep.Task(time.Minute))
		if !errors.Is(err, context.DeadlineExceeded) || !fault.Is(err, fault.Timeout) {
			t.Fatalf("err = %v (kind %q), want context.DeadlineExceeded of kind timeout", err, fault.KindOf(err))
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		e := mk(t)
		c := fx.Compute(0)
		tests := []struct {
			name string
			task exec.Task
		}{
			{"unknown kind", exec.Task{Function: exec.Function{ID: "x", Kind: "no-such-kind"}}},
			{"args not an array", exec.Task{Function: c.Function, Args: json.RawMessage(`{"a":1}`)}},
			{"malformed args", exec.Task{Function: c.Function, Args: json.RawMessage(`[1,`)}},
			{"kwargs not an object", exec.Task{Function: c.Function, Kwargs: json.RawMessage(`[1]`)}},
			{"injected args", exec.Task{Function: c.Function, Args: json.RawMessage(`[1]],"s":"x`)}},
			{"negative timeout", exec.Task{Function: c.Function, Timeout: -time.Second}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.Execute(ctx, tc.task)
				if !fault.Is(err, fault.Invalid) {
					t.Fatalf("err = %v (kind %q), want kind invalid", err, fault.KindOf(err))
				}
			})
		}
	})

	t.Run("Close", func(t *testing.T) {
		before := runtime.NumGoroutine()
		e := newExec(t)
		c := fx.Compute(4)
		r, err := e.Execute(ctx, c.Task(0))
		checkOK(t, r, err, c)
		if err := e.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := e.Execute(ctx, c.Task(0)); !errors.Is(err, exec.ErrClosed) {
			t.Fatalf("Execute after Close: err = %v, want exec.ErrClosed", err)
		}
		if b, ok := e.(exec.Batcher); ok {
			err := b.ExecuteBatch(ctx, exec.Batch{Function: c.Function, Inputs: []exec.Input{{Args: c.Args, Kwargs: c.Kwargs}}}, func(int, exec.Result) {})
			if !errors.Is(err, exec.ErrClosed) {
				t.Errorf("ExecuteBatch after Close: err = %v, want exec.ErrClosed", err)
			}
		}
		waitFor(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
	})

	t.Run("CloseWhileRunning", func(t *testing.T) {
		e := newExec(t)
		errc := make(chan error, 1)
		go func() {
			_, err := e.Execute(ctx, fx.Sleep.Task(time.Minute))
			errc <- err
		}()
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		if err := e.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Close took %v", d)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, exec.ErrClosed) {
				t.Errorf("Execute running at Close: err = %v, want exec.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Execute still running 10s after Close returned")
		}
	})

	t.Run("Stats", func(t *testing.T) {
		e := mk(t)
		s, ok := e.(exec.Statser)
		if !ok {
			t.Skip("not an exec.Statser")
		}
		st := s.Stats()
		if st.Workers < 1 || st.Idle < 0 || st.Idle > st.Workers || st.Running != 0 || st.Queued != 0 {
			t.Fatalf("idle Stats = %+v", st)
		}
		errc := make(chan error, 1)
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			_, err := e.Execute(cctx, fx.Sleep.Task(time.Minute))
			errc <- err
		}()
		waitFor(t, "Stats().Running == 1", func() bool { return s.Stats().Running == 1 })
		cancel()
		<-errc
		waitFor(t, "Stats().Running == 0", func() bool { return s.Stats().Running == 0 })
	})

	t.Run("Warm", func(t *testing.T) {
		e := mk(t)
		w, ok := e.(exec.Warmer)
		if !ok {
			t.Skip("not an exec.Warmer")
		}
		c := fx.Compute(5)
		if err := w.Warm(ctx, c.Function); err != nil {
			t.Fatalf("Warm: %v", err)
		}
		r, err := e.Execute(ctx, c.Task(0))
		checkOK(t, r, err, c)
		if err := w.Warm(ctx, exec.Function{ID: "x", Kind: "no-such-kind"}); !fault.Is(err, fault.Invalid) {
			t.Errorf("Warm of an unknown kind: err = %v, want kind invalid", err)
		}
	})

	t.Run("Batch", func(t *testing.T) {
		e := mk(t)
		b, ok := e.(exec.Batcher)
		if !ok {
			t.Skip("not an exec.Batcher")
		}
		const n = 300
		inputs := make([]exec.Input, n)
		cases := make([]Case, n)
		for i := range n {
			cases[i] = fx.Compute(i)
			inputs[i] = exec.Input{Args: cases[i].Args, Kwargs: cases[i].Kwargs}
		}
		inputs[17] = exec.Input{Args: json.RawMessage(`[1,`)}
		seen := make([]int, n)
		var inEmit sync.Mutex
		err := b.ExecuteBatch(ctx, exec.Batch{Function: cases[0].Function, Inputs: inputs}, func(i int, r exec.Result) {
			if !inEmit.TryLock() {
				t.Errorf("emit called concurrently")
				return
			}
			defer inEmit.Unlock()
			if i < 0 || i >= n {
				t.Errorf("emit(%d): out of range", i)
				return
			}
			seen[i]++
			switch {
			case i == 17:
				if r.Error == nil || r.Error.Kind != fault.Invalid {
					t.Errorf("malformed input %d: Error = %+v, want kind invalid", i, r.Error)
				}
			case r.Error != nil:
				t.Errorf("input %d: %v", i, r.Error)
			case !jsonEqual(r.Value, cases[i].Want):
				t.Errorf("input %d: Value %s, want %s", i, r.Value, cases[i].Want)
			}
		})
		if err != nil {
			t.Fatalf("ExecuteBatch: %v", err)
		}
		for i, k := range seen {
			if k != 1 {
				t.Errorf("input %d emitted %d times", i, k)
			}
		}
		if err := b.ExecuteBatch(ctx, exec.Batch{Function: cases[0].Function}, func(int, exec.Result) { t.Error("emit for no input") }); err != nil {
			t.Errorf("ExecuteBatch of no inputs: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.ExecuteBatch(cctx, exec.Batch{Function: cases[0].Function, Inputs: inputs}, func(int, exec.Result) {}); !errors.Is(err, context.Canceled) {
			t.Errorf("ExecuteBatch with a cancelled context: err = %v, want context.Canceled", err)
		}
		err = b.ExecuteBatch(ctx, exec.Batch{Function: exec.Function{ID: "x", Kind: "no-such-kind"}, Inputs: inputs}, func(int, exec.Result) { t.Error("emit for an unknown kind") })
		if !fault.Is(err, fault.Invalid) {
			t.Errorf("ExecuteBatch of an unknown kind: err = %v, want kind invalid", err)
		}
	})
}

// checkOK fails t unless r is c's successful result.
func checkOK(t *testing.T, r exec.Result, err error, c Case) {
	t.Helper()
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if r.Error != nil {
		t.Fatalf("Result.Error = %+v (stderr %q)", r.Error, r.Stderr)
	}
	if c.Want != nil && !jsonEqual(r.Value, c.Want) {
		t.Errorf("Value = %s, want %s", r.Value, c.Want)
	}
	if !strings.Contains(r.Stdout, c.WantStdout) {
		t.Errorf("Stdout = %q, want it to contain %q", r.Stdout, c.WantStdout)
	}
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return bytes.Equal(xs, ys)
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("waited 10s for %s\n%s", what, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tailOf(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}
