package pilot

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
)

const testMaxOutput = 4 << 10

func pyFn(id, src, entry string) exec.Function {
	return exec.Function{ID: id, Kind: exec.KindPython, Source: src, Entry: entry}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func fixtures() exectest.Fixtures {
	compute := pyFn("compute", "def f(a, b=0, *, by=1):\n    return {'sum': (a + b) * by, 'root': a}\n", "f")
	return exectest.Fixtures{
		Compute: func(i int) exectest.Case {
			return exectest.Case{
				Function: compute,
				Args:     raw(fmt.Sprintf("[%d, 1]", i)),
				Kwargs:   raw(`{"by": 2}`),
				Want:     raw(fmt.Sprintf(`{"sum": %d, "root": %d}`, (i+1)*2, i)),
			}
		},
		Fail:           exectest.Case{Function: pyFn("fail", "def f():\n    raise ValueError('boom')\n", "f")},
		Sleep:          exectest.Case{Function: pyFn("sleep", "import time\ndef f():\n    time.sleep(30)\n", "f")},
		Print:          exectest.Case{Function: pyFn("print", "def f():\n    print('hello from a block')\n", "f"), Want: raw("null"), WantStdout: "hello from a block\n"},
		BigOutput:      exectest.Case{Function: pyFn("big", "def f():\n    print('x' * 100000)\n    return 1\n", "f"), Want: raw("1"), WantStdout: "xxxx"},
		MaxOutputBytes: testMaxOutput,
	}
}

// TestConformance runs the shared harness on a manager of one local
// block of two workers.
func TestConformance(t *testing.T) {
	exectest.Run(t, func(t *testing.T) exec.Executor { return newRig(t, nil) }, fixtures())
}

var sleepOne = pyFn("sleep1", "import time, os\ndef f(i):\n    time.sleep(1)\n    return [i, os.getpid()]\n", "f")

// TestFortyTasks: 40 tasks of a second over at most 2 blocks of 2 workers,
// from none, all complete; the blocks go after max_idletime, and no block
// process remains after Close.
func TestFortyTasks(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.MinBlocks, c.MaxBlocks, c.WorkersPerNode, c.MaxIdle = 0, 2, 2, 500*time.Millisecond
	})
	defer r.Close()
	if s := r.Summary(); s.Pending+s.Running != 0 {
		t.Fatalf("idle manager with min_blocks 0 has blocks: %+v", s)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	maxBlocks := 0
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Execute(t.Context(), exec.Task{Tenant: "alice", Function: sleepOne, Args: raw(fmt.Sprintf("[%d]", i))})
			if err == nil && res.Error != nil {
				err = res.Error
			}
			if err == nil && !strings.HasPrefix(string(res.Value), fmt.Sprintf("[%d,", i)) {
				err = fmt.Errorf("value %s", res.Value)
			}
			if err != nil {
				errs <- fmt.Errorf("task %d: %w", i, err)
			}
			s := r.Summary()
			mu.Lock()
			maxBlocks = max(maxBlocks, s.Pending+s.Running+s.Draining)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxBlocks > 2 {
		t.Errorf("%d blocks at once, max_blocks 2", maxBlocks)
	}
	if maxBlocks < 2 {
		t.Errorf("only %d block ran 40 tasks: want the manager to scale to 2", maxBlocks)
	}
	waitFor(t, 30*time.Second, "idle blocks cancelled after max_idletime", func() bool {
		s := r.Summary()
		return s.Pending+s.Running+s.Draining == 0
	})
	waitFor(t, 10*time.Second, "no job of the provider left", func() bool {
		jobs, _ := r.local.Jobs(t.Context(), "fxtest-")
		return len(jobs) == 0
	})
	r.Close()
	if ps := markedProcesses(r.marker); len(ps) > 0 {
		t.Fatalf("processes of blocks remain after Close: %v", ps)
	}
}

