package model

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
)

// Result is what one scenario run measured, by the real-code simulation
// (Mode "real", package sim's tests) or by the model (Mode "model"). Times
// are simulated time. A figure a run did not measure is NaN in memory and
// null in JSON.
type Result struct {
	Scenario string `json:"scenario"`
	// Mode is "real" (real nodes on a simulated network) or "model".
	Mode string `json:"mode"`
	// Nodes is how many full nodes the run started with: bootstraps and
	// endpoints.
	Nodes int    `json:"nodes"`
	Seed  uint64 `json:"seed"`
	// SimulatedS is the simulated time the run covered; WallS the wall
	// time it took.
	SimulatedS float64 `json:"simulated_s"`
	WallS      float64 `json:"wall_s"`

	// Catalog convergence: for each publish, the time until every live
	// full node holds the record. Converged is the fraction of publishes
	// that reached every live node before the run gave up on them.
	Publishes              int     `json:"publishes"`
	CatalogConverged       float64 `json:"catalog_converged"`
	CatalogConvergenceP50S float64 `json:"catalog_convergence_p50_s"`
	CatalogConvergenceP99S float64 `json:"catalog_convergence_p99_s"`
	CatalogConvergenceMaxS float64 `json:"catalog_convergence_max_s"`
	// CatalogDeliveryP50S and P99S are over every (publish, node) pair:
	// how long one node waited for one record.
	CatalogDeliveryP50S float64 `json:"catalog_delivery_p50_s"`
	CatalogDeliveryP99S float64 `json:"catalog_delivery_p99_s"`

	// Capability lookups: a success finds at least one live endpoint that
	// meets the requirement, when one exists.
	Lookups       int     `json:"lookups"`
	LookupSuccess float64 `json:"lookup_success"`
	LookupP50Ms   float64 `json:"lookup_p50_ms"`
	LookupP99Ms   float64 `json:"lookup_p99_ms"`
	// LookupHopsP90 is the 90th percentile of a lookup's DHT hops (the
	// model counts them; the real run does not see them: NaN).
	LookupHopsP90 float64 `json:"lookup_hops_p90"`

	// Routed invocations: found by requirement, run, result back.
	Invokes       int     `json:"invokes"`
	InvokeSuccess float64 `json:"invoke_success"`
	InvokeP50Ms   float64 `json:"invoke_p50_ms"`
	InvokeP99Ms   float64 `json:"invoke_p99_ms"`

	// DownDetectionS is, for endpoints that stopped, the median time until
	// every live full node holds them down (missed heartbeats);
	// DownDetectionMaxS the longest.
	DownDetectionS    float64 `json:"down_detection_s"`
	DownDetectionMaxS float64 `json:"down_detection_max_s"`

	// What a node sends at steady state: packets (real) or protocol
	// messages (model), and bytes.
	MessagesPerNodePerMin float64 `json:"messages_per_node_per_min"`
	BytesPerNodePerMin    float64 `json:"bytes_per_node_per_min"`
	// FollowerBytesPerMin is what one node that follows the heartbeats
	// (a bootstrap, or a node serving the web view) sends: it receives
	// every endpoint's beat and relays it to the other followers, so its
	// cost, unlike the others', grows with the endpoints.
	FollowerBytesPerMin float64 `json:"follower_bytes_per_min"`

	// HealConsistencyS is, after a partition heals, the time until every
	// live node holds every record published on either side (partition).
	HealConsistencyS float64 `json:"heal_consistency_s"`
	// Replaced is how many nodes churn replaced (churn).
	Replaced int `json:"replaced"`
}

