package slurm

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/exec/internal/schedcmd"
	"github.com/fxmesh/fxmesh/exec/pilot"
)

// Provider submits and follows blocks' jobs on Slurm. The zero value is
// ready: Slurm's commands from PATH, 30 s each at most. Use it by pointer.
type Provider struct {
	// Bin, when not "", is the directory of sbatch, squeue, scancel and
	// sacct; "" finds them on PATH.
	Bin string
	// Timeout bounds each command (a busy controller answers slowly);
	// zero is 30 s. A context's earlier deadline wins.
	Timeout time.Duration
	// NoSacct never asks sacct about jobs squeue does not list.
	NoSacct bool

	sacctOff atomic.Bool // sacct said accounting is disabled: not asked again
}

var _ pilot.Provider = (*Provider)(nil)

// ScriptName is the name of the job script Submit writes in Job.Dir.
const ScriptName = "slurm-job.sh"

func (p *Provider) runner() *schedcmd.Runner {
	return &schedcmd.Runner{Op: "slurm", Bin: p.Bin, Timeout: p.Timeout}
}

// Name is "slurm".
func (p *Provider) Name() string { return "slurm" }

// Submit writes job's script into job.Dir and submits it with sbatch
// --parsable; it returns the job's ID, "ID" or "ID;cluster" as sbatch
// prints it. With job.User, job.Dir and the files in it are handed to that
// account first, and sbatch runs as it.
func (p *Provider) Submit(ctx context.Context, job pilot.Job) (string, error) {
	script, err := Script(job)
	if err != nil {
		return "", err
	}
	out, err := p.runner().Submit(ctx, job, ScriptName, script, "sbatch", "--parsable")
	if err != nil {
		return "", err
	}
	return parseSbatch(out)
}

// Status asks squeue about ids (jobs that ended stay listed for Slurm's
// MinJobAge, 300 s by default), then sacct about those it does not list,
// where accounting works; the rest are pilot.Unknown.
func (p *Provider) Status(ctx context.Context, ids []string) (map[string]pilot.JobStatus, error) {
	byCluster, err := groupIDs(ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]pilot.JobStatus, len(ids))
	for _, cluster := range sortedKeys(byCluster) {
		jobs := byCluster[cluster]
		args := append(clusterArgs(cluster), "-h", "-t", "all", "-o", squeueFormat, "-j", strings.Join(jobs, ","))
		res := p.runner().Run(ctx, schedcmd.Cmd{Name: "squeue", Args: args})
		// squeue -j of a single job it forgot fails; of several, it lists
		// those it knows.
		if res.Err != nil && !strings.Contains(res.Stderr, "Invalid job id") {
			return nil, res.Err
		}
		listed, err := parseSqueue(res.Stdout)
		if err != nil {
			return nil, err
		}
		for _, st := range listed {
			if slices.Contains(jobs, st.ID) {
				st.ID = withCluster(st.ID, cluster)
				out[st.ID] = st
			}
		}
		var missing []string
		for _, j := range jobs {
			if _, ok := out[withCluster(j, cluster)]; !ok {
				missing = append(missing, j)
			}
		}
		for _, st := range p.sacct(ctx, cluster, missing) {
			out[st.ID] = st
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = pilot.JobStatus{ID: id, State: pilot.Unknown, Reason: "squeue no longer lists it"}
		}
	}
	return out, nil
}

// sacct asks accounting about jobs of cluster; it returns nothing when
// sacct is missing or fails (no accounting, as on the test cluster).
func (p *Provider) sacct(ctx context.Context, cluster string, jobs []string) []pilot.JobStatus {
	if len(jobs) == 0 || p.NoSacct || p.sacctOff.Load() {
		return nil
	}
	args := append(clusterArgs(cluster), "-n", "-P", "-X", "-o", "JobID,JobName,State", "-j", strings.Join(jobs, ","))
	res := p.runner().Run(ctx, schedcmd.Cmd{Name: "sacct", Args: args})
	if res.Err != nil {
		if strings.Contains(res.Stderr, "accounting storage is disabled") || errors.Is(res.Err, schedcmd.ErrMissing) {
			p.sacctOff.Store(true)
		}
		return nil
	}
	var out []pilot.JobStatus
	for _, st := range parseSacct(res.Stdout) {
		if slices.Contains(jobs, st.ID) {
			st.ID = withCluster(st.ID, cluster)
			st.Reason = "from sacct"
			out = append(out, st)
		}
	}
	return out
}

// Cancel cancels ids with scancel; jobs that already ended, or that Slurm
// forgot, are no error.
func (p *Provider) Cancel(ctx context.Context, ids []string) error {
	byCluster, err := groupIDs(ids)
	if err != nil {
		return err
	}
	for _, cluster := range sortedKeys(byCluster) {
		args := append(clusterArgs(cluster), byCluster[cluster]...)
		res := p.runner().Run(ctx, schedcmd.Cmd{Name: "scancel", Args: args})
		if res.Err != nil && !onlyGone(res.Stderr) {
			return res.Err
		}
	}
	return nil
}

// onlyGone reports whether every line of scancel's stderr says a job had
// ended or was unknown.
func onlyGone(stderr string) bool {
	if stderr == "" {
		return false
	}
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !goneRe.MatchString(l) {
			return false
		}
	}
	return true
}

var goneRe = regexp.MustCompile(`Invalid job id specified|already completing or completed|Job has already finished`)

// Jobs lists, with squeue, the jobs whose name starts with prefix and that
// have not ended: those of this process's user, or, when it runs as root
// (which submits as users' accounts), those of every user.
func (p *Provider) Jobs(ctx context.Context, prefix string) ([]pilot.JobStatus, error) {
	args := []string{"-h", "-o", squeueFormat}
	if uid := os.Geteuid(); uid != 0 {
		args = append(args, "-u", strconv.Itoa(uid))
	}
	res := p.runner().Run(ctx, schedcmd.Cmd{Name: "squeue", Args: args})
	if res.Err != nil {
		return nil, res.Err
	}
	listed, err := parseSqueue(res.Stdout)
	if err != nil {
		return nil, err
	}
	var out []pilot.JobStatus
	for _, st := range listed {
		if strings.HasPrefix(st.Name, prefix) && !st.State.Ended() {
			out = append(out, st)
		}
	}
	return out, nil
}

// groupIDs checks ids and groups their job numbers by cluster.
func groupIDs(ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, id := range ids {
		job, cluster, err := splitID(id)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out[cluster], job) {
			out[cluster] = append(out[cluster], job)
		}
	}
	return out, nil
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func clusterArgs(cluster string) []string {
	if cluster == "" {
		return nil
	}
	return []string{"-M", cluster}
}

func withCluster(job, cluster string) string {
	if cluster == "" {
		return job
	}
	return job + ";" + cluster
}
