package node

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Tests that what a peer may make an endpoint hold is bounded, and that
// what it sends is read only as far as it is admitted.

const boundsSource = `
import time

def nap(s):
    time.sleep(s)
    return s

def echo(x):
    return x
`

// boundsFixture is one endpoint node, owned by owner, with owner's client
// connected to it and the functions of boundsSource registered (public).
type boundsFixture struct {
	ctx    context.Context
	ep     *Node
	owner  *identity.Key
	client *client.Client
	fns    map[string]*client.ResolvedFunction
}

func newBoundsFixture(t *testing.T, configure func(*Config)) *boundsFixture {
	t.Helper()
	return newBoundsFixtureOpts(t, configure, Options{})
}

// newBoundsFixtureOpts is newBoundsFixture with the endpoint's Options
// (its Dir, Key, Config and Logger are the fixture's).
func newBoundsFixtureOpts(t *testing.T, configure func(*Config), opts Options) *boundsFixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	owner, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Name: "ep", Owner: owner.ID().String(), Workers: 1,
		Listen:   []string{"/ip4/127.0.0.1/tcp/0"},
		Hardware: routing.Hardware{CPUs: 1, MemoryBytes: 1 << 30, Arch: "amd64", OS: "linux"},
	}
	if configure != nil {
		configure(cfg)
	}
	opts.Dir, opts.Key, opts.Config, opts.Logger = t.TempDir(), k, cfg, testLogger(t)
	ep, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	f := &boundsFixture{ctx: ctx, ep: ep, owner: owner, fns: map[string]*client.ResolvedFunction{}}
	f.client = f.clientOf(t, owner)
	for _, name := range []string{"nap", "echo"} {
		env, err := catalog.NewPublish(owner, nil, catalog.Function{Name: name, Kind: catalog.KindPython, Source: boundsSource, Entry: name},
			catalog.Access{Public: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.client.PublishUpdate(ctx, env); err != nil {
			t.Fatal(err)
		}
		if f.fns[name], err = f.client.ResolveFunction(ctx, owner.ID().String()+"/"+name); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *boundsFixture) clientOf(t *testing.T, k *identity.Key) *client.Client {
	t.Helper()
	c, err := client.New(f.ctx, client.Options{Key: k, Bootstrap: f.ep.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// signed is an invocation of fn on the endpoint with args, signed by k.
func (f *boundsFixture) signed(t *testing.T, k *identity.Key, fn string, args string) []byte {
	t.Helper()
	inv, err := invoke.New(f.fns[fn].ID.String(), f.ep.ID().String(), []invoke.Input{{Args: []byte(args)}}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	env, err := invoke.Sign(k, inv)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInvocationSignerMustBeTheSender: a peer that relays another user's
// signed invocation gets denied, and nothing runs: results of a waited-for
// invocation would otherwise go to whoever sent it.
func TestInvocationSignerMustBeTheSender(t *testing.T) {
	f := newBoundsFixture(t, func(c *Config) { c.Public = true })
	relay := f.clientOf(t, mustGenerate(t))
	env := f.signed(t, f.owner, "echo", `["the owner's"]`)
	for _, wait := range []bool{true, false} {
		_, err := relay.Send(f.ctx, f.ep.ID(), env, wait, nil)
		if fault.KindOf(err) != fault.Denied || !strings.Contains(err.Error(), "sent by") {
			t.Fatalf("relayed invocation (wait %v): err = %v, want denied", wait, err)
		}
	}
	if st := f.ep.ep.pythonStats(t); st.Running+st.Queued != 0 {
		t.Fatalf("pool busy after refusals: %+v", st)
	}
	id, _ := invoke.TaskIDOf(env)
	if _, err := f.ep.ep.tasks.Get(id); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("relayed invocation was recorded: %v", err)
	}
	// The signer itself may send the very same bytes.
	if _, err := f.client.Send(f.ctx, f.ep.ID(), env, true, nil); err != nil {
		t.Fatalf("signer's own send: %v", err)
	}
}

// pythonStats is the load of the endpoint's Python executor.
func (e *endpoint) pythonStats(t *testing.T) exec.Stats {
	t.Helper()
	x, ok := e.executors[exec.KindPython].(exec.Statser)
	if !ok {
		t.Fatal("the endpoint has no python executor that reports its load")
	}
	return x.Stats()
}

func mustGenerate(t *testing.T) *identity.Key {
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestEmptyStreamIsInvalid: a stream closed before its request is an
// invalid request, not an internal error.
func TestEmptyStreamIsInvalid(t *testing.T) {
	f := newBoundsFixture(t, nil)
	for _, proto := range []string{string(wire.InvokeProtocol), string(wire.TaskProtocol), string(wire.SessionProtocol)} {
		t.Run(proto, func(t *testing.T) {
			s, err := f.client.Host().NewStream(f.ctx, f.ep.ID(), protocol.ID(proto))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			if err := s.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			var rep invoke.Reply
			err = wire.ReadMsg(bufio.NewReader(s), wire.MaxFrame, &rep)
			if proto == string(wire.SessionProtocol) {
				// A session that ends at once has nothing to answer.
				if err == nil {
					t.Fatalf("empty session answered %+v", rep)
				}
				return
			}
			if err != nil || rep.Type != invoke.ReplyError || rep.Error == nil {
				t.Fatalf("reply %+v, %v", rep, err)
			}
			if rep.Error.Kind != string(fault.Invalid) {
				t.Fatalf("empty stream: %s: %s, want invalid", rep.Error.Kind, rep.Error.Message)
			}
		})
	}
}

// TestOversizedInvocationRefusedFromItsHeader: an invocation over the
// endpoint's limit is refused as too large before the endpoint reads it,
// and the caller learns it at once instead of blocking on its write.
func TestOversizedInvocationRefusedFromItsHeader(t *testing.T) {
	f := newBoundsFixture(t, func(c *Config) { c.MaxInputBytes = 64 << 10 })
	args := fmt.Sprintf(`[%q]`, strings.Repeat("x", 4<<20))
	for _, wait := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		start := time.Now()
		_, err := f.client.Invoke(ctx, client.InvokeRequest{
			Endpoint: f.ep.ID(), Function: f.fns["echo"], Inputs: []invoke.Input{{Args: []byte(args)}}, Wait: wait,
		})
		cancel()
		if fault.KindOf(err) != fault.TooLarge {
			t.Fatalf("wait %v: err = %v (kind %s) after %v, want too-large", wait, err, fault.KindOf(err), time.Since(start))
		}
	}
	// The endpoint still serves.
	if _, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: f.fns["echo"], Inputs: []invoke.Input{{Args: []byte(`[1]`)}}, Wait: true}); err != nil {
		t.Fatal(err)
	}
}

// TestFollowerEndsWithItsStream: a caller that asks to follow a task and
// then resets its stream leaves nothing following the task.
func TestFollowerEndsWithItsStream(t *testing.T) {
	f := newBoundsFixture(t, nil)
	sub, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: f.fns["nap"], Inputs: []invoke.Input{{Args: []byte(`[30]`)}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s, err := f.client.Host().NewStream(f.ctx, f.ep.ID(), wire.TaskProtocol)
		if err != nil {
			t.Fatal(err)
		}
		if err := wire.WriteMsg(s, invoke.Query{TaskID: sub.TaskID, Wait: true}); err != nil {
			t.Fatal(err)
		}
		var st invoke.Reply
		if err := wire.ReadMsg(bufio.NewReader(s), wire.MaxFrame, &st); err != nil || st.Type != invoke.ReplyStatus {
			t.Fatalf("status: %+v %v", st, err)
		}
		waitUntil(t, 5*time.Second, "the endpoint follows the task", func() bool { return f.ep.ep.tasks.Following(sub.TaskID) == 1 })
		s.Reset()
		waitUntil(t, 5*time.Second, fmt.Sprintf("follower %d gone after its stream was reset", i), func() bool {
			return f.ep.ep.tasks.Following(sub.TaskID) == 0
		})
	}
}

// TestSessionCallsBounded: a session's calls are admitted only as fast as
// earlier ones end once its bound is reached, so that one session cannot
// make the endpoint hold without limit.
func TestSessionCallsBounded(t *testing.T) {
	f := newBoundsFixture(t, nil)
	const bound = 3
	f.ep.ep.callsPerSessionStream = bound
	stop := make(chan struct{})
	peak := make(chan int)
	go func() {
		most := 0
		for {
			st := f.ep.ep.pythonStats(t)
			most = max(most, st.Running+st.Queued)
			select {
			case <-stop:
				peak <- most
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	const calls = 10
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
	)
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: f.fns["nap"], Inputs: []invoke.Input{{Args: []byte(`[0.2]`)}}, Wait: true})
			if err != nil || sub.Status.State != invoke.StateDone {
				t.Errorf("call: %+v %v", sub, err)
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if most := <-peak; most > bound {
		t.Fatalf("%d calls of one session held by the endpoint at once, bound %d", most, bound)
	}
	if failed.Load() > 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
}

// TestLivenessForgetsSilentEndpoints: the table of heartbeats (a
// bootstrap's) drops an endpoint not heard from for liveRetention.
func TestLivenessForgetsSilentEndpoints(t *testing.T) {
	var offset atomic.Int64 // added to the observer's clock
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	k, _ := identity.GenerateKey()
	observer, err := Start(context.Background(), Options{Dir: t.TempDir(), Key: k, Now: clock, Logger: testLogger(t), Role: RoleBootstrap, Config: &Config{
		Name: "observer", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Workers: 1,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	gone := startNode(t, RoleEndpoint, "gone", observer.Addrs())
	waitUntil(t, 15*time.Second, "the observer hears the other endpoint", func() bool {
		_, ok := observer.Liveness().Get(gone.ID().String())
		return ok
	})
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(liveRetention + time.Minute))
	waitUntil(t, 15*time.Second, "the silent endpoint forgotten", func() bool {
		_, ok := observer.Liveness().Get(gone.ID().String())
		return !ok
	})
}
