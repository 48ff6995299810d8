package node

import (
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/exec/slurm"
	"github.com/fxmesh/fxmesh/invoke"
)

// The endpoint's blocks on the real Slurm cluster that scripts/slurm-up.sh
// brings up (skipped without one, failed without one where
// FXMESH_SLURM=required). Each block's job runs this test binary as the
// worker agent (WorkerCommand: an environment prefix, which sbatch's
// default --export=ALL passes on). Scaling and heartbeats are fast here,
// to keep the tests short on a loaded machine.

// slurmOptions are the endpoint's scaling period and heartbeat.
var slurmOptions = Options{ScalePeriod: 300 * time.Millisecond, BlockHeartbeat: 300 * time.Millisecond}

// slurmFixture is an endpoint whose functions run in Slurm blocks: by
// default min_blocks 0, max_blocks 2, workers_per_node 2, max_idletime
// 1 s, and a walltime that ends any block a failed test would leave. When
// the test ends, the endpoint is closed and no job of it may be left in
// squeue.
func slurmFixture(t *testing.T, edit func(*Config)) *boundsFixture {
	t.Helper()
	exectest.NeedSlurm(t)
	f := pilotFixtureOpts(t, func(c *Config) {
		c.Batch.Provider, c.Batch.Walltime = "slurm", "00:10:00"
		if edit != nil {
			edit(c)
		}
	}, slurmOptions)
	prefix := slurmPrefix(f.ep.ID().String())
	t.Cleanup(func() {
		f.ep.Close()
		slurmWait(t, 30*time.Second, "no job of the closed endpoint in squeue", func() bool {
			return len(slurmJobs(t, prefix)) == 0
		})
	})
	return f
}

// slurmPrefix is the name prefix of an endpoint's jobs (startPilot's).
func slurmPrefix(id string) string { return "fx" + id[len(id)-8:] + "-" }

