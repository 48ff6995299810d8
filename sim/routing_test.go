package sim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// routedMesh is four endpoints, all public and owned by the user (claimed),
// with different capabilities:
//
//	ep0 gpu:   one NVIDIA H200
//	ep1 data:  holds dataset cryo-2026
//	ep2 cpu-a: label pool=cpu, cost 1
//	ep3 cpu-b: label pool=cpu, cost 5
type routedMesh struct {
	t      *testing.T
	ctx    context.Context
	mesh   *Mesh
	user   *identity.Key
	client *client.Client
	byName map[string]*node.Node
	names  map[peer.ID]string
}

func newRoutedMesh(t *testing.T) *routedMesh {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	t.Cleanup(cancel)
	names := []string{"gpu", "data", "cpu-a", "cpu-b"}
	// The user owns every endpoint, with a claim: routing trusts them.
	user, _ := identity.GenerateKey()
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 4, Owner: user, Configure: func(i int, cfg *node.Config) {
		cfg.Name = names[i]
		cfg.Public = true
		cfg.Workers = 1
		cfg.Hardware = routing.Hardware{CPUs: 2, MemoryBytes: 8 << 30, Arch: "amd64", OS: "linux"}
		switch names[i] {
		case "gpu":
			cfg.Hardware.GPUs = []routing.GPU{{Model: "NVIDIA H200", MemoryBytes: 143771 << 20}}
		case "data":
			cfg.Datasets = []string{"cryo-2026"}
		case "cpu-a":
			cfg.Labels = map[string]string{"pool": "cpu", "cost": "1"}
		case "cpu-b":
			cfg.Labels = map[string]string{"pool": "cpu", "cost": "5"}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c, err := m.Client(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rm := &routedMesh{t: t, ctx: ctx, mesh: m, user: user, client: c, byName: map[string]*node.Node{}, names: map[peer.ID]string{}}
	for i, n := range m.Endpoints {
		rm.byName[names[i]] = n
		rm.names[n.ID()] = names[i]
	}
	return rm
}

func (rm *routedMesh) function(name string, require ...string) *client.ResolvedFunction {
	rm.t.Helper()
	u := &client.UserCatalog{Key: rm.user, Mesh: rm.client}
	fn := catalog.Function{Name: name, Kind: catalog.KindPython, Source: testSource, Entry: name, Requirements: require}
	if _, err := u.Register(rm.ctx, fn, catalog.Access{Public: true}); err != nil {
		rm.t.Fatal(err)
	}
	f, err := u.Resolve(rm.ctx, name)
	if err != nil {
		rm.t.Fatal(err)
	}
	return f
}

// run runs fn routed and returns where each input ran.
func (rm *routedMesh) run(w client.RunRequest) (map[int]string, error) {
	var mu sync.Mutex
	where := map[int]string{}
	w.OnResult = func(ep peer.ID, r invoke.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := where[r.Index]; dup {
			rm.t.Errorf("input %d delivered twice", r.Index)
		}
		if r.Error != nil {
			where[r.Index] = "error:" + r.Error.Kind
			return
		}
		where[r.Index] = rm.names[ep]
	}
	err := rm.client.RunRouted(rm.ctx, w)
	return where, err
}

// runLosingEndpoint runs fn routed among cpu-a and cpu-b with two inputs,
// the first quick, the second long, both sent to one endpoint in one
// invocation; it closes that endpoint as soon as the first result comes
// back, when the client holds its acknowledgement and the second input
// runs there. It returns where each input ran and the endpoint closed.
func (rm *routedMesh) runLosingEndpoint(fn *client.ResolvedFunction, quick, long string, retries int) (where map[int]string, lost string, err error) {
	var mu sync.Mutex
	where = map[int]string{}
	w := client.RunRequest{RouteRequest: client.RouteRequest{Function: fn, Require: []string{"pool=cpu"}},
		Inputs: []invoke.Input{{Args: []byte(quick)}, {Args: []byte(long)}}, Retries: retries}
	w.OnResult = func(ep peer.ID, r invoke.Result) {
		mu.Lock()
		defer mu.Unlock()
		where[r.Index] = rm.names[ep]
		if r.Error != nil {
			where[r.Index] = "error:" + r.Error.Kind
		}
		if r.Index == 0 && lost == "" {
			lost = rm.names[ep]
			go rm.byName[lost].Close() // not here: OnResult holds up the run
		}
	}
	err = rm.client.RunRouted(rm.ctx, w)
	mu.Lock()
	defer mu.Unlock()
	return where, lost, err
}

func inputs(n int, args string) []invoke.Input {
	in := make([]invoke.Input, n)
	for i := range in {
		in[i] = invoke.Input{Args: []byte(args)}
	}
	return in
}

func TestRoutingRules(t *testing.T) {
	rm := newRoutedMesh(t)
	compute := rm.function("compute")
	gpuFn := rm.function("nap", "gpus>=1")

	t.Run("gpus>=1 only ever lands on the GPU endpoint", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			where, err := rm.run(client.RunRequest{RouteRequest: client.RouteRequest{Function: gpuFn}, Inputs: inputs(1, `[0]`)})
			if err != nil {
				t.Fatal(err)
			}
			if where[0] != "gpu" {
				t.Fatalf("ran on %q", where[0])
			}
		}
	})
	t.Run("dataset=X lands where X is", func(t *testing.T) {
		where, err := rm.run(client.RunRequest{RouteRequest: client.RouteRequest{Function: compute, Require: []string{"dataset=cryo-2026"}}, Inputs: inputs(1, `[1, 2]`)})
		if err != nil || where[0] != "data" {
			t.Fatalf("ran on %q: %v", where[0], err)
		}
	})
	t.Run("unmet requirement fails at once and names it", func(t *testing.T) {
		// A client that waited for an endpoint to appear would meet
		// rm.ctx's deadline instead, and fail as a timeout.
		_, err := rm.run(client.RunRequest{RouteRequest: client.RouteRequest{Function: compute, Require: []string{"gpus>=4"}}, Inputs: inputs(1, `[1, 2]`)})
		if fault.KindOf(err) != fault.NotFound || !strings.Contains(err.Error(), "gpus>=4") {
			t.Fatalf("err = %v (kind %s), want not-found naming gpus>=4", err, fault.KindOf(err))
		}
	})
	t.Run("idle beats busy", func(t *testing.T) {
		// Keep cpu-a busy, then route among cpu-a and cpu-b.
		nap := rm.function("nap")
		busy := make(chan error, 1)
		go func() {
			_, err := rm.run(client.RunRequest{Endpoint: rm.byName["cpu-a"].ID(), RouteRequest: client.RouteRequest{Function: nap}, Inputs: inputs(3, `[3]`)})
			busy <- err
		}()
		waitFor(t, 30*time.Second, "cpu-a busy", func() error {
			l, _, err := rm.client.Status(rm.ctx, rm.byName["cpu-a"].ID())
			if err != nil {
				return err
			}
			if l.Idle > 0 {
				return fmt.Errorf("load %+v", l)
			}
			return nil
		})
		where, err := rm.run(client.RunRequest{RouteRequest: client.RouteRequest{Function: compute, Require: []string{"pool=cpu"}}, Inputs: inputs(1, `[1, 2]`)})
		if err != nil || where[0] != "cpu-b" {
			t.Fatalf("cpu-a busy: ran on %q: %v", where[0], err)
		}
		if err := <-busy; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("explain shows each candidate", func(t *testing.T) {
		var sb strings.Builder
		_, err := rm.run(client.RunRequest{RouteRequest: client.RouteRequest{Function: compute, Require: []string{"pool=cpu"}}, Inputs: inputs(1, `[1, 2]`), Explain: &sb})
		if err != nil {
			t.Fatal(err)
		}
		out := sb.String()
		for _, want := range []string{"cpu-a", "cpu-b", "gpu", "data", "needs pool=cpu"} {
			if !strings.Contains(out, want) {
				t.Fatalf("explain lacks %s:\n%s", want, out)
			}
		}
		t.Logf("explain:\n%s", out)
	})
}

func TestFailoverBeforeAcknowledgement(t *testing.T) {
	rm := newRoutedMesh(t)
	compute := rm.function("compute")
	rr := client.RouteRequest{Function: compute, Require: []string{"pool=cpu"}}
	ranked, _, err := rm.client.Route(rm.ctx, rr)
	if err != nil {
		t.Fatal(err)
	}
	first, second := ranked[0].Record.Name, ranked[1].Record.Name
	// The first choice dies on every invocation before it acknowledges.
	for _, p := range []protocol.ID{wire.InvokeProtocol, wire.SessionProtocol} {
		rm.byName[first].Host().SetStreamHandler(p, func(s network.Stream) {
			var req invoke.Request
			_ = wire.ReadMsg(bufio.NewReader(s), wire.MaxFrame, &req)
			s.Reset()
		})
	}
	where, err := rm.run(client.RunRequest{RouteRequest: rr, Inputs: inputs(1, `[1, 2]`)})
	if err != nil || where[0] != second {
		t.Fatalf("first choice %s failed; ran on %q, want %s: %v", first, where[0], second, err)
	}
}

func TestFailureAfterAcknowledgement(t *testing.T) {
	if testing.Short() {
		t.Skip("three meshes, one waiting out the heartbeat timeout")
	}
	t.Run("without retries the task fails (system)", func(t *testing.T) {
		rm := newRoutedMesh(t)
		nap := rm.function("nap")
		// The second input would run 30 s: a client that missed the loss
		// would report it done, or meet rm.ctx's deadline.
		where, lost, err := rm.runLosingEndpoint(nap, `[0]`, `[30]`, 0)
		if fault.KindOf(err) != fault.System {
			t.Fatalf("err = %v (kind %s) after losing %s, results %v", err, fault.KindOf(err), lost, where)
		}
		if _, ok := where[1]; ok || where[0] != lost {
			t.Fatalf("results %v after losing %s: want only input 0's, from it", where, lost)
		}
	})
	t.Run("with --retries 1 it completes elsewhere, one result", func(t *testing.T) {
		rm := newRoutedMesh(t)
		nap := rm.function("nap")
		where, lost, err := rm.runLosingEndpoint(nap, `[0]`, `[2]`, 1)
		if err != nil || len(where) != 2 || where[0] != lost || where[1] == lost || !strings.HasPrefix(where[1], "cpu-") {
			t.Fatalf("results %v after losing %s: %v", where, lost, err)
		}
	})
	t.Run("an endpoint that goes silent fails the task within the heartbeat timeout", func(t *testing.T) {
		rm := newRoutedMesh(t)
		nap := rm.function("nap")
		ep := rm.byName["cpu-a"]
		// Acknowledge, then say nothing, and answer no status request.
		ep.Host().RemoveStreamHandler(wire.StatusProtocol)
		silent := func(s network.Stream) {
			r := bufio.NewReader(s)
			var req invoke.Request
			if wire.ReadMsg(r, wire.MaxFrame, &req) != nil {
				s.Reset()
				return
			}
			inv, _ := invoke.Decode(req.Invocation, 0)
			_ = wire.WriteMsg(s, invoke.Reply{Type: invoke.ReplyAck, Call: req.Call, TaskID: inv.TaskID, Count: 1})
			<-rm.ctx.Done()
			s.Reset()
		}
		ep.Host().SetStreamHandler(wire.InvokeProtocol, silent)
		ep.Host().SetStreamHandler(wire.SessionProtocol, silent)
		// Only the heartbeat watch says "stopped answering"; one that never
		// fired would leave the call to this deadline, three times the
		// heartbeat timeout, and fail it as a timeout.
		ctx, cancel := context.WithTimeout(rm.ctx, 3*routing.DefaultHeartbeatInterval*(routing.DefaultMissedBeats+1))
		defer cancel()
		start := time.Now()
		_, err := rm.client.Invoke(ctx, client.InvokeRequest{Endpoint: ep.ID(), Function: nap, Inputs: inputs(1, `[1]`), Wait: true})
		if fault.KindOf(err) != fault.System || !strings.Contains(err.Error(), "stopped answering") {
			t.Fatalf("err = %v (kind %s)", err, fault.KindOf(err))
		}
		t.Logf("silence noticed after %s", time.Since(start).Round(time.Millisecond))
	})
}

func TestBatchSpreadsAndSurvivesALostEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("two batches of 2000 inputs over three endpoints")
	}
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill=%v", kill), func(t *testing.T) {
			// Inputs a lost endpoint had acknowledged move only with
			// retries; TestBatchLostEndpointAtMostOnce covers none.
			rm := newRoutedMesh(t)
			tally := rm.function("tally")
			const n, retries = 2000, 1
			// Each input counts its runs in a file of its own: the
			// endpoints' executions, not the client's deliveries, which
			// the client makes unique whatever ran.
			dir := exectest.SharedDir(t) // the function writes into it, as its worker uid
			in := make([]invoke.Input, n)
			for i := range in {
				in[i] = invoke.Input{Args: []byte(fmt.Sprintf(`[%q, 0.002]`, filepath.Join(dir, strconv.Itoa(i))))}
			}
			var (
				mu    sync.Mutex
				count = map[string]int{}
				seen  = make([]int, n)
				got   int
				once  sync.Once
			)
			w := client.RunRequest{RouteRequest: client.RouteRequest{Function: tally, Require: []string{"gpus<1"}}, // data, cpu-a and cpu-b
				Inputs: in, Spread: true, MaxChunkBytes: 4 << 10, Retries: retries}
			w.OnResult = func(ep peer.ID, r invoke.Result) {
				mu.Lock()
				defer mu.Unlock()
				if r.Error != nil {
					t.Errorf("input %d: %+v", r.Index, r.Error)
					return
				}
				seen[r.Index]++
				count[rm.names[ep]]++
				got++
				if kill && got == n/2 {
					once.Do(func() { go rm.byName["cpu-b"].Close() })
				}
			}
			if err := rm.client.RunRouted(rm.ctx, w); err != nil {
				t.Fatal(err)
			}
			// Runs: once each; with the kill, an input the lost endpoint
			// had taken may have run there and once more elsewhere.
			most, twice := 1, 0
			if kill {
				most = 1 + retries
			}
			for i := range n {
				if seen[i] != 1 {
					t.Fatalf("input %d has %d results", i, seen[i])
				}
				b, _ := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
				if runs := len(b); runs < 1 || runs > most {
					t.Fatalf("input %d ran %d times, want 1 to %d", i, runs, most)
				} else if runs > 1 {
					twice++
				}
			}
			t.Logf("%d inputs ran twice", twice)
			for _, name := range []string{"data", "cpu-a", "cpu-b"} {
				if count[name] == 0 {
					t.Fatalf("%s ran nothing: %v", name, count)
				}
			}
			if count["gpu"] != 0 {
				t.Fatalf("the GPU endpoint ran work that needs none: %v", count)
			}
			t.Logf("spread: %v", count)
		})
	}
}

