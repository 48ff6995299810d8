package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/container"
	"github.com/fxmesh/fxmesh/exec/pbs"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/exec/python"
	"github.com/fxmesh/fxmesh/exec/shell"
	"github.com/fxmesh/fxmesh/exec/slurm"
	"github.com/fxmesh/fxmesh/exec/tenant"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/p2p"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// BatchConfig is how an endpoint runs its Python and shell functions on a
// batch scheduler, in the words of funcX and Globus Compute endpoints: the
// keys are top-level keys of config.yaml. With Provider empty, functions
// run on the endpoint's own warm pool.
type BatchConfig struct {
	// Provider is "local" (blocks are process groups of this host),
	// "slurm" or "pbs"; "" runs functions on the local pool.
	Provider string `yaml:"provider,omitempty"`
	// Partition (Slurm) or Queue (PBS) receives the blocks; "" is the
	// scheduler's default. They are one setting: give one of them.
	Partition string `yaml:"partition,omitempty"`
	Queue     string `yaml:"queue,omitempty"`
	// Account is charged; QoS is the quality of service; "" the defaults.
	Account string `yaml:"account,omitempty"`
	QoS     string `yaml:"qos,omitempty"`
	// Walltime is each block's, as the scheduler's HH:MM:SS; "" its
	// default.
	Walltime string `yaml:"walltime,omitempty"`
	// NodesPerBlock (default 1) and WorkersPerNode (default 1) size a
	// block; CPUsPerBlock (default WorkersPerNode) is what a block asks
	// for on each node, unless Exclusive asks for whole nodes.
	NodesPerBlock  int  `yaml:"nodes_per_block,omitempty"`
	WorkersPerNode int  `yaml:"workers_per_node,omitempty"`
	CPUsPerBlock   int  `yaml:"cpus_per_block,omitempty"`
	Exclusive      bool `yaml:"exclusive,omitempty"`
	// InitBlocks start with the endpoint, MinBlocks stay, MaxBlocks
	// (default 1) bound them.
	InitBlocks int `yaml:"init_blocks,omitempty"`
	MinBlocks  int `yaml:"min_blocks,omitempty"`
	MaxBlocks  int `yaml:"max_blocks,omitempty"`
	// MaxIdleTime is how long a block runs nothing before it is
	// cancelled; 0 means 2m.
	MaxIdleTime time.Duration `yaml:"max_idletime,omitempty"`
	// WorkerInit is shell lines run in the job before the worker agent
	// (module load, activating an environment).
	WorkerInit string `yaml:"worker_init,omitempty"`
	// SchedulerOptions are extra directive lines of the job script
	// (#SBATCH --constraint=…), one a line.
	SchedulerOptions string `yaml:"scheduler_options,omitempty"`
	// Launcher starts the agent on each node of a block: srun, mpiexec,
	// or simple (the default: the first node only).
	Launcher string `yaml:"launcher,omitempty"`
	// DrainPeriod is the end of a block's walltime in which it takes no
	// new task; 0 means none.
	DrainPeriod time.Duration `yaml:"drain_period,omitempty"`
}

// batchComments document the keys of BatchConfig in a config.yaml that
// does not set them (fxnode init writes one).
const batchComments = `Batch scheduler (optional): run Python and shell functions in blocks (pilot jobs) instead of the local pool.
provider: local | slurm | pbs          partition: NAME (Slurm) or queue: NAME (PBS)
account: NAME   qos: NAME   walltime: HH:MM:SS   nodes_per_block: 1   workers_per_node: 1
cpus_per_block: N (default workers_per_node; exclusive: true asks for whole nodes)
init_blocks: 0   min_blocks: 0   max_blocks: 1   max_idletime: 2m   drain_period: 5m
worker_init: |  (shell lines run before the worker: module load python; source /opt/venv/bin/activate)
scheduler_options: |  (extra directive lines: #SBATCH --constraint=haswell)
launcher: simple | srun | mpiexec`

// providerNames are the providers this fxnode knows.
var providerNames = []string{"local", "slurm", "pbs"}

