package pbs

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/exec/internal/schedcmd"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// walltimeRe is a walltime as PBS takes it: [[HH:]MM:]SS.
var walltimeRe = regexp.MustCompile(`^[0-9]+(:[0-9]+){0,2}$`)

// Script is the job script Submit writes for job: #PBS directives (-N
// name, -l select=NODES:ncpus=CPUS, -l place, -l walltime, -q queue, -A
// account, -o and -e into Dir), job.Options verbatim, a cd into Dir (PBS
// starts jobs in the home directory), WorkerInit, then Command. PBS has no
// QoS: a job with one is refused, as are values that could break a
// directive's line or word.
func Script(job pilot.Job) (string, error) {
	if err := schedcmd.CheckJob("pbs: job", job, walltimeRe); err != nil {
		return "", err
	}
	if job.QoS != "" {
		return "", fault.E(fault.Invalid, "pbs: job", "qos %q: PBS has no quality of service; use a queue", job.QoS)
	}
	var b strings.Builder
	d := func(flag, v string) {
		if v != "" {
			b.WriteString("#PBS " + flag + " " + v + "\n")
		}
	}
	nodes := max(job.Nodes, 1)
	sel := "select=" + strconv.Itoa(nodes)
	if job.CPUsPerNode > 0 && !job.Exclusive {
		sel += ":ncpus=" + strconv.Itoa(job.CPUsPerNode)
	}
	place := ""
	switch {
	case job.Exclusive && nodes > 1:
		place = "place=scatter:excl"
	case job.Exclusive:
		place = "place=excl"
	case nodes > 1:
		place = "place=scatter"
	}
	b.WriteString("#!/bin/bash\n")
	d("-N", job.Name)
	d("-l", sel)
	if place != "" {
		d("-l", place)
	}
	if job.Walltime != "" {
		d("-l", "walltime="+job.Walltime)
	}
	d("-q", job.Partition)
	d("-A", job.Account)
	d("-o", filepath.Join(job.Dir, pilot.OutFile))
	d("-e", filepath.Join(job.Dir, pilot.ErrFile))
	for _, o := range job.Options {
		b.WriteString(o + "\n")
	}
	b.WriteString("\ncd " + job.Dir + " || exit 1\n")
	if job.WorkerInit != "" {
		b.WriteString(strings.TrimRight(job.WorkerInit, "\n") + "\n")
	}
	b.WriteString(job.Command + "\n")
	return b.String(), nil
}