// TestCloseEndsBlocks: Close cancels running blocks; none of their
// processes remain.
func TestCloseEndsBlocks(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MinBlocks, c.MaxBlocks = 2, 2 })
	waitFor(t, 30*time.Second, "two blocks running", func() bool { return r.Summary().Running == 2 })
	if ps := markedProcesses(r.marker); len(ps) == 0 {
		t.Fatal("no process of the blocks found: the check below would prove nothing")
	}
	r.Close()
	if ps := markedProcesses(r.marker); len(ps) > 0 {
		t.Fatalf("processes of blocks remain after Close: %v", ps)
	}
	if jobs, _ := r.local.Jobs(context.Background(), "fxtest-"); len(jobs) > 0 {
		t.Fatalf("jobs remain after Close: %+v", jobs)
	}
}

// blockPID is the pid of the process group of the only local job.
func blockPID(t *testing.T, r *rig) int {
	t.Helper()
	recs, err := r.local.records()
	if err != nil || len(recs) == 0 {
		t.Fatalf("no job record: %v", err)
	}
	for _, rec := range recs {
		if rec.State == stateNone {
			return rec.PID
		}
	}
	t.Fatal("no running job")
	return 0
}

// TestBlockKilled: killing a block's process group mid-task fails its
// tasks, as system errors naming the block's job and its state, within
// the heartbeat timeout; the manager then starts a new block for new work.
func TestBlockKilled(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MinBlocks, c.MaxBlocks, c.Heartbeat = 1, 1, 500*time.Millisecond })
	defer r.Close()
	slow := pyFn("slow", "import time\ndef f():\n    time.sleep(60)\n", "f")
	type out struct {
		r   exec.Result
		err error
		at  time.Time
	}
	outs := make(chan out, 2)
	for range 2 {
		go func() {
			res, err := r.Execute(t.Context(), exec.Task{Tenant: "bob", Function: slow})
			outs <- out{res, err, time.Now()}
		}()
	}
	waitFor(t, 30*time.Second, "two tasks running", func() bool { return r.Stats().Running == 2 })
	pid := blockPID(t, r)
	killed := time.Now()
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	timeout := 500 * time.Millisecond * DefaultMissedBeats
	for range 2 {
		o := <-outs
		if o.err != nil {
			t.Fatalf("Execute: %v (a lost block fails the task in its Result)", o.err)
		}
		e := o.r.Error
		if e == nil || e.Kind != fault.System || !strings.Contains(e.Message, "block lost: job ") || !strings.Contains(e.Message, "FAILED") {
			t.Fatalf("Result.Error = %+v, want a system error naming the block's job and state", e)
		}
		if d := o.at.Sub(killed); d > timeout+2*time.Second {
			t.Errorf("failed %v after the kill; the heartbeat timeout is %v", d, timeout)
		}
		t.Logf("after %v: %s", o.at.Sub(killed), e.Message)
	}
	// A new block serves what comes next.
	res, err := r.Execute(t.Context(), fixtures().Compute(1).Task(0))
	if err != nil || res.Error != nil {
		t.Fatalf("after the loss: %v %+v", err, res.Error)
	}
}

// TestBlockKilledRetried: a task with retries left goes back to the queue
// when its block is lost, and completes on a new block.
func TestBlockKilledRetried(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MinBlocks, c.MaxBlocks, c.WorkersPerNode = 1, 1, 1 })
	defer r.Close()
	dir := t.TempDir()
	// Its first run hangs; the second, finding the file, returns.
	once := pyFn("once", "import os, time\ndef f(p):\n    if os.path.exists(p):\n        return 'second'\n    open(p, 'w').close()\n    time.sleep(60)\n", "f")
	type out struct {
		r   exec.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		args, _ := json.Marshal([]string{filepath.Join(dir, "ran")})
		res, err := r.Execute(t.Context(), exec.Task{Function: once, Args: args, Retries: 1})
		done <- out{res, err}
	}()
	waitFor(t, 30*time.Second, "the first run started", func() bool {
		_, err := os.Stat(filepath.Join(dir, "ran"))
		return err == nil
	})
	if err := syscall.Kill(-blockPID(t, r), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.r.Error != nil || string(o.r.Value) != `"second"` {
		t.Fatalf("retried task: err %v, result %+v %s", o.err, o.r.Error, o.r.Value)
	}
}

