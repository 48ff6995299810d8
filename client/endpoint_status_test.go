package client

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/routing"
)

func TestEndpointStatusOf(t *testing.T) {
	rec := func(b *Batch) EndpointInfo {
		return EndpointInfo{Online: true, Record: &routing.EndpointRecord{ID: "x", Software: routing.Software{Python: []string{"3.11.2"}}, Batch: b}}
	}
	ok := routing.Load{Workers: 4, Idle: 3, Running: 1, Accepting: true}
	cases := []struct {
		name    string
		e       EndpointInfo
		load    routing.Load
		loadErr error
		errors  []string
	}{
		{"healthy", rec(nil), ok, nil, []string{}},
		{"offline and silent", EndpointInfo{Record: &routing.EndpointRecord{ID: "x"}}, routing.Load{}, errors.New("cannot reach"),
			[]string{"offline: no heartbeat heard from it lately", "no status: cannot reach"}},
		{"failing provider", rec(&Batch{Provider: "slurm", Error: "sbatch: invalid partition"}), routing.Load{Workers: 0},
			nil, []string{"not accepting new work (draining, shutting down, its queue full or its scheduler failing)", "batch scheduler slurm: sbatch: invalid partition"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := EndpointStatusOf(c.e, c.load, time.Millisecond, c.loadErr)
			if !reflect.DeepEqual(st.Errors, c.errors) {
				t.Errorf("errors %q, want %q", st.Errors, c.errors)
			}
			if (st.Load == nil) != (c.loadErr != nil) {
				t.Errorf("load %+v with error %v", st.Load, c.loadErr)
			}
			if !st.Executors.Shell || st.Executors.Python == nil || st.Executors.Containers == nil || st.Executors.Batch != c.e.Record.Batch {
				t.Errorf("executors %+v", st.Executors)
			}
		})
	}
}

func TestMatchesFunction(t *testing.T) {
	r := TaskRecord{Function: "bafyfn", FunctionRef: "owner/stats"}
	for f, want := range map[string]bool{"": true, "bafyfn": true, "owner/stats": true, "stats": true, "stat": false, "owner": false, "other/stats": false} {
		if got := r.MatchesFunction(f); got != want {
			t.Errorf("MatchesFunction(%q) = %v, want %v", f, got, want)
		}
	}
}
