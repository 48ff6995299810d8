package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/invoke"
)

// TestEndpointStatusLive: fx endpoint show's live status of a real
// endpoint whose functions run in local blocks: its load as it answers,
// its executors with the batch provider, no error; then, with a partition
// the scheduler refuses, the failing provider's message among the errors.
func TestEndpointStatusLive(t *testing.T) {
	f := pilotFixture(t, nil)
	e, err := f.client.Endpoint(f.ctx, f.ep.ID())
	if err != nil {
		t.Fatal(err)
	}
	st := f.client.EndpointStatus(f.ctx, *e, 10*time.Second)
	if st.Load == nil || !st.Load.Accepting || st.Load.ID != f.ep.ID().String() {
		t.Fatalf("load %+v (errors %q), want the endpoint's answer, accepting", st.Load, st.Errors)
	}
	x := st.Executors
	if !x.Shell || x.Python == nil || x.Batch == nil || x.Batch.Provider != "local" {
		t.Fatalf("executors %+v, want shell, python (the record's versions, none here) and the local provider's blocks", x)
	}
	if len(st.Errors) != 0 {
		t.Fatalf("errors %q, want none", st.Errors)
	}

	bad := pilotFixture(t, func(c *Config) { c.Batch.Partition = "nosuch" })
	ctx, cancel := context.WithTimeout(bad.ctx, 10*time.Second)
	defer cancel()
	go bad.client.Invoke(ctx, client.InvokeRequest{Endpoint: bad.ep.ID(), Function: bad.fns["env"], Inputs: []invoke.Input{{Args: []byte(`["X"]`)}}, Wait: true})
	var last client.EndpointStatus
	waitUntil(t, 10*time.Second, "the failing provider among the errors", func() bool {
		e, err := bad.client.Endpoint(context.Background(), bad.ep.ID())
		if err != nil {
			return false
		}
		last = bad.client.EndpointStatus(context.Background(), *e, 10*time.Second)
		for _, s := range last.Errors {
			if strings.HasPrefix(s, "batch scheduler local: ") && strings.Contains(s, "invalid partition specified: nosuch") {
				return true
			}
		}
		return false
	})
	if last.Load == nil || last.Load.Accepting {
		t.Errorf("load %+v of an endpoint whose blocks all fail, want an answer that refuses work", last.Load)
	}
	t.Logf("errors: %q", last.Errors)
}