// TestBatchLostEndpointAtMostOnce: without retries, the inputs an endpoint
// acknowledged before it was lost are reported failed (system), never sent
// again: counted by the function's own side effect, no input runs twice,
// and every input still has exactly one result.
func TestBatchLostEndpointAtMostOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("a batch of 1500 inputs over three endpoints")
	}
	rm := newRoutedMesh(t)
	tally := rm.function("tally")
	const n = 1500
	dir := exectest.SharedDir(t) // the function writes into it, as its worker uid
	in := make([]invoke.Input, n)
	for i := range in {
		// 3 ms each: a request of cpu-b's is still running when cpu-b,
		// having sent a few results, is closed.
		in[i] = invoke.Input{Args: []byte(fmt.Sprintf(`[%q, 0.003]`, filepath.Join(dir, strconv.Itoa(i))))}
	}
	var (
		mu     sync.Mutex
		seen   = make([]int, n)
		lost   int
		fromB  int
		killed sync.Once
	)
	victim := rm.byName["cpu-b"]
	w := client.RunRequest{RouteRequest: client.RouteRequest{Function: tally, Require: []string{"gpus<1"}}, // data, cpu-a and cpu-b
		Inputs: in, Spread: true, MaxChunkBytes: 8 << 10}
	w.OnResult = func(ep peer.ID, r invoke.Result) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Index]++
		if r.Error != nil {
			if r.Error.Kind != string(fault.System) || !strings.Contains(r.Error.Message, "may have run") {
				t.Errorf("input %d: %+v", r.Index, r.Error)
			}
			lost++
		}
		if ep == victim.ID() {
			if fromB++; fromB == 10 {
				killed.Do(func() { go victim.Close() })
			}
		}
	}
	if err := rm.client.RunRouted(rm.ctx, w); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("input %d has %d results", i, seen[i])
		}
		b, _ := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
		if len(b) > 1 {
			t.Fatalf("input %d ran %d times", i, len(b))
		}
	}
	if lost == 0 {
		t.Fatal("the lost endpoint left no input failed: the kill came too late to test anything")
	}
	t.Logf("%d inputs failed with the lost endpoint", lost)
}