// TestSilentAgent: an agent that stops beating (stopped, not dead) loses
// its block within the heartbeat timeout, and the block is cancelled.
func TestSilentAgent(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MinBlocks, c.MaxBlocks, c.Heartbeat = 1, 1, 300*time.Millisecond })
	defer r.Close()
	slow := pyFn("slow", "import time\ndef f():\n    time.sleep(60)\n", "f")
	done := make(chan exec.Result, 1)
	go func() {
		res, _ := r.Execute(t.Context(), exec.Task{Function: slow})
		done <- res
	}()
	waitFor(t, 30*time.Second, "the task running", func() bool { return r.Stats().Running == 1 })
	pid := blockPID(t, r)
	if err := syscall.Kill(-pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-pid, syscall.SIGKILL)
	var res exec.Result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the task on a silent block still runs 30s later")
	}
	if res.Error == nil || res.Error.Kind != fault.System || !strings.Contains(res.Error.Message, "no heartbeat") {
		t.Fatalf("Result.Error = %+v, want a system error for the silent agent", res.Error)
	}
	t.Log(res.Error.Message)
}

// failing is a provider whose every submission fails, as a scheduler
// refusing a bad partition.
type failing struct{ *Local }

func (failing) Submit(context.Context, Job) (string, error) {
	return "", fmt.Errorf("sbatch: error: invalid partition specified: nosuch")
}

// TestSubmitFailure: blocks that cannot be submitted put the manager in an
// error state, with the scheduler's message, within a scaling period.
func TestSubmitFailure(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Provider = failing{c.Provider.(*Local)}
		c.MinBlocks, c.MaxBlocks = 0, 1
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	go r.Execute(ctx, fixtures().Compute(1).Task(0))
	waitFor(t, 2*time.Second, "the error state", func() bool {
		return strings.Contains(r.Summary().Error, "invalid partition specified: nosuch")
	})
	t.Log(r.Summary().Error)
}

// TestAttachRefusals: an unknown identity, and a second use of a live
// block's credential, are refused.
func TestAttachRefusals(t *testing.T) {
	r := newRig(t, nil)
	defer r.Close()
	var tok string
	select {
	case tok = <-r.attached:
	case <-time.After(30 * time.Second):
		t.Fatal("no agent attached")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := r.Attach("stranger", a); !fault.Is(err, fault.Denied) {
		t.Errorf("Attach of a stranger: %v, want denied", err)
	}
	if err := r.Attach(tok, a); !fault.Is(err, fault.Denied) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Attach of a block's credential: %v, want denied, in use", err)
	}
}

// TestDrain: a block takes no new task in the last drain_period of its
// walltime, but finishes those it runs; new work goes to a new block.
func TestDrain(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.MinBlocks, c.MaxBlocks = 1, 2
		c.Job.Walltime = "00:00:30"
		c.DrainPeriod = 28 * time.Second
	})
	defer r.Close()
	where := pyFn("where", "import os, time\ndef f(s):\n    time.sleep(s)\n    return os.getcwd()\n", "f")
	type out struct {
		r   exec.Result
		err error
	}
	first := make(chan out, 1)
	go func() {
		res, err := r.Execute(t.Context(), exec.Task{Function: where, Args: raw("[4]")})
		first <- out{res, err}
	}()
	waitFor(t, 30*time.Second, "the task running", func() bool { return r.Stats().Running == 1 })
	waitFor(t, 10*time.Second, "the block draining", func() bool { return r.Summary().Draining == 1 })
	second, err := r.Execute(t.Context(), exec.Task{Function: where, Args: raw("[0]")})
	if err != nil || second.Error != nil {
		t.Fatalf("task sent while the block drains: %v %+v", err, second.Error)
	}
	o := <-first
	if o.err != nil || o.r.Error != nil {
		t.Fatalf("task running when the block began to drain: %v %+v", o.err, o.r.Error)
	}
	if string(o.r.Value) == string(second.Value) {
		t.Fatalf("both tasks ran in block %s: a draining block took a new task", o.r.Value)
	}
}

// TestParseWalltime covers the forms schedulers take.
func TestParseWalltime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"01:00:00", time.Hour, false},
		{"00:30", 30 * time.Second, false},
		{"1-02:00:00", 26 * time.Hour, false},
		{"00:00:00", 0, true},
		{"1:61:00", 0, true},
		{"abc", 0, true},
		{"", 0, true},
	} {
		got, err := ParseWalltime(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseWalltime(%q) = %v, %v", tc.in, got, err)
		}
	}
}