func (b *BatchConfig) validate() error {
	if b.Provider == "" {
		if *b != (BatchConfig{}) {
			return errors.New("batch scheduler keys (partition, max_blocks, …) are set, but provider is not")
		}
		return nil
	}
	var errs []error
	if !slices.Contains(providerNames, b.Provider) {
		errs = append(errs, fmt.Errorf("provider %q: not one of %s", b.Provider, strings.Join(providerNames, ", ")))
	}
	if b.Partition != "" && b.Queue != "" {
		errs = append(errs, errors.New("partition and queue are one setting: give one"))
	}
	if b.NodesPerBlock < 0 || b.WorkersPerNode < 0 || b.CPUsPerBlock < 0 || b.InitBlocks < 0 || b.MinBlocks < 0 || b.MaxBlocks < 0 {
		errs = append(errs, errors.New("nodes_per_block, workers_per_node, cpus_per_block, init_blocks, min_blocks and max_blocks must not be negative"))
	}
	if b.MaxIdleTime < 0 || b.DrainPeriod < 0 {
		errs = append(errs, errors.New("max_idletime and drain_period must not be negative"))
	}
	maxBlocks := b.MaxBlocks
	if maxBlocks == 0 {
		maxBlocks = pilot.DefaultMaxBlocks
	}
	if b.MinBlocks > maxBlocks || b.InitBlocks > maxBlocks {
		errs = append(errs, fmt.Errorf("min_blocks (%d) and init_blocks (%d) may not exceed max_blocks (%d)", b.MinBlocks, b.InitBlocks, maxBlocks))
	}
	if b.Walltime != "" {
		wt, err := pilot.ParseWalltime(b.Walltime)
		if err != nil {
			errs = append(errs, err)
		} else if b.DrainPeriod >= wt {
			errs = append(errs, fmt.Errorf("drain_period %v is not shorter than walltime %s", b.DrainPeriod, b.Walltime))
		}
	} else if b.DrainPeriod > 0 {
		errs = append(errs, errors.New("drain_period needs a walltime"))
	}
	if _, err := pilot.Launch(b.Launcher, 1, "x"); err != nil {
		errs = append(errs, err)
	}
	if b.Provider == "local" && b.Launcher != "" && b.Launcher != "simple" {
		errs = append(errs, fmt.Errorf("launcher %q: the local provider runs one agent per block (simple)", b.Launcher))
	}
	for _, s := range []struct{ key, v string }{{"partition", b.Partition}, {"queue", b.Queue}, {"account", b.Account}, {"qos", b.QoS}} {
		if strings.ContainsAny(s.v, " \t\n'\"$`\\;|&") {
			errs = append(errs, fmt.Errorf("%s %q: spaces, quotes and shell characters are not allowed", s.key, s.v))
		}
	}
	return errors.Join(errs...)
}

// job is the template of the blocks' jobs.
func (b *BatchConfig) job() pilot.Job {
	var opts []string
	for _, l := range strings.Split(b.SchedulerOptions, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			opts = append(opts, l)
		}
	}
	part := b.Partition
	if part == "" {
		part = b.Queue
	}
	return pilot.Job{
		WorkerInit: b.WorkerInit, Nodes: b.NodesPerBlock, CPUsPerNode: b.CPUsPerBlock, Exclusive: b.Exclusive,
		Walltime: b.Walltime, Partition: part, Account: b.Account, QoS: b.QoS, Options: opts,
	}
}

// Providers makes the scheduler provider of each name but "local", which
// this package makes itself; dir is a directory the provider may keep
// state in. A name without one fails the endpoint's start.
var Providers = map[string]func(dir string) (pilot.Provider, error){
	"slurm": func(string) (pilot.Provider, error) { return &slurm.Provider{}, nil },
	"pbs":   func(string) (pilot.Provider, error) { return &pbs.Provider{}, nil },
}

// newProvider makes the endpoint's provider.
func (n *Node) newProvider() (pilot.Provider, error) {
	name := n.config().Batch.Provider
	if name == "local" {
		return pilot.NewLocal(filepath.Join(n.dir, BlocksDir, "local"))
	}
	mk := Providers[name]
	if mk == nil {
		return nil, fmt.Errorf("node: provider %q is not built into this fxnode", name)
	}
	return mk(filepath.Join(n.dir, BlocksDir, name))
}

// BlocksDir is the directory, inside a node's, of its blocks' directories.
const BlocksDir = "blocks"

// blockFile is the credential and settings of a block, in its directory
// (mode 0600): what `fxnode worker --block-dir DIR` reads.
const blockFile = "block.json"

