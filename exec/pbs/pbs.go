package pbs

import (
	"context"
	"os"
	"os/user"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/exec/internal/schedcmd"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// Provider submits and follows blocks' jobs on PBS Professional. The zero
// value is ready: qsub, qstat and qdel from PATH, 30 s each at most.
type Provider struct {
	// Bin, when not "", is the directory of qsub, qstat and qdel; "" finds
	// them on PATH.
	Bin string
	// Timeout bounds each command; zero is 30 s. A context's earlier
	// deadline wins.
	Timeout time.Duration
}

var _ pilot.Provider = (*Provider)(nil)

// ScriptName is the name of the job script Submit writes in Job.Dir.
const ScriptName = "pbs-job.sh"

func (p *Provider) runner() *schedcmd.Runner {
	return &schedcmd.Runner{Op: "pbs", Bin: p.Bin, Timeout: p.Timeout}
}

// Name is "pbs".
func (p *Provider) Name() string { return "pbs" }

// Submit writes job's script into job.Dir and submits it with qsub; it
// returns the job's ID as qsub prints it ("1234.server"). With job.User,
// job.Dir and the files in it are handed to that account first, and qsub
// runs as it.
func (p *Provider) Submit(ctx context.Context, job pilot.Job) (string, error) {
	script, err := Script(job)
	if err != nil {
		return "", err
	}
	out, err := p.runner().Submit(ctx, job, ScriptName, script, "qsub")
	if err != nil {
		return "", err
	}
	return parseQsub(out)
}

// Status asks qstat -x -f -F json about ids, finished jobs included; those
// the server does not know (any more) are pilot.Unknown.
func (p *Provider) Status(ctx context.Context, ids []string) (map[string]pilot.JobStatus, error) {
	for _, id := range ids {
		if !idRe.MatchString(id) {
			return nil, fault.E(fault.Invalid, "pbs", "job ID %q is not NUMBER.SERVER", clip(id))
		}
	}
	out := make(map[string]pilot.JobStatus, len(ids))
	if len(ids) > 0 {
		res := p.runner().Run(ctx, schedcmd.Cmd{Name: "qstat", Args: append([]string{"-x", "-f", "-F", "json"}, ids...)})
		// qstat names each job it does not know on its stderr, exits
		// non-zero, and lists the others.
		if res.Err != nil && !onlyUnknown(res.Stderr) {
			return nil, res.Err
		}
		listed, _, err := parseQstat(res.Stdout)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if st, ok := listed[id]; ok {
				out[id] = st
			}
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = pilot.JobStatus{ID: id, State: pilot.Unknown, Reason: "qstat -x does not know it"}
		}
	}
	return out, nil
}

// Cancel deletes ids with qdel; jobs that already finished, or that the
// server forgot, are no error.
func (p *Provider) Cancel(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if !idRe.MatchString(id) {
			return fault.E(fault.Invalid, "pbs", "job ID %q is not NUMBER.SERVER", clip(id))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	res := p.runner().Run(ctx, schedcmd.Cmd{Name: "qdel", Args: ids})
	if res.Err != nil && !onlyUnknown(res.Stderr) {
		return res.Err
	}
	return nil
}

// Jobs lists, with qstat -f -F json, the jobs whose name starts with
// prefix and that have not finished: those of this process's user, or,
// when it runs as root (which submits as users' accounts), those of every
// user.
func (p *Provider) Jobs(ctx context.Context, prefix string) ([]pilot.JobStatus, error) {
	res := p.runner().Run(ctx, schedcmd.Cmd{Name: "qstat", Args: []string{"-f", "-F", "json"}})
	if res.Err != nil {
		return nil, res.Err
	}
	listed, owners, err := parseQstat(res.Stdout)
	if err != nil {
		return nil, err
	}
	me := ""
	if os.Geteuid() != 0 {
		if u, err := user.Current(); err == nil {
			me = u.Username
		}
	}
	var out []pilot.JobStatus
	for id, st := range listed {
		if strings.HasPrefix(st.Name, prefix) && !st.State.Ended() && (me == "" || owners[id] == me) {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b pilot.JobStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// onlyUnknown reports whether every line of stderr says a job is unknown
// or already finished.
func onlyUnknown(stderr string) bool {
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

var goneRe = regexp.MustCompile(`Unknown Job Id|Job has finished|job has finished`)