// slurmJobs lists, through squeue, the jobs named with prefix that have
// not ended.
func slurmJobs(t *testing.T, prefix string) []pilot.JobStatus {
	t.Helper()
	jobs, err := (&slurm.Provider{}).Jobs(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// slurmWait polls cond, which asks Slurm, every 100 ms for up to d; on
// failure it cancels the jobs the test may have left.
func slurmWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scancelLeft cancels, with scancel, every job named with prefix: what a
// failed test leaves.
func scancelLeft(prefix string) {
	out, err := osexec.Command("squeue", "-h", "-o", "%i %j").Output()
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(out), "\n") {
		if id, name, ok := strings.Cut(strings.TrimSpace(l), " "); ok && strings.HasPrefix(name, prefix) {
			_ = osexec.Command("scancel", id).Run()
		}
	}
}

// TestSlurmEndpoint: an endpoint with provider slurm, min_blocks 0,
// max_blocks 2 and workers_per_node 2 submits a block for work; the
// function sees what worker_init exported in the job, and runs in the
// job's step that the srun launcher started, with the block's 2 CPUs; 40 inputs of a 1 s
// function complete over 2 block jobs that squeue lists while they run
// (never more); after max_idletime squeue lists none.
func TestSlurmEndpoint(t *testing.T) {
	f := slurmFixture(t, func(c *Config) {
		c.Batch.WorkerInit, c.Batch.Launcher = "export FX_INIT_PROOF=set-by-worker-init", "srun"
	})
	prefix := slurmPrefix(f.ep.ID().String())
	t.Cleanup(func() { scancelLeft(prefix) })
	if b := f.record(t).Batch; b == nil || b.Provider != "slurm" || b.Pending+b.Running != 0 {
		t.Fatalf("record's batch at start = %+v, want provider slurm, no block", b)
	}
	if jobs := slurmJobs(t, prefix); len(jobs) != 0 {
		t.Fatalf("squeue lists %+v before any work; min_blocks is 0", jobs)
	}
	r := f.call(t, "env", `["FX_INIT_PROOF"]`, 0)
	if r.Error != nil || string(r.Value) != `"set-by-worker-init"` {
		t.Fatalf("env FX_INIT_PROOF in the Slurm block = %s (error %+v), want the value worker_init exported", r.Value, r.Error)
	}
	for name, want := range map[string]string{"SLURM_STEP_ID": `"0"`, "SLURM_CPUS_PER_TASK": `"2"`} {
		args, _ := json.Marshal([]string{name})
		if r := f.call(t, "env", string(args), 0); r.Error != nil || string(r.Value) != want {
			t.Errorf("env %s in the Slurm block = %s (error %+v), want %s: the worker in srun's step 0, with the block's CPUs", name, r.Value, r.Error, want)
		}
	}

	inputs := make([]invoke.Input, 40)
	for i := range inputs {
		inputs[i] = invoke.Input{Args: []byte("[1]")}
	}
	// Watch squeue while the tasks run: the most jobs listed at once.
	stop := make(chan struct{})
	type seen struct {
		most int
		ids  map[string]bool
	}
	watched := make(chan seen, 1)
	go func() {
		s := seen{ids: map[string]bool{}}
		for {
			select {
			case <-stop:
				watched <- s
				return
			case <-time.After(200 * time.Millisecond):
			}
			jobs, err := (&slurm.Provider{}).Jobs(context.Background(), prefix)
			if err != nil {
				continue
			}
			s.most = max(s.most, len(jobs))
			for _, j := range jobs {
				s.ids[j.ID] = true
			}
		}
	}()
	ok, err := f.naps(t, inputs)
	close(stop)
	s := <-watched
	if err != nil {
		t.Fatal(err)
	}
	if ok != 40 {
		t.Fatalf("%d of 40 inputs completed", ok)
	}
	t.Logf("squeue listed the block jobs %v, at most %d at once", keys(s.ids), s.most)
	if s.most != 2 {
		t.Errorf("squeue listed at most %d block jobs at once while 40 tasks ran; want max_blocks 2", s.most)
	}
	slurmWait(t, 30*time.Second, "no block job in squeue after max_idletime", func() bool {
		return len(slurmJobs(t, prefix)) == 0
	})
	waitUntil(t, 10*time.Second, "the record shows no block", func() bool {
		b := f.record(t).Batch
		return b != nil && b.Pending+b.Running == 0
	})
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSlurmBlockLost: scancel of a block's job while its task runs fails
// the task (system, naming the job) within the heartbeat timeout; with a
// retry, the task runs again on a new block and completes.
func TestSlurmBlockLost(t *testing.T) {
	f := slurmFixture(t, func(c *Config) { c.Batch.MinBlocks, c.Batch.MaxBlocks, c.Batch.WorkersPerNode = 1, 1, 1 })
	prefix := slurmPrefix(f.ep.ID().String())
	t.Cleanup(func() { scancelLeft(prefix) })
	// scancelRunning cancels the block's job once a task runs on it (and
	// cond holds), and says which job it cancelled.
	scancelRunning := func(cond func() bool) <-chan string {
		done := make(chan string, 1)
		go func() {
			defer close(done)
			deadline := time.Now().Add(time.Minute)
			for time.Now().Before(deadline) {
				if f.ep.ep.pilot.Stats().Running == 1 && cond() {
					jobs, err := (&slurm.Provider{}).Jobs(context.Background(), prefix)
					if err == nil && len(jobs) == 1 && jobs[0].State == pilot.Running {
						if out, err := osexec.Command("scancel", jobs[0].ID).CombinedOutput(); err != nil {
							t.Errorf("scancel %s: %v %s", jobs[0].ID, err, out)
						}
						done <- jobs[0].ID
						return
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		return done
	}
	cancelled := scancelRunning(func() bool { return true })
	r := f.call(t, "nap", "[60]", 0)
	id := <-cancelled
	if id == "" {
		t.Fatal("no running block job to scancel")
	}
	if r.Error == nil || r.Error.Kind != "system" || !strings.Contains(r.Error.Message, "block lost: job "+id) {
		t.Fatalf("task on block job %s cancelled with scancel: %s %+v, want a system error naming the job", id, r.Value, r.Error)
	}
	t.Log(r.Error.Message)

	// With a retry, the input runs again on a new block and completes.
	marker := filepath.Join(exectest.SharedDir(t), "ran") // the worker runs as a uid of its own
	cancelled = scancelRunning(func() bool { _, err := os.Stat(marker); return err == nil })
	args, _ := json.Marshal([]string{marker})
	r = f.call(t, "once", string(args), 1)
	if id := <-cancelled; id == "" {
		t.Fatalf("no running block job to scancel (the task: %s %+v)", r.Value, r.Error)
	}
	if r.Error != nil || string(r.Value) != `"second"` {
		t.Fatalf("task with a retry on a block cancelled with scancel: %s %+v, want it run again to completion", r.Value, r.Error)
	}
}

// TestSlurmBadPartition: a partition Slurm refuses puts the endpoint in an
// error state, with sbatch's message, in the record that fx endpoint show
// reads and in its heartbeat, within a scaling period.
func TestSlurmBadPartition(t *testing.T) {
	badPartition(t, slurmFixture(t, func(c *Config) { c.Batch.Partition = "nosuch" }))
}

// TestSlurmRestartCancelsOrphans: an endpoint killed with SIGKILL leaves
// its block's job in squeue; started again on its directory, it cancels
// it and submits a new block; stopped while that block's job still runs
// its worker_init (no agent connected, whose end would end the job), it
// leaves no job in squeue.
func TestSlurmRestartCancelsOrphans(t *testing.T) {
	exectest.NeedSlurm(t)
	dir := t.TempDir()
	k := mustGenerate(t)
	if err := k.Save(filepath.Join(dir, KeyFile), false); err != nil {
		t.Fatal(err)
	}
	prefix := slurmPrefix(k.ID().String())
	t.Cleanup(func() { scancelLeft(prefix) })
	cfg := &Config{
		Name: "ep", Workers: 1, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		// The block's job stays in its worker_init for a minute.
		Batch: BatchConfig{Provider: "slurm", MinBlocks: 1, MaxBlocks: 1, Walltime: "00:10:00", WorkerInit: "touch init-started\nsleep 60"},
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
	var old []pilot.JobStatus
	// Its job runs (its directory, which a restart removes, is no
	// longer needed to launch it).
	slurmWait(t, 30*time.Second, "the first run's block job running its worker_init", func() bool {
		old = slurmJobs(t, prefix)
		if len(old) != 1 || old[0].State != pilot.Running {
			return false
		}
		_, err := os.Stat(filepath.Join(dir, BlocksDir, old[0].Name, "init-started"))
		return err == nil
	})
	if err := ep.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = ep.Wait()
	if jobs := slurmJobs(t, prefix); len(jobs) != 1 || jobs[0].ID != old[0].ID {
		t.Fatalf("after kill -9 squeue lists %+v; want job %s still there, or the check below proves nothing", jobs, old[0].ID)
	}
	opts := slurmOptions
	opts.Dir, opts.Key, opts.Config, opts.Logger = dir, k, cfg, testLogger(t)
	n, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var now []pilot.JobStatus
	slurmWait(t, 30*time.Second, "the orphan job gone, a new block's job running its worker_init", func() bool {
		now = slurmJobs(t, prefix)
		if len(now) != 1 || now[0].ID == old[0].ID || now[0].State != pilot.Running {
			return false
		}
		_, err := os.Stat(filepath.Join(dir, BlocksDir, now[0].Name, "init-started"))
		return err == nil
	})
	t.Logf("orphan job %s cancelled; new block job %s", old[0].ID, now[0].ID)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	slurmWait(t, 30*time.Second, "no job in squeue after the endpoint stopped", func() bool {
		return len(slurmJobs(t, prefix)) == 0
	})
}

// whoSource reports the uid and user name its worker runs as.
const whoSource = `
import getpass, os

def who():
    return [os.getuid(), getpass.getuser()]
`

// TestSlurmMappedUser (issue 12): with identity mapping (users:, fxnode
// as root), a mapped user's function runs in a block submitted as the
// user's account: squeue lists the block's job under the account, and
// the function runs as its uid and name. The block's credential and
// directory are the account's alone.
func TestSlurmMappedUser(t *testing.T) {
	exectest.NeedRoot(t)
	exectest.NeedSlurm(t)
	if _, err := os.Stat(fallbackPython); err != nil {
		t.Skip("no " + fallbackPython + ", an interpreter every account can run")
	}
	shared := exectest.SharedDir(t)
	acct := exectest.NewAccount(t, shared)
	// Runs after the endpoint closed, before the account is removed:
	// userdel refuses an account whose processes (the cancelled job's,
	// ending) still run.
	t.Cleanup(func() {
		deadline := time.Now().Add(60 * time.Second)
		for len(jobProcessesOf(acct.UID)) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		// Say what outlived the job, then end it, so that the account
		// can go. Rootless Podman's pause process (the block's agent
		// looked for a container runtime as the account) outlives every
		// podman command by design, job or no job: it is ended, not
		// counted against the blocks.
		for _, pid := range processesOf(acct.UID) {
			cmd, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
			stat, _ := os.ReadFile(filepath.Join("/proc", pid, "stat"))
			if !strings.Contains(string(stat), "(podman pause)") {
				t.Errorf("a process of the account outlived its block's job by 60 s: pid %s %q (%s)", pid, strings.ReplaceAll(string(cmd), "\x00", " "), strings.TrimSpace(string(stat)))
			}
			if n, err := strconv.Atoi(pid); err == nil {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
	})
	// The account runs the worker agent, this test binary: a copy where
	// it may.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(shared), "node.test")
	if out, err := osexec.Command("cp", self, bin).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	old := WorkerCommand
	WorkerCommand = "env " + workerEnv + "=1 " + shellQuote(bin)
	t.Cleanup(func() { WorkerCommand = old })

	f := slurmFixture(t, func(c *Config) {
		c.Users = map[string]string{c.Owner: acct.Name}
		c.Python = fallbackPython
		c.Batch.MaxIdleTime = time.Minute // the block stays for squeue
	})
	prefix := slurmPrefix(f.ep.ID().String())
	t.Cleanup(func() { scancelLeft(prefix) })
	// The account must reach its blocks' directories, inside the node's.
	for _, d := range []string{filepath.Dir(f.ep.dir), f.ep.dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	env, err := catalog.NewPublish(f.owner, nil, catalog.Function{Name: "who", Kind: catalog.KindPython, Source: whoSource, Entry: "who"},
		catalog.Access{Public: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client.PublishUpdate(f.ctx, env); err != nil {
		t.Fatal(err)
	}
	if f.fns["who"], err = f.client.ResolveFunction(f.ctx, f.owner.ID().String()+"/who"); err != nil {
		t.Fatal(err)
	}
	r := f.call(t, "who", "[]", 0)
	if r.Error != nil {
		t.Fatalf("who: %+v", r.Error)
	}
	var who []any
	if err := json.Unmarshal(r.Value, &who); err != nil || len(who) != 2 {
		t.Fatalf("who = %s", r.Value)
	}
	if uid, _ := who[0].(float64); uint32(uid) != acct.UID || who[1] != acct.Name {
		t.Errorf("the mapped user's function ran as %v, want uid %d, %s", who, acct.UID, acct.Name)
	}
	out, err := osexec.Command("squeue", "-h", "-o", "%j %u").Output()
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, l := range strings.Split(string(out), "\n") {
		if name, user, ok := strings.Cut(strings.TrimSpace(l), " "); ok && strings.HasPrefix(name, prefix) {
			users = append(users, user)
		}
	}
	if len(users) != 1 || users[0] != acct.Name {
		t.Errorf("squeue lists the endpoint's jobs under %v, want one, under %s\n%s", users, acct.Name, out)
	}
	dirs, _ := filepath.Glob(filepath.Join(f.ep.dir, BlocksDir, prefix+"*"))
	for _, d := range dirs {
		for _, p := range []string{d, filepath.Join(d, blockFile)} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			if sys.Uid != acct.UID || st.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: owner %d, mode %v; want the account's (%d) alone", p, sys.Uid, st.Mode().Perm(), acct.UID)
			}
		}
	}
}

// processesOf lists the pids of the processes that run as uid.
// jobProcessesOf lists processesOf(uid) but rootless Podman's pause
// process, which outlives every podman command by design.
func jobProcessesOf(uid uint32) []string {
	var out []string
	for _, pid := range processesOf(uid) {
		if stat, _ := os.ReadFile(filepath.Join("/proc", pid, "stat")); !strings.Contains(string(stat), "(podman pause)") {
			out = append(out, pid)
		}
	}
	return out
}

func processesOf(uid uint32) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if st, err := os.Stat(filepath.Join("/proc", e.Name())); err == nil && st.Sys().(*syscall.Stat_t).Uid == uid {
			out = append(out, e.Name())
		}
	}
	return out
}
