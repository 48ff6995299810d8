package slurm

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/exec/internal/schedcmd"
	"github.com/fxmesh/fxmesh/exec/pilot"
)

// walltimeRe is a time limit as sbatch --time takes it: MM, MM:SS,
// HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
var walltimeRe = regexp.MustCompile(`^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$`)

// Script is the job script Submit writes for job: #SBATCH directives
// (name, nodes, one task per node with CPUsPerNode CPUs or the whole node,
// time, partition, account, QoS, working directory, output and error
// files in Dir: pilot.OutFile and pilot.ErrFile), job.Options verbatim, WorkerInit, then Command. Values
// that could break a directive's line or word are refused as invalid.
func Script(job pilot.Job) (string, error) {
	if err := schedcmd.CheckJob("slurm: job", job, walltimeRe); err != nil {
		return "", err
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
	d("output", filepath.Join(job.Dir, pilot.OutFile))
	d("error", filepath.Join(job.Dir, pilot.ErrFile))
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
