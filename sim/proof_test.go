package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
)

// TestProofFailsClosedWithoutCatalog: an endpoint whose catalog cannot
// answer (here: its store is closed) refuses an invocation that carries a
// proof, as unavailable, and runs nothing. It must not take the failure for
// "not known here" and trust the proof without checking that it is the
// latest record.
func TestProofFailsClosedWithoutCatalog(t *testing.T) {
	f := newFixture(t, nil)
	counter := filepath.Join(exectest.SharedDir(t), "count") // the function writes it as its worker uid
	executions := func() int {
		b, _ := os.ReadFile(counter)
		return len(b)
	}
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	fns := map[string]*client.ResolvedFunction{}
	for name, access := range map[string]catalog.Access{
		"count_private": {},             // known to the endpoint only by its proof
		"count_public":  {Public: true}, // known to the endpoint's catalog too
	} {
		fn := catalog.Function{Name: name, Kind: catalog.KindPython, Source: testSource, Entry: "count"}
		if _, err := u.Register(f.ctx, fn, access); err != nil {
			t.Fatal(err)
		}
		res, err := u.Resolve(f.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		fns[name] = res
	}
	run := func(fn *client.ResolvedFunction) error {
		_, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: fn,
			Inputs: inputs(1, fmt.Sprintf(`[%q]`, counter)), Wait: true, WithProof: true})
		return err
	}
	// Both run while the catalog answers, so that a refusal below is the
	// catalog's doing.
	waitFor(t, 10*time.Second, "the endpoint to learn the public function", func() error {
		_, err := f.ep.Catalog().Resolve(fns["count_public"].ID.String())
		return err
	})
	for _, name := range []string{"count_private", "count_public"} {
		if err := run(fns[name]); err != nil {
			t.Fatalf("%s with the catalog open: %v", name, err)
		}
	}
	if n := executions(); n != 2 {
		t.Fatalf("%d executions, want 2", n)
	}

	if err := f.ep.Catalog().Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"count_private", "count_public"} {
		t.Run(name, func(t *testing.T) {
			err := run(fns[name])
			if fault.KindOf(err) != fault.Unavailable || !strings.Contains(err.Error(), "cannot check the record") {
				t.Fatalf("invocation with a proof and no catalog: err = %v, want unavailable", err)
			}
			if n := executions(); n != 2 {
				t.Fatalf("%d executions after a refusal, want 2", n)
			}
		})
	}
}
