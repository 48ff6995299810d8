package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node"
	"github.com/fxmesh/fxmesh/wire"
)

const testSource = `
import json, math, os, time

def helper(x):
    return x * 2

def compute(a, b, scale=1, label="r"):
    return {label: helper(a) + b * scale, "pi": round(math.pi, 2)}

def fail(msg):
    raise ValueError(msg)

def nap(seconds):
    time.sleep(seconds)
    return "rested"

def die():
    os.kill(os.getpid(), 9)

def blob(n):
    return "x" * n

def count(path):
    with open(path, "a") as f:
        f.write("x")
    return "counted"

def tally(path, seconds):
    with open(path, "a") as f:
        f.write("x")
    time.sleep(seconds)
    return "counted"
`

// fixture is one endpoint owned by owner, with a client for owner.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	mesh   *Mesh
	ep     *node.Node
	owner  *identity.Key
	client *client.Client
}

func newFixture(t *testing.T, configure func(*node.Config)) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	owner, _ := identity.GenerateKey()
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 1, Owner: owner, Configure: func(_ int, cfg *node.Config) {
		cfg.Workers = 2
		if configure != nil {
			configure(cfg)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c, err := m.Client(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fixture{t: t, ctx: ctx, mesh: m, ep: m.Endpoints[0], owner: owner, client: c}
}

// register publishes a python function of f.owner's with entry and access
// and returns it resolved.
func (f *fixture) register(entry string, access catalog.Access) *client.ResolvedFunction {
	f.t.Helper()
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	fn := catalog.Function{Name: entry, Kind: catalog.KindPython, Source: testSource, Entry: entry}
	if _, err := u.Register(f.ctx, fn, access); err != nil {
		f.t.Fatal(err)
	}
	res, err := u.Resolve(f.ctx, entry)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// run invokes fn with args and kwargs on the endpoint and waits.
func (f *fixture) run(c *client.Client, fn *client.ResolvedFunction, args, kwargs string, timeout time.Duration) (*invoke.Result, error) {
	var res *invoke.Result
	in := invoke.Input{}
	if args != "" {
		in.Args = []byte(args)
	}
	if kwargs != "" {
		in.Kwargs = []byte(kwargs)
	}
	_, err := c.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: fn, Inputs: []invoke.Input{in}, Timeout: timeout, Wait: true,
		OnResult: func(r invoke.Result) { res = &r }})
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("no result")
	}
	return res, nil
}