// blockSpec is the content of blockFile.
type blockSpec struct {
	// Endpoint is the endpoint's peer ID, Addrs its addresses.
	Endpoint string   `json:"endpoint"`
	Addrs    []string `json:"addrs"`
	// Key is the block's own private key (libp2p's protobuf form, in
	// base64): the agent's identity, made for this block alone.
	Key string `json:"key"`
	// Workers is how many tasks the agent runs at once.
	Workers int `json:"workers"`
	// What the agent's executors need of the endpoint's config: its
	// interpreter, output bound and tenancy.
	Python         string            `json:"python,omitempty"`
	MaxOutputBytes int               `json:"max_output_bytes,omitempty"`
	WorkerUIDs     string            `json:"worker_uids,omitempty"`
	Users          map[string]string `json:"users,omitempty"`
	RequireMapping bool              `json:"require_mapping,omitempty"`
	// NodeDir is the endpoint's directory, where the tenants' working
	// directories and uid table are (the same uid for a user in every
	// block and on the endpoint).
	NodeDir string `json:"node_dir"`
	// Account, when not "", is the local account the block's job was
	// submitted as, for the work of the one user mapped to it: the agent
	// runs as that account and so do its workers, with no tenancy of
	// their own (Users, WorkerUIDs and NodeDir are empty).
	Account string `json:"account,omitempty"`
	// Containers is the endpoint's containers: block, which the agent
	// follows to run functions with container images where its node has
	// a runtime; nil (runtime: none) runs none.
	Containers *ContainersConfig `json:"containers,omitempty"`
}

// WorkerCommand is the command line, before its arguments, that a block's
// job runs to start the worker agent; "" means this executable. Tests set
// it to run their own binary.
var WorkerCommand = ""

// startPilot makes the block manager of an endpoint whose config names a
// provider.
func (n *Node) startPilot(lim exec.Limits) (*pilot.Manager, error) {
	b := &n.config().Batch
	prov, err := n.newProvider()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(n.dir, BlocksDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: blocks: %w", err)
	}
	if len(n.config().Users) > 0 {
		// The jobs of mapped users run as their accounts, which must reach
		// their blocks' directories (each 0700, the account's): they may
		// search the blocks directory, not list it.
		if err := os.Chmod(dir, 0o711); err != nil {
			return nil, fmt.Errorf("node: blocks: %w", err)
		}
	}
	self := WorkerCommand
	if self == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("node: blocks: %w", err)
		}
		self = shellQuote(exe)
	}
	id := n.ID().String()
	var userOf func(string) string
	if len(n.config().Users) > 0 {
		// Identity mapping: a mapped user's work runs on blocks submitted
		// as its account; the rest on the endpoint's own.
		userOf = func(tenant string) string { return n.config().Users[tenant] }
	}
	return pilot.New(pilot.Config{
		Provider: prov, Prefix: "fx" + id[len(id)-8:] + "-", Dir: dir,
		Job: b.job(), Launcher: b.Launcher, WorkersPerNode: b.WorkersPerNode,
		InitBlocks: b.InitBlocks, MinBlocks: b.MinBlocks, MaxBlocks: b.MaxBlocks,
		MaxIdle: b.MaxIdleTime, DrainPeriod: b.DrainPeriod,
		Heartbeat: n.blockHeartbeat, ScalePeriod: n.scalePeriod,
		Limits: lim, Logger: n.log, UserOf: userOf,
		Prepare: func(name, bdir, user string) (pilot.Credential, error) {
			return n.prepareBlock(bdir, self, user)
		},
	})
}