// NewResult is a Result with every figure unmeasured.
func NewResult(scenario, mode string, nodes int, seed uint64) Result {
	nan := math.NaN()
	return Result{
		Scenario: scenario, Mode: mode, Nodes: nodes, Seed: seed,
		CatalogConverged: nan, CatalogConvergenceP50S: nan, CatalogConvergenceP99S: nan, CatalogConvergenceMaxS: nan,
		CatalogDeliveryP50S: nan, CatalogDeliveryP99S: nan,
		LookupSuccess: nan, LookupP50Ms: nan, LookupP99Ms: nan, LookupHopsP90: nan,
		InvokeSuccess: nan, InvokeP50Ms: nan, InvokeP99Ms: nan,
		DownDetectionS: nan, DownDetectionMaxS: nan,
		MessagesPerNodePerMin: nan, BytesPerNodePerMin: nan, FollowerBytesPerMin: nan, HealConsistencyS: nan,
	}
}

// MarshalJSON writes NaN figures as null.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	b, err := json.Marshal(plain(r.finite()))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range r.nanFields() {
		if v {
			m[k] = nil
		}
	}
	return json.Marshal(m)
}

// fields are the float figures by JSON name.
func (r *Result) fields() map[string]*float64 {
	return map[string]*float64{
		"catalog_converged": &r.CatalogConverged, "catalog_convergence_p50_s": &r.CatalogConvergenceP50S,
		"catalog_convergence_p99_s": &r.CatalogConvergenceP99S, "catalog_convergence_max_s": &r.CatalogConvergenceMaxS,
		"catalog_delivery_p50_s": &r.CatalogDeliveryP50S, "catalog_delivery_p99_s": &r.CatalogDeliveryP99S,
		"lookup_success": &r.LookupSuccess, "lookup_p50_ms": &r.LookupP50Ms, "lookup_p99_ms": &r.LookupP99Ms,
		"lookup_hops_p90": &r.LookupHopsP90,
		"invoke_success":  &r.InvokeSuccess, "invoke_p50_ms": &r.InvokeP50Ms, "invoke_p99_ms": &r.InvokeP99Ms,
		"down_detection_s": &r.DownDetectionS, "down_detection_max_s": &r.DownDetectionMaxS,
		"messages_per_node_per_min": &r.MessagesPerNodePerMin, "bytes_per_node_per_min": &r.BytesPerNodePerMin,
		"follower_bytes_per_min": &r.FollowerBytesPerMin,
		"heal_consistency_s":     &r.HealConsistencyS,
	}
}

func (r Result) nanFields() map[string]bool {
	out := map[string]bool{}
	for k, p := range r.fields() {
		out[k] = math.IsNaN(*p) || math.IsInf(*p, 0)
	}
	return out
}

func (r Result) finite() Result {
	for _, p := range r.fields() {
		if math.IsNaN(*p) || math.IsInf(*p, 0) {
			*p = 0
		}
	}
	return r
}

// WriteTable writes results as one table, a row each, so that real and
// model rows of one scenario sit together.
func WriteTable(w io.Writer, rs ...Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmode\tnodes\tconv p50 s\tconv p99 s\tconv max s\tconverged\tlookup ok\tlookup p50 ms\tlookup p99 ms\tinvoke ok\tinvoke p99 ms\tdown s\tmsgs/node/min\tKB/node/min\tfollower KB/min\theal s\tsim s\twall s\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Scenario, r.Mode, r.Nodes,
			num(r.CatalogConvergenceP50S, 2), num(r.CatalogConvergenceP99S, 2), num(r.CatalogConvergenceMaxS, 2),
			pct(r.CatalogConverged), pct(r.LookupSuccess), num(r.LookupP50Ms, 0), num(r.LookupP99Ms, 0),
			pct(r.InvokeSuccess), num(r.InvokeP99Ms, 0), num(r.DownDetectionS, 1),
			num(r.MessagesPerNodePerMin, 0), num(r.BytesPerNodePerMin/1024, 1), num(r.FollowerBytesPerMin/1024, 1), num(r.HealConsistencyS, 1),
			num(r.SimulatedS, 0), num(r.WallS, 0))
	}
	return tw.Flush()
}

func num(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

// Quantile is the q-quantile (0..1) of xs by the nearest-rank method; NaN
// for none.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Fraction is ok/n; NaN when n is 0.
func Fraction(ok, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(ok) / float64(n)
}
