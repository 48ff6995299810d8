package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/routing"
)

func TestPrintStatus(t *testing.T) {
	cases := []struct {
		name string
		st   client.EndpointStatus
		want []string
	}{
		{"healthy host", client.EndpointStatus{
			Load:      &routing.Load{Workers: 4, Idle: 3, Running: 1, Accepting: true},
			Executors: client.Executors{Python: []string{"3.11.2"}, Shell: true, Containers: []string{"docker"}},
			Errors:    []string{},
		}, []string{"4 workers: 3 idle, 1 running, 0 queued; accepting work", "python 3.11.2; shell; containers on docker", "errors:    none"}},
		{"failing scheduler", client.EndpointStatus{
			Load:      &routing.Load{},
			Executors: client.Executors{Shell: true, Batch: &client.Batch{Provider: "slurm", Partition: "gpu", Pending: 2}},
			Errors:    []string{"batch scheduler slurm: sbatch: invalid partition"},
		}, []string{"not accepting work", "in slurm partition gpu blocks: 2 pending, 0 running, 0 workers", "error:     batch scheduler slurm: sbatch: invalid partition"}},
		{"silent", client.EndpointStatus{Errors: []string{"no status: cannot reach"}}, []string{"load:      unknown (no answer)", "error:     no status: cannot reach"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			printStatus(&b, c.st)
			got := strings.Join(strings.Fields(b.String()), " ") // columns are the tabwriter's
			for _, w := range c.want {
				if !strings.Contains(got, strings.Join(strings.Fields(w), " ")) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
