package pbs

import (
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

func TestScript(t *testing.T) {
	job := pilot.Job{
		Name: "fx-ep-b1", Dir: "/srv/fx/blocks/b1", Nodes: 2, CPUsPerNode: 4,
		Walltime: "01:00:00", Partition: "workq", Account: "proj1",
		Options:    []string{"#PBS -l filesystems=home", "#PBS -j oe"},
		WorkerInit: "module load python\n",
		Command:    "mpiexec -n 2 -ppn 1 fx-agent",
	}
	want := `#!/bin/bash
#PBS -N fx-ep-b1
#PBS -l select=2:ncpus=4
#PBS -l place=scatter
#PBS -l walltime=01:00:00
#PBS -q workq
#PBS -A proj1
#PBS -o /srv/fx/blocks/b1/job.out
#PBS -e /srv/fx/blocks/b1/job.err
#PBS -l filesystems=home
#PBS -j oe

cd /srv/fx/blocks/b1 || exit 1
module load python
mpiexec -n 2 -ppn 1 fx-agent
`
	got, err := Script(job)
	if err != nil || got != want {
		t.Fatalf("Script = %v\n%s\nwant\n%s", err, got, want)
	}
	for _, c := range []struct {
		job  pilot.Job
		has  []string
		hasn []string
	}{
		{pilot.Job{Name: "b", Dir: "/d", Command: "a", CPUsPerNode: 4, Exclusive: true},
			[]string{"#PBS -l select=1\n", "#PBS -l place=excl\n"}, []string{"ncpus", "walltime", "-q", "-A"}},
		{pilot.Job{Name: "b", Dir: "/d", Command: "a", Nodes: 3, Exclusive: true},
			[]string{"#PBS -l select=3\n", "#PBS -l place=scatter:excl\n"}, nil},
		{pilot.Job{Name: "b", Dir: "/d", Command: "a", CPUsPerNode: 2},
			[]string{"#PBS -l select=1:ncpus=2\n"}, []string{"place"}},
	} {
		got, err := Script(c.job)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range c.has {
			if !strings.Contains(got, s) {
				t.Errorf("%+v: no %q in\n%s", c.job, s, got)
			}
		}
		for _, s := range c.hasn {
			if strings.Contains(got, s) {
				t.Errorf("%+v: %q in\n%s", c.job, s, got)
			}
		}
	}
}

func TestScriptRefuses(t *testing.T) {
	ok := pilot.Job{Name: "b", Dir: "/d", Command: "agent"}
	for name, edit := range map[string]func(*pilot.Job){
		"no name":         func(j *pilot.Job) { j.Name = "" },
		"name with break": func(j *pilot.Job) { j.Name = "a\n#PBS -u root" },
		"relative dir":    func(j *pilot.Job) { j.Dir = "b" },
		"dir with space":  func(j *pilot.Job) { j.Dir = "/a b" },
		"no command":      func(j *pilot.Job) { j.Command = "" },
		"queue":           func(j *pilot.Job) { j.Partition = "a b" },
		"account":         func(j *pilot.Job) { j.Account = "`x`" },
		"qos":             func(j *pilot.Job) { j.QoS = "high" },
		"walltime":        func(j *pilot.Job) { j.Walltime = "1-00:00:00" },
		"option break":    func(j *pilot.Job) { j.Options = []string{"#PBS -j oe\nrm x"} },
		"negative":        func(j *pilot.Job) { j.Nodes = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			j := ok
			edit(&j)
			if s, err := Script(j); !isKind(err, fault.Invalid) {
				t.Fatalf("Script(%+v) = %v\n%s\nwant an invalid error", j, err, s)
			}
		})
	}
}