// prepareBlock makes a block's key and writes its blockFile. For a block
// submitted as account user, the file and the directory become that
// account's (0600, 0700), which must be able to reach them and to run the
// worker: where it cannot, the block is not submitted and the error says
// why.
func (n *Node) prepareBlock(dir, self, user string) (pilot.Credential, error) {
	k, err := identity.GenerateKey()
	if err != nil {
		return pilot.Credential{}, err
	}
	raw, err := crypto.MarshalPrivateKey(k.PrivKey())
	if err != nil {
		return pilot.Credential{}, err
	}
	workers := n.config().Batch.WorkersPerNode
	if workers == 0 {
		workers = pilot.DefaultWorkersPerNode
	}
	spec := blockSpec{
		Endpoint: n.ID().String(), Addrs: n.Addrs(), Key: base64.StdEncoding.EncodeToString(raw),
		Workers: workers, Python: n.config().pythonPath(), MaxOutputBytes: n.config().MaxOutputBytes,
		WorkerUIDs: n.config().WorkerUIDs, Users: n.config().Users, RequireMapping: n.config().RequireMapping,
		NodeDir: n.dir,
	}
	if n.config().Containers.Runtime != RuntimeNone {
		c := n.config().Containers
		spec.Containers = &c
	}
	var acct *tenant.Account
	if user != "" {
		a, err := lookupAccount(user)
		if err != nil {
			return pilot.Credential{}, fmt.Errorf("account %s: %w", user, err)
		}
		acct = &a
		spec.Account, spec.WorkerUIDs, spec.Users, spec.RequireMapping, spec.NodeDir = user, "", nil, false, ""
		cred := &tenant.Credential{UID: a.UID, GID: a.GID, Groups: a.Groups}
		if exe, err := os.Executable(); err == nil && WorkerCommand == "" {
			if err := tenant.CheckUsable(exe, cred); err != nil {
				return pilot.Credential{}, fmt.Errorf("account %s cannot run the worker: %w", user, err)
			}
		}
		if spec.Python != "" && tenant.CheckUsable(spec.Python, cred) != nil {
			spec.Python = fallbackPython
		}
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return pilot.Credential{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, blockFile), b, 0o600); err != nil {
		return pilot.Credential{}, err
	}
	if acct != nil {
		for _, p := range []string{filepath.Join(dir, blockFile), dir} {
			if err := os.Lchown(p, int(acct.UID), int(acct.GID)); err != nil {
				return pilot.Credential{}, fmt.Errorf("block of account %s: %w", user, err)
			}
		}
		if err := tenant.CheckUsable(dir, &tenant.Credential{UID: acct.UID, GID: acct.GID, Groups: acct.Groups}); err != nil {
			return pilot.Credential{}, fmt.Errorf("account %s cannot reach its block's directory (make the node's directory searchable, o+x): %w", user, err)
		}
	}
	return pilot.Credential{Identity: k.ID().String(), Command: self + " worker --block-dir " + shellQuote(dir)}, nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// handleBlock serves a block's agent: only a peer whose ID is the
// credential of a live block of this endpoint, once, before anything of
// the stream is read.
func (e *endpoint) handleBlock(s network.Stream) {
	if !e.begin() {
		s.Reset()
		return
	}
	defer e.running.Done()
	p := s.Conn().RemotePeer()
	if err := e.pilot.Attach(p.String(), s); err != nil {
		e.n.log.Info("block agent refused", "peer", p, "err", err)
		s.Reset()
	}
}

// blockContainers runs functions with container images in the blocks,
// on the nodes that have a container runtime, and on the endpoint's own
// container executor (local; nil where it has none) while the blocks'
// nodes have none.
type blockContainers struct {
	blocks *pilot.Manager
	local  exec.Executor
}

var _ exec.Executor = (*blockContainers)(nil)

func (bc *blockContainers) Execute(ctx context.Context, t exec.Task) (exec.Result, error) {
	r, err := bc.blocks.Execute(ctx, t)
	if !errors.Is(err, pilot.ErrNoContainerRuntime) {
		return r, err
	}
	if bc.local == nil {
		return exec.Result{}, fmt.Errorf("node: %w, and this endpoint runs none itself", err)
	}
	return bc.local.Execute(ctx, t)
}

// Close closes the endpoint's own container executor; the blocks are
// closed as the python and shell executor.
func (bc *blockContainers) Close() error {
	if bc.local == nil {
		return nil
	}
	return bc.local.Close()
}

// batchStatus is the blocks' state for the endpoint record; nil without a
// provider.
func (e *endpoint) batchStatus() *routing.Batch {
	if e == nil || e.pilot == nil {
		return nil
	}
	s := e.pilot.Summary()
	return &routing.Batch{
		Provider: s.Provider, Partition: s.Partition,
		Pending: s.Pending, Running: s.Running + s.Draining, Workers: s.Workers, Error: s.Error,
	}
}

// batchFailing reports the error state of a batch endpoint that has no
// worker to show for it: its blocks keep failing, so it takes no work
// (its heartbeat says so) until one serves.
func (e *endpoint) batchFailing() bool {
	b := e.batchStatus()
	return b != nil && b.Error != "" && b.Workers == 0
}

// watchBatch signs a new record when the blocks' state changes, so that
// `fx endpoint show`, which asks the endpoint for its record, shows it
// within a scaling period.
func (n *Node) watchBatch() {
	defer n.wg.Done()
	last := n.ep.batchStatus()
	t := time.NewTicker(n.scalePeriodOrDefault() / 2)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		now := n.ep.batchStatus()
		if *now == *last {
			continue
		}
		last = now
		if err := n.signRecord(); err != nil {
			n.log.Error("sign endpoint record", "err", err)
		}
	}
}

