package model

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestModelScenarios runs every scenario at 200 nodes and checks what a
// healthy mesh must show.
func TestModelScenarios(t *testing.T) {
	for _, sc := range []string{"steady", "churn", "partition", "bootstrap-loss"} {
		t.Run(sc, func(t *testing.T) {
			var tab bytes.Buffer
			res, err := Run(Config{Scenario: sc, Nodes: 200, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			WriteTable(&tab, res)
			t.Log("\n" + tab.String())
			if res.CatalogConverged != 1 {
				t.Errorf("catalog converged for %.0f%% of publishes", 100*res.CatalogConverged)
			}
			if res.LookupSuccess < 0.99 {
				t.Errorf("lookup success %.1f%%", 100*res.LookupSuccess)
			}
			if sc == "partition" && math.IsNaN(res.HealConsistencyS) {
				t.Error("the partition never healed")
			}
			if res.BytesPerNodePerMin <= 0 {
				t.Error("no traffic")
			}
		})
	}
}

// TestNodeCostIndependentOfMeshSize: with the heartbeats followed by the
// bootstraps only, what a node sends at rest on average does not grow with
// the mesh (200 and 1,000 nodes, three bootstraps each), while a
// follower's grows with the endpoints whose beats it relays.
func TestNodeCostIndependentOfMeshSize(t *testing.T) {
	run := func(n int) Result {
		res, err := Run(Config{Scenario: "steady", Nodes: n, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	small, large := run(200), run(1000)
	t.Logf("bytes/node/min %.0f at 200 nodes, %.0f at 1,000; a follower's %.0f and %.0f",
		small.BytesPerNodePerMin, large.BytesPerNodePerMin, small.FollowerBytesPerMin, large.FollowerBytesPerMin)
	if r := large.BytesPerNodePerMin / small.BytesPerNodePerMin; r > 1.2 || r < 0.8 {
		t.Errorf("a node's traffic at 1,000 nodes is %.2f times that at 200: it should not depend on the mesh's size", r)
	}
	if r := large.FollowerBytesPerMin / small.FollowerBytesPerMin; r < 3 {
		t.Errorf("a follower's traffic at 1,000 nodes is %.2f times that at 200: it should grow with the endpoints", r)
	}
}

// TestResultJSON checks the JSON object's keys and that an unmeasured
// figure is null.
func TestResultJSON(t *testing.T) {
	r := NewResult("steady", "model", 10, 1)
	r.LookupSuccess = 1
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"nodes", "catalog_convergence_p50_s", "catalog_convergence_p99_s", "lookup_success", "lookup_p99_ms", "invoke_success", "down_detection_s", "bytes_per_node_per_min"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s in %s", k, b)
		}
	}
	if m["lookup_success"] != 1.0 || m["lookup_p99_ms"] != nil {
		t.Errorf("lookup_success %v, lookup_p99_ms %v: want 1 and null", m["lookup_success"], m["lookup_p99_ms"])
	}
	if !strings.Contains(string(b), `"nodes":10`) {
		t.Errorf("nodes: %s", b)
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ q, want float64 }{{0.5, 3}, {0.99, 5}, {1, 5}, {0, 1}, {0.2, 1}, {0.21, 2}} {
		if got := Quantile(xs, c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of none is not NaN")
	}
}
