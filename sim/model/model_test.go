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