func (n *Node) scalePeriodOrDefault() time.Duration {
	if n.scalePeriod > 0 {
		return n.scalePeriod
	}
	return pilot.DefaultScalePeriod
}

// RunWorker is `fxnode worker --block-dir DIR`: a block's agent. It reads
// the block's credential and settings from DIR, connects to its endpoint
// with that identity, and runs the tasks it is sent on a Python pool and a
// shell executor of its own, with the endpoint's tenancy, until the
// endpoint closes the connection or ctx ends.
func RunWorker(ctx context.Context, dir string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := os.ReadFile(filepath.Join(dir, blockFile))
	if err != nil {
		return fmt.Errorf("node: worker: %w", err)
	}
	var spec blockSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("node: worker: %s: %w", blockFile, err)
	}
	raw, err := base64.StdEncoding.DecodeString(spec.Key)
	if err != nil {
		return fmt.Errorf("node: worker: key: %w", err)
	}
	priv, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return fmt.Errorf("node: worker: key: %w", err)
	}
	key, err := identity.FromPrivKey(priv)
	if err != nil {
		return fmt.Errorf("node: worker: key: %w", err)
	}
	ep, err := peer.Decode(spec.Endpoint)
	if err != nil {
		return fmt.Errorf("node: worker: endpoint: %w", err)
	}
	cfg := &Config{Python: spec.Python, WorkerUIDs: spec.WorkerUIDs, Users: spec.Users, RequireMapping: spec.RequireMapping, MaxOutputBytes: spec.MaxOutputBytes}
	var iso tenant.Isolation
	if spec.Account == "" {
		if iso, err = cfg.isolation(spec.NodeDir, runsAsRoot()); err != nil {
			return err
		}
	}
	tenants, err := tenant.New(iso)
	if err != nil {
		return fmt.Errorf("node: worker: %w", err)
	}
	lim := exec.Limits{MaxResultBytes: cfg.maxOutput()}
	py, err := python.New(python.Config{Python: spec.Python, Fallback: fallbackPython, Workers: spec.Workers, Limits: lim, Logger: log, Tenants: tenants})
	if err != nil {
		return err
	}
	defer py.Close()
	sh, err := shell.New(shell.Config{Workers: spec.Workers, Limits: lim, Logger: log, Tenants: tenants})
	if err != nil {
		return err
	}
	defer sh.Close()
	xs := map[exec.Kind]exec.Executor{exec.KindPython: py, exec.KindShell: sh}
	runtime := ""
	if spec.Containers != nil {
		// A node without a runtime (or one this account may not use)
		// runs no container: the agent says so, and its endpoint sends
		// it none.
		rt, err := spec.Containers.containerRuntime(ctx, log)
		var cx *container.Executor
		if err == nil && rt != nil {
			cx, err = container.New(spec.Containers.executorConfig(rt, routing.Hardware{}, lim, spec.Workers, nil, log))
		}
		switch {
		case err != nil:
			log.Warn("worker runs no containers", "err", err)
		case cx != nil:
			defer cx.Close()
			xs[pilot.KindContainer], runtime = cx, rt.Name()
		}
	}
	h, err := p2p.NewHost(key, nil)
	if err != nil {
		return err
	}
	defer h.Close()
	addrs, err := p2p.ParseAddrInfos(spec.Addrs)
	if err != nil {
		return fmt.Errorf("node: worker: endpoint addresses: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if got := p2p.ConnectAny(cctx, h, addrs, 10*time.Second); len(got) == 0 {
		return fmt.Errorf("node: worker: endpoint %s did not answer at %v", ep, spec.Addrs)
	}
	s, err := openBlockStream(cctx, h, ep)
	if err != nil {
		return fmt.Errorf("node: worker: open the block stream: %w", err)
	}
	host, _ := os.Hostname()
	log.Info("worker agent connected", "endpoint", ep, "block", filepath.Base(dir), "workers", spec.Workers, "account", spec.Account, "runtime", runtime)
	return pilot.RunAgent(ctx, s, pilot.AgentConfig{
		Executors: xs, Runtime: runtime, Workers: spec.Workers, Host: host, Logger: log,
	})
}

// openBlockStream opens the block stream to endpoint ep, trying again
// until ctx ends: a block that starts at once (init_blocks, min_blocks)
// may find its endpoint still starting, connected but not yet serving
// the block protocol.
func openBlockStream(ctx context.Context, h host.Host, ep peer.ID) (network.Stream, error) {
	wait := 50 * time.Millisecond
	for {
		s, err := h.NewStream(ctx, ep, wire.BlockProtocol)
		if err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
