package slurm

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/exec/internal/schedcmd"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// walltimeRe is a time limit as sbatch --time takes it: MM, MM:SS,
// HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
var walltimeRe = regexp.MustCompile(`^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$`)

// Script is the job script Submit writes for job: #SBATCH directives
// (name, nodes, one task per node with CPUsPerNode CPUs or the whole node,
// time, partition, account, QoS, working directory, output and error
// files in Dir), job.Options verbatim, WorkerInit, then Command. Values
// that could break a directive's line or word are refused as invalid.
func Script(job pilot.Job) (string, error) {
	const op = "slurm: job"
	switch {
	case job.Name == "":
		return "", fault.E(fault.Invalid, op, "no name")
	case !filepath.IsAbs(job.Dir):
		return "", fault.E(fault.Invalid, op, "directory %q is not an absolute path", job.Dir)
	case strings.TrimSpace(job.Command) == "":
		return "", fault.E(fault.Invalid, op, "no command")
	case job.Nodes < 0 || job.CPUsPerNode < 0:
		return "", fault.E(fault.Invalid, op, "%d nodes of %d CPUs", job.Nodes, job.CPUsPerNode)
	case job.Walltime != "" && !walltimeRe.MatchString(job.Walltime):
		return "", fault.E(fault.Invalid, op, "walltime %q is not HH:MM:SS", job.Walltime)
	}
	for _, w := range []struct{ what, v string }{
		{"name", job.Name}, {"directory", job.Dir}, {"partition", job.Partition},
		{"account", job.Account}, {"qos", job.QoS}, {"user", job.User},
	} {
		if err := schedcmd.CheckWord(op, w.what, w.v); err != nil {
			return "", err
		}
	}
	for _, o := range job.Options {
		if err := schedcmd.CheckLine(op, "scheduler option", o); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	d := func(k, v string) {
		if v != "" {
			b.WriteString("#SBATCH --" + k + "=" + v + "\n")
		}
	}
	b.WriteString("#!/bin/bash\n")
	d("job-name", job.Name)
	d("nodes", strconv.Itoa(max(job.Nodes, 1)))
	d("ntasks-per-node", "1")
	if job.Exclusive {
		b.WriteString("#SBATCH --exclusive\n")
	} else if job.CPUsPerNode > 0 {
		d("cpus-per-task", strconv.Itoa(job.CPUsPerNode))
	}
	d("time", job.Walltime)
	d("partition", job.Partition)
	d("account", job.Account)
	d("qos", job.QoS)
	d("chdir", job.Dir)
	d("output", filepath.Join(job.Dir, "slurm-%j.out"))
	d("error", filepath.Join(job.Dir, "slurm-%j.err"))
	for _, o := range job.Options {
		b.WriteString(o + "\n")
	}
	b.WriteString("\n")
	if job.WorkerInit != "" {
		b.WriteString(strings.TrimRight(job.WorkerInit, "\n") + "\n")
	}
	b.WriteString(job.Command + "\n")
	return b.String(), nil
}
