package slurm

import (
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

func TestScript(t *testing.T) {
	job := pilot.Job{
		Name: "fx-ep-b1", Dir: "/srv/fx/blocks/b1", Nodes: 2, CPUsPerNode: 4,
		Walltime: "01:00:00", Partition: "batch", Account: "proj1", QoS: "low",
		Options:    []string{"#SBATCH --constraint=knl", "#SBATCH --mem=0"},
		WorkerInit: "module load python\nsource /opt/env/bin/activate\n",
		Command:    "srun --ntasks=2 --ntasks-per-node=1 fx-agent",
	}
	want := `#!/bin/bash
#SBATCH --job-name=fx-ep-b1
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
#SBATCH --partition=batch
#SBATCH --account=proj1
#SBATCH --qos=low
#SBATCH --chdir=/srv/fx/blocks/b1
#SBATCH --output=/srv/fx/blocks/b1/job.out
#SBATCH --error=/srv/fx/blocks/b1/job.err
#SBATCH --constraint=knl
#SBATCH --mem=0

module load python
source /opt/env/bin/activate
srun --ntasks=2 --ntasks-per-node=1 fx-agent
`
	got, err := Script(job)
	if err != nil || got != want {
		t.Fatalf("Script = %v\n%s\nwant\n%s", err, got, want)
	}

	job = pilot.Job{Name: "b", Dir: "/d", Command: "agent", CPUsPerNode: 4, Exclusive: true}
	got, err = Script(job)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "#SBATCH --exclusive\n") || strings.Contains(got, "cpus-per-task") || !strings.Contains(got, "--nodes=1\n") {
		t.Fatalf("exclusive job:\n%s", got)
	}
	for _, d := range []string{"--time", "--partition", "--account", "--qos"} {
		if strings.Contains(got, d) {
			t.Errorf("a job without %s has the directive:\n%s", d, got)
		}
	}
}

func TestScriptRefuses(t *testing.T) {
	ok := pilot.Job{Name: "b", Dir: "/d", Command: "agent"}
	for name, edit := range map[string]func(*pilot.Job){
		"no name":         func(j *pilot.Job) { j.Name = "" },
		"name with space": func(j *pilot.Job) { j.Name = "a b" },
		"name with break": func(j *pilot.Job) { j.Name = "a\n#SBATCH --uid=0" },
		"relative dir":    func(j *pilot.Job) { j.Dir = "blocks/b" },
		"dir with quote":  func(j *pilot.Job) { j.Dir = `/d"x` },
		"no command":      func(j *pilot.Job) { j.Command = " " },
		"partition":       func(j *pilot.Job) { j.Partition = "a\tb" },
		"account":         func(j *pilot.Job) { j.Account = "$(x)" },
		"qos":             func(j *pilot.Job) { j.QoS = "a;b c" },
		"walltime":        func(j *pilot.Job) { j.Walltime = "1 hour" },
		"option break":    func(j *pilot.Job) { j.Options = []string{"#SBATCH --mem=1\nrm -rf /"} },
		"negative nodes":  func(j *pilot.Job) { j.Nodes = -1 },
		"negative cpus":   func(j *pilot.Job) { j.CPUsPerNode = -2 },
	} {
		t.Run(name, func(t *testing.T) {
			j := ok
			edit(&j)
			if s, err := Script(j); !isKind(err, fault.Invalid) {
				t.Fatalf("Script(%+v) = %v\n%s\nwant an invalid error", j, err, s)
			}
		})
	}
	for _, w := range []string{"1", "30:00", "1:00:00", "2-12", "2-12:30", "2-12:30:00"} {
		j := ok
		j.Walltime = w
		if _, err := Script(j); err != nil {
			t.Errorf("walltime %q: %v", w, err)
		}
	}
}
