package sim

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node"
)

// submit sends fn with args to the fixture's endpoint without waiting and
// returns the task ID.
func (f *fixture) submit(fn *client.ResolvedFunction, args string) string {
	f.t.Helper()
	sub, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: fn, Inputs: []invoke.Input{{Args: []byte(args)}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return sub.TaskID
}

// exists waits until path exists.
func exists(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCancelQueuedTaskNeverRuns: with the one worker busy, a task admitted
// behind it and cancelled never runs, not even once the worker is free.
func TestCancelQueuedTaskNeverRuns(t *testing.T) {
	f := newFixture(t, func(cfg *node.Config) { cfg.Workers = 1 })
	tally := f.register("tally", catalog.Access{})
	count := f.register("count", catalog.Access{})
	dir := t.TempDir()
	busy, queued, after := filepath.Join(dir, "busy"), filepath.Join(dir, "queued"), filepath.Join(dir, "after")

	blocker := f.submit(tally, fmt.Sprintf(`[%q, 60]`, busy))
	exists(t, busy) // the only worker runs it
	victim := f.submit(count, fmt.Sprintf(`[%q]`, queued))
	st, err := f.client.Cancel(f.ctx, f.ep.ID(), victim)
	if err != nil {
		t.Fatalf("cancel of the queued task: %v", err)
	}
	if st.State != invoke.StateCancelled {
		t.Fatalf("queued task is %s after its cancel, want cancelled", st.State)
	}
	if st, err := f.client.Cancel(f.ctx, f.ep.ID(), blocker); err != nil || st.State != invoke.StateCancelled {
		t.Fatalf("cancel of the running task: %v, %v", st, err)
	}
	// The worker is free: a task sent now runs after anything queued before it.
	res, err := f.run(f.client, count, fmt.Sprintf(`[%q]`, after), "", 0)
	if err != nil || res.Error != nil {
		t.Fatalf("task after the cancels: %v %+v", err, res)
	}
	if _, err := os.Stat(queued); err == nil {
		t.Fatal("the cancelled queued task ran")
	}
	if st, err := f.client.Task(f.ctx, f.ep.ID(), victim, false, false, nil); err != nil || st.State != invoke.StateCancelled {
		t.Fatalf("status of the cancelled task: %v, %v", st, err)
	}
}

// TestCancelRunningTask: a running Python function and a running shell
// command are stopped; a caller waiting for the task gets its end with
// state cancelled, and the task store says cancelled too.
func TestCancelRunningTask(t *testing.T) {
	f := newFixture(t, nil)
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	if _, err := u.Register(f.ctx, catalog.Function{Name: "hold", Kind: catalog.KindShell, Command: `sh -c "echo > \"$0\"; exec sleep 300" {path}`}, catalog.Access{Public: true}); err != nil {
		t.Fatal(err)
	}
	hold, err := u.Resolve(f.ctx, "hold")
	if err != nil {
		t.Fatal(err)
	}
	tally := f.register("tally", catalog.Access{Public: true})
	for _, tc := range []struct {
		name         string
		fn           *client.ResolvedFunction
		args, kwargs func(path string) string
	}{
		{"python", tally, func(p string) string { return fmt.Sprintf(`[%q, 300]`, p) }, func(string) string { return "" }},
		{"shell", hold, func(string) string { return "" }, func(p string) string { return fmt.Sprintf(`{"path": %q}`, p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := filepath.Join(t.TempDir(), "started")
			in := invoke.Input{Kwargs: []byte(tc.kwargs(started))}
			if a := tc.args(started); a != "" {
				in.Args = []byte(a)
			}
			inv, err := invoke.New(tc.fn.ID.String(), f.ep.ID().String(), []invoke.Input{in}, time.Now(), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			env, id, err := invoke.SignTask(f.owner, inv)
			if err != nil {
				t.Fatal(err)
			}
			type ended struct {
				sub *client.Submitted
				err error
			}
			done := make(chan ended, 1)
			go func() {
				// The caller waits on its session, as fx run does.
				sub, err := f.client.Send(f.ctx, f.ep.ID(), env, true, nil)
				done <- ended{sub, err}
			}()
			exists(t, started)
			st, err := f.client.Cancel(f.ctx, f.ep.ID(), id)
			if err != nil || st.State != invoke.StateCancelled {
				t.Fatalf("cancel: %v, %v", st, err)
			}
			var e ended
			select {
			case e = <-done:
			case <-time.After(60 * time.Second): // not a speed target: the function sleeps 300 s
				t.Fatal("the cancelled task was not stopped: its caller still waits")
			}
			if e.err != nil {
				t.Fatalf("waiting caller: %v", e.err)
			}
			if e.sub.Status == nil || e.sub.Status.State != invoke.StateCancelled {
				t.Fatalf("waiting caller got %+v, want state cancelled", e.sub.Status)
			}
			if st, err := f.client.Task(f.ctx, f.ep.ID(), id, false, false, nil); err != nil || st.State != invoke.StateCancelled {
				t.Fatalf("status: %v, %v", st, err)
			}
		})
	}
}

// TestCancelOtherUsersTaskDenied: only the caller may cancel its task;
// another user is denied and the task runs on.
func TestCancelOtherUsersTaskDenied(t *testing.T) {
	f := newFixture(t, nil)
	count := f.register("count", catalog.Access{Public: true})
	path := filepath.Join(t.TempDir(), "count")
	id := f.submit(count, fmt.Sprintf(`[%q]`, path))
	other, _ := identity.GenerateKey()
	oc, err := f.mesh.Client(f.ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if _, err := oc.Cancel(f.ctx, f.ep.ID(), id); fault.KindOf(err) != fault.Denied {
		t.Fatalf("another user's cancel = %v, want denied", err)
	}
	ctx, cancel := context.WithTimeout(f.ctx, 60*time.Second)
	defer cancel()
	st, err := f.client.Task(ctx, f.ep.ID(), id, false, true, nil)
	if err != nil || st.State != invoke.StateDone {
		t.Fatalf("task after another user's cancel: %v, %v; want done", st, err)
	}
}

// TestTaskRecordFollowsTheTask: a task submitted through a client with a
// home is recorded there with its function, and its state as the client
// last saw it: done after a wait, cancelled after a cancel.
func TestTaskRecordFollowsTheTask(t *testing.T) {
	f := newFixture(t, nil)
	home := client.Home{Dir: t.TempDir()}
	c, err := client.New(f.ctx, client.Options{Key: f.owner, Bootstrap: f.mesh.Bootstrap.Addrs(), Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	count := f.register("count", catalog.Access{Public: true})
	nap := f.register("nap", catalog.Access{Public: true})
	path := filepath.Join(t.TempDir(), "count")
	sub, err := c.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: count, Inputs: []invoke.Input{{Args: []byte(fmt.Sprintf(`[%q]`, path))}}, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := home.Task(sub.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != invoke.StateDone || r.Endpoint != f.ep.ID().String() || r.Function != count.ID.String() || r.FunctionRef != count.Function.Ref() || r.Count != 1 || r.Done != 1 {
		t.Fatalf("record after the wait: %+v", r)
	}
	sub, err = c.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: nap, Inputs: []invoke.Input{{Args: []byte(`[300]`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := home.Task(sub.TaskID); r.State != invoke.StateReceived {
		t.Fatalf("record after the submit: %+v", r)
	}
	if _, err := c.Cancel(f.ctx, f.ep.ID(), sub.TaskID); err != nil {
		t.Fatal(err)
	}
	if r, _ := home.Task(sub.TaskID); r.State != invoke.StateCancelled {
		t.Fatalf("record after the cancel: %+v", r)
	}
}

// TestCancelRunningContainerTask: a function running in a container is
// stopped by a cancel: its waiting caller gets the end, state cancelled,
// and the container it ran in is gone.
func TestCancelRunningContainerTask(t *testing.T) {
	needImages(t)
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o777); err != nil { // the function runs as nobody
		t.Fatal(err)
	}
	f := newFixture(t, func(cfg *node.Config) {
		cfg.Containers = node.ContainersConfig{Runtime: node.RuntimeDocker, PerImage: 1,
			Mounts: []node.MountConfig{{Host: shared, Container: "/shared", Writable: true}}}
	})
	fn := f.registerFunction(boxed("host", "host", pyImage))
	first := f.value(fn, `["", 0]`) // the container's host name, a prefix of its ID
	inv, err := invoke.New(fn.ID.String(), f.ep.ID().String(), []invoke.Input{{Args: []byte(`["/shared/started", 300]`)}}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	env, id, err := invoke.SignTask(f.owner, inv)
	if err != nil {
		t.Fatal(err)
	}
	type ended struct {
		sub *client.Submitted
		err error
	}
	done := make(chan ended, 1)
	go func() {
		sub, err := f.client.Send(f.ctx, f.ep.ID(), env, true, nil)
		done <- ended{sub, err}
	}()
	exists(t, filepath.Join(shared, "started"))
	if st, err := f.client.Cancel(f.ctx, f.ep.ID(), id); err != nil || st.State != invoke.StateCancelled {
		t.Fatalf("cancel: %v, %v", st, err)
	}
	var e ended
	select {
	case e = <-done:
	case <-time.After(60 * time.Second): // not a speed target: the function sleeps 300 s
		t.Fatal("the cancelled task was not stopped: its caller still waits")
	}
	if e.err != nil || e.sub.Status == nil || e.sub.Status.State != invoke.StateCancelled {
		t.Fatalf("waiting caller: %+v, %v; want state cancelled", e.sub, e.err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := osexec.Command("docker", "ps", "-q", "--no-trunc").Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still runs after the cancel", first)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