func TestPythonFunctionThroughTheMesh(t *testing.T) {
	f := newFixture(t, nil)
	fn := f.register("compute", catalog.Access{Public: true})
	res, err := f.run(f.client, fn, `[20, 1]`, `{"scale": 2, "label": "sum"}`, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil {
		t.Fatalf("function failed: %+v", res.Error)
	}
	var got map[string]float64
	if err := json.Unmarshal(res.Value, &got); err != nil {
		t.Fatal(err)
	}
	if got["sum"] != 42 || got["pi"] != 3.14 {
		t.Fatalf("result %s", res.Value)
	}
}

func TestExceptionComesBack(t *testing.T) {
	f := newFixture(t, nil)
	fn := f.register("fail", catalog.Access{})
	res, err := f.run(f.client, fn, `["no good"]`, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	e := res.Error
	if e == nil || e.Kind != string(fault.User) || e.Type != "ValueError" || e.Message != "no good" ||
		!strings.Contains(e.Traceback, "raise ValueError(msg)") {
		t.Fatalf("error = %+v", e)
	}
}

func TestTimeoutThenNextSucceeds(t *testing.T) {
	f := newFixture(t, nil)
	fn := f.register("nap", catalog.Access{})
	// The nap would end by itself after 10 s: a timeout error that names
	// 2s is the invocation's own timeout, not the endpoint's default.
	res, err := f.run(f.client, fn, `[10]`, "", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || res.Error.Kind != string(fault.Timeout) || !strings.Contains(res.Error.Message, "after 2s") {
		t.Fatalf("sleep 10 with timeout 2s: %+v", res.Error)
	}
	res, err = f.run(f.client, fn, `[0]`, "", 0)
	if err != nil || res.Error != nil || string(res.Value) != `"rested"` {
		t.Fatalf("next task: %v %+v", err, res)
	}
}

func TestWorkerDeathFailsAlone(t *testing.T) {
	f := newFixture(t, nil)
	die := f.register("die", catalog.Access{})
	compute := f.register("compute", catalog.Access{})
	var wg sync.WaitGroup
	errs := make(chan error, 21)
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err := f.run(f.client, die, "", "", 0)
		if err != nil {
			errs <- err
			return
		}
		if res.Error == nil || res.Error.Kind != string(fault.System) {
			errs <- fmt.Errorf("dying worker: %+v", res.Error)
		}
	}()
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := f.run(f.client, compute, fmt.Sprintf("[%d, 0]", i), "", 0)
			if err != nil {
				errs <- err
				return
			}
			var got struct{ R int }
			if res.Error != nil || json.Unmarshal(res.Value, &got) != nil || got.R != 2*i {
				errs <- fmt.Errorf("task %d: %s %+v", i, res.Value, res.Error)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestShellValuesAreNeverInterpreted(t *testing.T) {
	f := newFixture(t, nil)
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	if _, err := u.Register(f.ctx, catalog.Function{Name: "echo", Kind: catalog.KindShell, Command: "echo {msg}"}, catalog.Access{}); err != nil {
		t.Fatal(err)
	}
	fn, err := u.Resolve(f.ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(exectest.SharedDir(t), "pwned") // a place the command could write, were it injected
	msg := "; touch " + pwned
	res, err := f.run(f.client, fn, "", fmt.Sprintf(`{"msg": %q}`, msg), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil || res.Stdout != msg+"\n" {
		t.Fatalf("stdout %q, error %+v", res.Stdout, res.Error)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("the injected command ran")
	}
}

// TestAdmissionRefusesAndRunsNothing sends bad invocations straight to the
// endpoint; each must be refused with its own kind, and the counting
// function must never have run.
func TestAdmissionRefusesAndRunsNothing(t *testing.T) {
	f := newFixture(t, func(cfg *node.Config) { cfg.MaxInputBytes = 64 << 10 })
	counter := filepath.Join(exectest.SharedDir(t), "count") // the function writes it as its worker uid
	fn := f.register("count", catalog.Access{})
	executions := func() int {
		b, _ := os.ReadFile(counter)
		return len(b)
	}
	stranger, _ := identity.GenerateKey()
	sc, err := f.mesh.Client(f.ctx, stranger)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	args := fmt.Sprintf(`[%q]`, counter)
	sign := func(k *identity.Key, mutate func(*invoke.Invocation)) []byte {
		inv, err := invoke.New(fn.ID.String(), f.ep.ID().String(), []invoke.Input{{Args: []byte(args)}}, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		inv.Proof = fn.Proof
		if mutate != nil {
			mutate(inv)
		}
		env, err := invoke.Sign(k, inv)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	send := func(c *client.Client, env []byte) error {
		_, err := c.Send(f.ctx, f.ep.ID(), env, true, nil)
		return err
	}

	// One good run first, so the counter and the replay have something to
	// stand on.
	good := sign(f.owner, nil)
	if err := send(f.client, good); err != nil {
		t.Fatal(err)
	}
	if n := executions(); n != 1 {
		t.Fatalf("good invocation ran %d times", n)
	}

	tampered := sign(f.owner, nil)
	tampered = bytes.Replace(tampered, []byte(counter), []byte(counter[:len(counter)-1]+"X"), 1)

	// The endpoint is public but the function is private to its owner.
	sharedEndpoint := newFixture(t, func(cfg *node.Config) { cfg.Public = true })
	_ = sharedEndpoint

	tests := []struct {
		name   string
		client *client.Client
		env    []byte
		kind   fault.Kind
	}{
		{"tampered", f.client, tampered, fault.Invalid},
		{"signed by a key the endpoint does not allow", sc, sign(stranger, nil), fault.Denied},
		{"replayed", f.client, good, fault.Replayed},
		{"expired", f.client, sign(f.owner, func(i *invoke.Invocation) {
			i.IssuedAt = time.Now().Add(-20 * time.Minute).UnixNano()
			i.Expires = time.Now().Add(-10 * time.Minute).UnixNano()
		}), fault.Expired},
		{"over the size limit", f.client, sign(f.owner, func(i *invoke.Invocation) {
			i.Inputs[0].Kwargs = []byte(fmt.Sprintf(`{"pad": %q}`, strings.Repeat("p", 100<<10)))
		}), fault.TooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := send(tc.client, tc.env)
			if fault.KindOf(err) != tc.kind {
				t.Fatalf("err = %v (kind %s), want kind %s", err, fault.KindOf(err), tc.kind)
			}
			if n := executions(); n != 1 {
				t.Fatalf("%d executions after a refused invocation", n)
			}
		})
	}

	t.Run("function the caller may not use", func(t *testing.T) {
		pub := sharedEndpoint
		pfn := pub.register("count", catalog.Access{}) // private to pub.owner
		sc2, err := pub.mesh.Client(pub.ctx, stranger)
		if err != nil {
			t.Fatal(err)
		}
		defer sc2.Close()
		inv, _ := invoke.New(pfn.ID.String(), pub.ep.ID().String(), []invoke.Input{{Args: []byte(args)}}, time.Now(), time.Minute)
		inv.Proof = pfn.Proof
		env, _ := invoke.Sign(stranger, inv)
		_, err = sc2.Send(pub.ctx, pub.ep.ID(), env, true, nil)
		if fault.KindOf(err) != fault.Denied {
			t.Fatalf("err = %v, want denied", err)
		}
		if n := executions(); n != 1 {
			t.Fatalf("%d executions", n)
		}
	})

	t.Run("replayed after an endpoint restart", func(t *testing.T) {
		dir := filepath.Join(f.mesh.Dir, "ep0")
		if err := f.ep.Close(); err != nil {
			t.Fatal(err)
		}
		key, _ := identity.LoadKey(filepath.Join(dir, node.KeyFile))
		again, err := node.Start(f.ctx, node.Options{Dir: dir, Key: key, Config: &node.Config{
			Owner: f.owner.ID().String(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Workers: 1,
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		c, err := client.New(f.ctx, client.Options{Key: f.owner, Bootstrap: again.Addrs()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Send(f.ctx, again.ID(), good, true, nil)
		if fault.KindOf(err) != fault.Replayed {
			t.Fatalf("err = %v, want replayed", err)
		}
		if n := executions(); n != 1 {
			t.Fatalf("%d executions", n)
		}
	})
}

func mustKey(tb testing.TB) *identity.Key {
	k, err := identity.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestStaleProofIsRefused: a user who kept the signed record of a function
// shared with them cannot use it once the owner has unshared it.
func TestStaleProofIsRefused(t *testing.T) {
	f := newFixture(t, func(cfg *node.Config) { cfg.Public = true })
	friend := mustKey(t)
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	fn := catalog.Function{Name: "compute", Kind: catalog.KindPython, Source: testSource, Entry: "compute"}
	if _, err := u.Register(f.ctx, fn, catalog.Access{Users: []string{friend.ID().String()}}); err != nil {
		t.Fatal(err)
	}
	shared, err := u.Resolve(f.ctx, "compute")
	if err != nil {
		t.Fatal(err)
	}
	fc, err := f.mesh.Client(f.ctx, friend)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if _, err := f.run(fc, shared, `[1, 2]`, "", 0); err != nil {
		t.Fatalf("shared function refused to the friend: %v", err)
	}
	ch, err := u.SetAccess(f.ctx, "compute", func(catalog.Access) catalog.Access { return catalog.Access{} })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "endpoint sees the unshare", func() error {
		head, err := f.ep.Catalog().Head(ch.Owner, ch.Name)
		if err != nil {
			return err
		}
		if !head.Update.Access.Private() {
			return errors.New("still shared")
		}
		return nil
	})
	// The friend still holds the old proof and sends it along.
	_, err = fc.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: shared, Inputs: inputs(1, `[1, 2]`), Wait: true, WithProof: true})
	if fault.KindOf(err) != fault.Denied {
		t.Fatalf("stale proof: err = %v, want denied", err)
	}
}

// TestSlowReaderHoldsNoWorker: a caller that never reads its results keeps
// its stream, not the endpoint's workers.
func TestSlowReaderHoldsNoWorker(t *testing.T) {
	f := newFixture(t, nil)
	fn := f.register("compute", catalog.Access{})
	blob := f.register("blob", catalog.Access{})
	// A batch of 64 MiB of results, never read: far beyond any window.
	inv, err := invoke.New(blob.ID.String(), f.ep.ID().String(), inputs(64, `[1048576]`), time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	inv.Proof = blob.Proof
	env, err := invoke.Sign(f.owner, inv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.client.Host().NewStream(f.ctx, f.ep.ID(), wire.InvokeProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	if err := wire.WriteMsg(s, invoke.Request{Invocation: env, Wait: true}); err != nil {
		t.Fatal(err)
	}
	// Never read s (but for the acknowledgement). Another task must still
	// run at once, after the batch has run.
	var ack invoke.Reply
	if err := wire.ReadMsg(bufio.NewReader(s), wire.MaxFrame, &ack); err != nil || ack.Type != invoke.ReplyAck {
		t.Fatalf("ack: %+v %v", ack, err)
	}
	waitFor(t, 90*time.Second, "the batch done", func() error {
		st, err := f.client.Task(f.ctx, f.ep.ID(), ack.TaskID, false, false, nil)
		if err != nil {
			return err
		}
		if st.State != "done" {
			return fmt.Errorf("state %s", st.State)
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := f.run(f.client, fn, `[20, 1]`, "", 0)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a caller that does not read held up the endpoint")
	}
	closed := make(chan error, 1)
	go func() { closed <- f.ep.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a caller that does not read")
	}
}

// TestRoutedTooLargeIsNotRetried: an invocation over the endpoints' size
// limit is refused as too large by the first, and a routed send does not
// offer it to every other endpoint.
func TestRoutedTooLargeIsNotRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	user := mustKey(t)
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 2, Owner: user, Configure: func(_ int, cfg *node.Config) {
		cfg.Workers = 1
		cfg.MaxInputBytes = 64 << 10
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := m.Client(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u := &client.UserCatalog{Key: user, Mesh: c}
	if _, err := u.Register(ctx, catalog.Function{Name: "blob", Kind: catalog.KindPython, Source: testSource, Entry: "blob"}, catalog.Access{}); err != nil {
		t.Fatal(err)
	}
	fn, err := u.Resolve(ctx, "blob")
	if err != nil {
		t.Fatal(err)
	}
	big := fmt.Sprintf(`[1, %q]`, strings.Repeat("x", 2<<20))
	for _, spread := range []bool{false, true} {
		err := c.RunRouted(ctx, client.RunRequest{RouteRequest: client.RouteRequest{Function: fn}, Inputs: []invoke.Input{{Args: []byte(big)}}, Spread: spread})
		if fault.KindOf(err) != fault.TooLarge {
			t.Fatalf("spread %v: err = %v (kind %s), want too-large", spread, err, fault.KindOf(err))
		}
		if tried := strings.Count(err.Error(), "12D3KooW"); tried > 1 {
			t.Fatalf("spread %v: the refusal names %d endpoints: %v", spread, tried, err)
		}
	}
}
