package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/p2p"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// This test binary is also the blocks' worker agent (`fxnode worker`) and,
// for TestRestartCancelsOrphans, an endpoint to kill: TestMain runs it so
// when the environment says.
const (
	workerEnv   = "FXNODE_TEST_WORKER"
	endpointEnv = "FXNODE_TEST_ENDPOINT"
)

func TestMain(m *testing.M) {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	// env, not a bare assignment: srun runs the command itself, no shell.
	WorkerCommand = "env " + workerEnv + "=1 " + shellQuote(self)
	switch {
	case os.Getenv(workerEnv) != "":
		// Args: worker --block-dir DIR
		if len(os.Args) != 4 || os.Args[1] != "worker" {
			fmt.Fprintln(os.Stderr, "test worker: args", os.Args)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := RunWorker(ctx, os.Args[3], nil); err != nil {
			fmt.Fprintln(os.Stderr, "test worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case os.Getenv(endpointEnv) != "":
		runTestEndpoint(os.Getenv(endpointEnv))
		return
	}
	os.Exit(m.Run())
}

// runTestEndpoint starts an endpoint in dir and waits to be killed.
func runTestEndpoint(dir string) {
	k, err := identity.LoadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		panic(err)
	}
	n, err := Start(context.Background(), Options{Dir: dir, Key: k, ScalePeriod: 100 * time.Millisecond, BlockHeartbeat: 200 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("started", n.ID())
	select {}
}

const pilotSource = `
import os, time

def env(name):
    return os.environ.get(name)

def nap(s):
    time.sleep(s)
    return s

def once(p):
    if os.path.exists(p):
        return "second"
    open(p, "w").close()
    time.sleep(60)
`

// pilotFixture is an endpoint whose functions run in local blocks.
func pilotFixture(t *testing.T, edit func(*Config)) *boundsFixture {
	t.Helper()
	return pilotFixtureOpts(t, edit, Options{})
}

// pilotFixtureOpts is pilotFixture with the endpoint's Options (scaling
// period, heartbeat).
func pilotFixtureOpts(t *testing.T, edit func(*Config), opts Options) *boundsFixture {
	t.Helper()
	f := newBoundsFixtureOpts(t, func(c *Config) {
		c.Batch = BatchConfig{Provider: "local", MaxBlocks: 2, WorkersPerNode: 2, MaxIdleTime: time.Second}
		if edit != nil {
			edit(c)
		}
	}, opts)
	for _, name := range []string{"env", "nap", "once"} {
		env, err := catalog.NewPublish(f.owner, nil, catalog.Function{Name: name, Kind: catalog.KindPython, Source: pilotSource, Entry: name},
			catalog.Access{Public: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.client.PublishUpdate(f.ctx, env); err != nil {
			t.Fatal(err)
		}
		if f.fns[name], err = f.client.ResolveFunction(f.ctx, f.owner.ID().String()+"/"+name); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// call runs fn with args on the fixture's endpoint and returns its result.
func (f *boundsFixture) call(t *testing.T, fn, args string, retries int) invoke.Result {
	t.Helper()
	var got []invoke.Result
	var mu sync.Mutex
	_, err := f.client.Invoke(f.ctx, client.InvokeRequest{
		Endpoint: f.ep.ID(), Function: f.fns[fn], Inputs: []invoke.Input{{Args: []byte(args)}}, Wait: true, Retries: retries,
		OnResult: func(r invoke.Result) { mu.Lock(); got = append(got, r); mu.Unlock() },
	})
	if err != nil {
		t.Fatalf("invoke %s: %v", fn, err)
	}
	if len(got) != 1 {
		t.Fatalf("invoke %s: %d results", fn, len(got))
	}
	return got[0]
}

// record is the endpoint's record as fx endpoint show gets it.
func (f *boundsFixture) record(t *testing.T) *routing.EndpointRecord {
	t.Helper()
	e, err := f.client.Endpoint(f.ctx, f.ep.ID())
	if err != nil {
		t.Fatal(err)
	}
	return e.Record
}

// TestPilotEndpoint: with provider local and min_blocks 0 an endpoint
// starts a block for work, runs the function there after the block's
// worker_init (whose variable the function returns), shows the block in
// its record, and cancels the block after max_idletime.
func TestPilotEndpoint(t *testing.T) {
	f := pilotFixture(t, func(c *Config) {
		c.Batch.WorkerInit = "export FX_INIT_PROOF=set-by-worker-init"
		c.Batch.Partition = pilot.LocalPartition
	})
	if b := f.record(t).Batch; b == nil || b.Provider != "local" || b.Partition != "local" || b.Pending+b.Running != 0 {
		t.Fatalf("record's batch at start = %+v, want provider local, partition local, no block", b)
	}
	r := f.call(t, "env", `["FX_INIT_PROOF"]`, 0)
	if r.Error != nil || string(r.Value) != `"set-by-worker-init"` {
		t.Fatalf("env FX_INIT_PROOF in the block = %s (error %+v), want the value worker_init exported", r.Value, r.Error)
	}
	waitUntil(t, 10*time.Second, "the record shows a running block and its workers", func() bool {
		b := f.record(t).Batch
		return b != nil && b.Running == 1 && b.Workers == 2
	})
	if l := f.ep.ep.load(); l.Workers != 2 {
		t.Errorf("heartbeat load %+v, want the block's 2 workers", l)
	}
	if got := blockGauges(t, f.ep); got["running"] != 1 || got["failing"] != 0 {
		t.Errorf("fxmesh_blocks while a block serves = %v, want running 1, not failing", got)
	}
	waitUntil(t, 20*time.Second, "the idle block cancelled after max_idletime", func() bool {
		b := f.record(t).Batch
		return b != nil && b.Running+b.Pending == 0
	})
	if got := blockGauges(t, f.ep); got["running"]+got["pending"]+got["draining"] != 0 {
		t.Errorf("fxmesh_blocks after the idle block's end = %v, want none", got)
	}
}

// blockGauges reads n's fxmesh_blocks gauges by state, and
// fxmesh_blocks_failing as "failing", as /metrics would serve them.
func blockGauges(t *testing.T, n *Node) map[string]float64 {
	t.Helper()
	mfs, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "fxmesh_blocks":
				for _, l := range m.GetLabel() {
					if l.GetName() == "state" {
						got[l.GetValue()] = m.GetGauge().GetValue()
					}
				}
			case "fxmesh_blocks_failing":
				got["failing"] = m.GetGauge().GetValue()
			}
		}
	}
	return got
}

// TestPilotBadPartition: a partition the scheduler refuses puts the
// endpoint in an error state, with the scheduler's message, in the record
// that fx endpoint show reads, within a scaling period of the work that
// asked for a block.
func TestPilotBadPartition(t *testing.T) {
	badPartition(t, pilotFixture(t, func(c *Config) { c.Batch.Partition = "nosuch" }))
}

// badPartition asks f's endpoint, whose partition is "nosuch", for work,
// and checks that its record shows the scheduler's message within a
// scaling period, its heartbeat refuses work, and fxmesh_blocks_failing
// is 1.
func badPartition(t *testing.T, f *boundsFixture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	go f.client.Invoke(ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: f.fns["env"], Inputs: []invoke.Input{{Args: []byte(`["X"]`)}}, Wait: true})
	start := time.Now()
	waitUntil(t, 10*time.Second, "the scheduler's message in the record", func() bool {
		b := f.record(t).Batch
		return b != nil && strings.Contains(b.Error, "invalid partition specified: nosuch")
	})
	t.Logf("after %v: %s", time.Since(start), f.record(t).Batch.Error)
	if f.ep.ep.load().Accepting {
		t.Error("the heartbeat of an endpoint whose blocks all fail says it accepts work")
	}
	if got := blockGauges(t, f.ep); got["failing"] != 1 {
		t.Errorf("fxmesh_blocks_failing of an endpoint whose blocks all fail = %v, want 1", got["failing"])
	}
}

// blockKey is the key in a block's credential.
func blockKey(t *testing.T, dir string) *identity.Key {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, blockFile))
	if err != nil {
		t.Fatal(err)
	}
	var spec blockSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(spec.Key)
	priv, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.FromPrivKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// refused reports whether the endpoint refuses a block stream from k:
// the stream is reset, nothing is answered.
func refused(t *testing.T, f *boundsFixture, k *identity.Key) error {
	t.Helper()
	h, err := p2p.NewHost(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, f.ep.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, f.ep.ID(), wire.BlockProtocol)
	if err != nil {
		return err
	}
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = s.Write([]byte{0, 0, 0, 2, '{', '}'})
	_, err = s.Read(make([]byte, 1))
	return err
}

// TestBlockCredentials: the block stream admits a block's own key once:
// a stranger's key, and a second use of a block's key, are refused.
func TestBlockCredentials(t *testing.T) {
	f := pilotFixture(t, func(c *Config) { c.Batch.MinBlocks, c.Batch.MaxBlocks = 1, 1 })
	waitUntil(t, 20*time.Second, "the block running", func() bool {
		s := f.ep.ep.pilot.Summary()
		return s.Running == 1
	})
	dirs, _ := filepath.Glob(filepath.Join(f.ep.dir, BlocksDir, "fx*"))
	if len(dirs) != 1 {
		t.Fatalf("block directories %v", dirs)
	}
	if st, err := os.Stat(filepath.Join(dirs[0], blockFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v, mode %v; want 0600", err, st.Mode())
	}
	stranger := mustGenerate(t)
	if err := refused(t, f, stranger); !errors.Is(err, network.ErrReset) {
		t.Errorf("a stranger's block stream: read err %v, want the stream reset", err)
	}
	if err := refused(t, f, blockKey(t, dirs[0])); !errors.Is(err, network.ErrReset) {
		t.Errorf("a second use of a live block's credential: read err %v, want the stream reset", err)
	}
	// The block still serves.
	if r := f.call(t, "nap", "[0]", 0); r.Error != nil {
		t.Fatalf("after the refusals: %+v", r.Error)
	}
	// Stopping the endpoint ends its block.
	pids := localJobPIDs(f.ep.dir)
	if len(pids) != 1 {
		t.Fatalf("block processes before Close: %v", pids)
	}
	if err := f.ep.Close(); err != nil {
		t.Fatal(err)
	}
	if ps := groupAlive(pids[0]); len(ps) > 0 {
		t.Errorf("the block's process group %d lives on after the endpoint closed: %v", pids[0], ps)
	}
}

// TestPilotBlockLost: killing a block's process group while its task runs
// fails the task (system, naming the block's job) within the heartbeat
// timeout; with retries, the task completes on a new block instead.
func TestPilotBlockLost(t *testing.T) {
	f := pilotFixture(t, func(c *Config) { c.Batch.MinBlocks, c.Batch.MaxBlocks, c.Batch.WorkersPerNode = 1, 1, 1 })
	waitUntil(t, 20*time.Second, "the block running", func() bool { return f.ep.ep.pilot.Summary().Running == 1 })
	killBlock := func() {
		deadline := time.Now().Add(20 * time.Second)
		for f.ep.ep.pilot.Stats().Running != 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		for _, pid := range localJobPIDs(f.ep.dir) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	go killBlock()
	r := f.call(t, "nap", "[60]", 0)
	if r.Error == nil || r.Error.Kind != "system" || !strings.Contains(r.Error.Message, "block lost: job ") {
		t.Fatalf("task on a killed block: %+v, want a system error naming the block's job", r.Error)
	}
	t.Log(r.Error.Message)

	// With a retry, the input runs again on a new block and completes.
	marker := filepath.Join(exectest.SharedDir(t), "ran") // worker uids may write there
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(marker); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, pid := range localJobPIDs(f.ep.dir) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	args, _ := json.Marshal([]string{marker})
	r = f.call(t, "once", string(args), 1)
	if r.Error != nil || string(r.Value) != `"second"` {
		t.Fatalf("task with a retry on a killed block: %s %+v, want it run again to completion", r.Value, r.Error)
	}
}

// TestPilotFortyTasks: 40 inputs of a 1 s function, in one invocation,
// over max_blocks 2 of workers_per_node 2, from no block: all complete,
// on no more than 2 blocks at once.
func TestPilotFortyTasks(t *testing.T) {
	f := pilotFixture(t, nil)
	inputs := make([]invoke.Input, 40)
	for i := range inputs {
		inputs[i] = invoke.Input{Args: []byte("[1]")}
	}
	stop := make(chan struct{})
	most := make(chan int, 1)
	go func() {
		m := 0
		for {
			select {
			case <-stop:
				most <- m
				return
			case <-time.After(20 * time.Millisecond):
			}
			s := f.ep.ep.pilot.Summary()
			m = max(m, s.Pending+s.Running+s.Draining)
		}
	}()
	ok, err := f.naps(t, inputs)
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if ok != 40 {
		t.Fatalf("%d of 40 inputs completed", ok)
	}
	if m := <-most; m != 2 {
		t.Errorf("at most %d blocks at once, want max_blocks 2 used", m)
	}
}

// naps invokes nap on inputs, in one invocation, and says how many
// returned their argument 1; it reports the others as errors of t.
func (f *boundsFixture) naps(t *testing.T, inputs []invoke.Input) (int, error) {
	var mu sync.Mutex
	ok := 0
	_, err := f.client.Invoke(f.ctx, client.InvokeRequest{
		Endpoint: f.ep.ID(), Function: f.fns["nap"], Inputs: inputs, Wait: true,
		OnResult: func(r invoke.Result) {
			mu.Lock()
			defer mu.Unlock()
			if r.Error == nil && string(r.Value) == "1" {
				ok++
			} else {
				t.Errorf("input %d: %s %+v", r.Index, r.Value, r.Error)
			}
		},
	})
	return ok, err
}

// localJobPIDs lists the process groups of the local provider's running
// jobs.
func localJobPIDs(dir string) []int {
	files, _ := filepath.Glob(filepath.Join(dir, BlocksDir, "local", "jobs", "*.json"))
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var r struct {
			PID   int    `json:"pid"`
			State string `json:"state"`
		}
		if json.Unmarshal(b, &r) == nil && r.State == "" && syscall.Kill(r.PID, 0) == nil {
			out = append(out, r.PID)
		}
	}
	return out
}

// TestRestartCancelsOrphans: an endpoint killed with SIGKILL leaves its
// blocks behind (as a scheduler keeps the jobs); the endpoint started
// again on its directory finds them by its prefix and cancels them before
// it serves.
func TestRestartCancelsOrphans(t *testing.T) {
	dir := t.TempDir()
	k := mustGenerate(t)
	if err := k.Save(filepath.Join(dir, KeyFile), false); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Name: "ep", Workers: 1, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		// The block stays pending in its worker_init for a minute.
		Batch: BatchConfig{Provider: "local", MinBlocks: 1, MaxBlocks: 1, WorkerInit: "sleep 60"},
	}
	if err := SaveConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	ep := osexec.Command(self)
	ep.Env = append(os.Environ(), endpointEnv+"="+dir)
	ep.Stderr = tWriter{t}
	if err := ep.Start(); err != nil {
		t.Fatal(err)
	}
	var old []int
	waitUntil(t, 30*time.Second, "the first run's block started", func() bool {
		old = localJobPIDs(dir)
		return len(old) == 1
	})
	t.Cleanup(func() { _ = syscall.Kill(-old[0], syscall.SIGKILL) })
	if err := ep.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = ep.Wait()
	if syscall.Kill(old[0], 0) != nil {
		t.Fatal("the block died with its endpoint: the check below would prove nothing")
	}
	cfg.Batch.MinBlocks, cfg.Batch.WorkerInit = 0, ""
	n, err := Start(context.Background(), Options{Dir: dir, Key: k, Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitUntil(t, 5*time.Second, "the orphan block cancelled", func() bool {
		return len(groupAlive(old[0])) == 0
	})
}

// TestBatchConfig: the batch keys are top-level keys of config.yaml,
// checked at load; a config without them documents them in a comment.
func TestBatchConfig(t *testing.T) {
	dir := t.TempDir()
	if err := SaveConfig(dir, &Config{Name: "ep"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	for _, key := range []string{"provider: local | slurm | pbs", "max_blocks", "worker_init", "max_idletime", "drain_period", "scheduler_options", "cpus_per_block"} {
		if !strings.Contains(string(b), "# ") || !strings.Contains(string(b), key) {
			t.Errorf("config.yaml written without batch settings does not document %q:\n%s", key, b)
		}
	}
	good := "name: ep\nprovider: slurm\npartition: debug\naccount: proj1\nqos: normal\nwalltime: \"01:00:00\"\n" +
		"nodes_per_block: 1\nworkers_per_node: 4\ncpus_per_block: 4\nexclusive: false\ninit_blocks: 0\nmin_blocks: 0\nmax_blocks: 2\n" +
		"max_idletime: 30s\nworker_init: |\n  module load python\nscheduler_options: |\n  #SBATCH --constraint=x\nlauncher: srun\ndrain_period: 5m\n"
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(dir)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := BatchConfig{Provider: "slurm", Partition: "debug", Account: "proj1", QoS: "normal", Walltime: "01:00:00",
		NodesPerBlock: 1, WorkersPerNode: 4, CPUsPerBlock: 4, MaxBlocks: 2, MaxIdleTime: 30 * time.Second,
		WorkerInit: "module load python\n", SchedulerOptions: "#SBATCH --constraint=x\n", Launcher: "srun", DrainPeriod: 5 * time.Minute}
	if c.Batch != want {
		t.Fatalf("Batch = %+v\nwant    %+v", c.Batch, want)
	}
	if j := c.Batch.job(); j.Partition != "debug" || len(j.Options) != 1 || j.Options[0] != "#SBATCH --constraint=x" {
		t.Errorf("job template %+v", j)
	}
	for name, yaml := range map[string]string{
		"unknown provider":       "provider: condor\n",
		"keys without provider":  "max_blocks: 2\n",
		"partition and queue":    "provider: pbs\npartition: a\nqueue: b\n",
		"min over max":           "provider: local\nmin_blocks: 3\nmax_blocks: 2\n",
		"bad walltime":           "provider: slurm\nwalltime: 1h\n",
		"drain past walltime":    "provider: slurm\nwalltime: \"00:10:00\"\ndrain_period: 10m\n",
		"drain without walltime": "provider: slurm\ndrain_period: 1m\n",
		"bad launcher":           "provider: slurm\nlauncher: aprun\n",
		"srun on local":          "provider: local\nlauncher: srun\n",
		"shell in account":       "provider: slurm\naccount: \"a;rm -rf /\"\n",
		"negative workers":       "provider: local\nworkers_per_node: -1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(dir); err == nil {
			t.Errorf("%s: LoadConfig accepted %q", name, yaml)
		}
	}
}

// groupAlive lists the processes of process group pgid that are not
// zombies (which only wait for their parent to reap them), as "PID STATE".
func groupAlive(pgid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 3 && f[2] == fmt.Sprint(pgid) && f[0] != "Z" {
			out = append(out, e.Name()+" "+f[0])
		}
	}
	return out
}

// TestOpenBlockStreamWaitsForHandler: a block's agent that reaches its
// endpoint before the endpoint serves the block protocol (a block started
// at once, by min_blocks, while the endpoint starts) tries again until it
// is served, instead of failing the block.
func TestOpenBlockStreamWaitsForHandler(t *testing.T) {
	mk := func() host.Host {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		h, err := p2p.NewHost(k, []string{"/ip4/127.0.0.1/tcp/0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	ep, agent := mk(), mk()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := agent.Connect(ctx, peer.AddrInfo{ID: ep.ID(), Addrs: ep.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.NewStream(ctx, ep.ID(), wire.BlockProtocol); err == nil {
		t.Fatal("the block protocol answered before it was served")
	}
	served := make(chan struct{})
	// The endpoint serves it a little later, as a starting endpoint does.
	time.AfterFunc(200*time.Millisecond, func() {
		ep.SetStreamHandler(wire.BlockProtocol, func(s network.Stream) { s.Close() })
		close(served)
	})
	s, err := openBlockStream(ctx, agent, ep.ID())
	if err != nil {
		t.Fatalf("openBlockStream: %v, want the stream once the endpoint serves it", err)
	}
	s.Close()
	select {
	case <-served:
	default:
		t.Fatal("a stream opened before the protocol was served")
	}
}
