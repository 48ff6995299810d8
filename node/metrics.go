package node

import (
	"runtime"
	"runtime/debug"
	"time"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a node's Prometheus metrics, in a registry of its own (many
// nodes share a process in tests). Every name starts with fxmesh_, counts
// end in _total, times are in seconds; no label carries a task, user or
// function ID, so that the number of series stays bounded whatever the
// callers do.
type metrics struct {
	reg *prometheus.Registry

	admitted     prometheus.Counter
	refused      *prometheus.CounterVec // reason: a fault kind
	finished     *prometheus.CounterVec // outcome: done, failed
	duration     *prometheus.HistogramVec
	running      prometheus.Gauge
	gossip       *prometheus.CounterVec // topic, result
	dhtLookups   *prometheus.CounterVec // op, result
	dhtDuration  *prometheus.HistogramVec
	recordsKnown *prometheus.GaugeVec // state: online, offline (the web view's directory)
}

// taskDurationBuckets, in seconds: from a warm call (milliseconds) to a
// long batch (hours).
var taskDurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600}

func newMetrics(role Role) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := factory{m.reg}
	version, goVersion := buildVersion()
	f.gauge(prometheus.GaugeOpts{Name: "fxmesh_build_info", Help: "Always 1; the labels say which fxnode this is.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion, "role": role.String()}}).Set(1)
	m.admitted = f.counter(prometheus.CounterOpts{Name: "fxmesh_tasks_admitted_total", Help: "Invocations admitted as tasks."})
	m.refused = f.counterVec(prometheus.CounterOpts{Name: "fxmesh_tasks_refused_total", Help: "Invocations refused, by reason (the fault kind: denied, expired, replayed, overloaded…)."}, "reason")
	m.finished = f.counterVec(prometheus.CounterOpts{Name: "fxmesh_tasks_finished_total", Help: "Tasks finished, by outcome: done (every input has a result, errors included) or failed."}, "outcome")
	m.duration = f.histogramVec(prometheus.HistogramOpts{Name: "fxmesh_task_duration_seconds", Help: "Time from a task's admission to its end, by outcome.",
		Buckets: taskDurationBuckets}, "outcome")
	m.running = f.gauge(prometheus.GaugeOpts{Name: "fxmesh_tasks_running", Help: "Tasks admitted and not finished."})
	m.gossip = f.counterVec(prometheus.CounterOpts{Name: "fxmesh_gossip_messages_total", Help: "Gossip messages validated (the node's own included), by topic (catalog, load) and verdict (accepted, rejected, ignored)."}, "topic", "result")
	m.dhtLookups = f.counterVec(prometheus.CounterOpts{Name: "fxmesh_dht_lookups_total", Help: "DHT operations this node started, by operation and result (ok, error)."}, "op", "result")
	m.dhtDuration = f.histogramVec(prometheus.HistogramOpts{Name: "fxmesh_dht_lookup_duration_seconds", Help: "Time of the DHT operations this node started, by operation.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, "op")
	m.recordsKnown = f.gaugeVec(prometheus.GaugeOpts{Name: "fxmesh_endpoints_known", Help: "Endpoints the web view knows of, by state (online, offline); only while http_listen is set."}, "state")
	// The series every node has, at zero until something happens, so that
	// rates and alerts see them from the start.
	for _, o := range []string{"done", "failed"} {
		m.finished.WithLabelValues(o)
		m.duration.WithLabelValues(o)
	}
	for _, topic := range []string{"catalog", "load"} {
		for _, r := range []string{"accepted", "rejected", "ignored"} {
			m.gossip.WithLabelValues(topic, r)
		}
	}
	for _, op := range []string{"put_record", "provide", "find_providers", "get_record"} {
		for _, r := range []string{"ok", "error"} {
			m.dhtLookups.WithLabelValues(op, r)
		}
		m.dhtDuration.WithLabelValues(op)
	}
	return m
}

// factory registers what it makes in reg.
type factory struct{ reg *prometheus.Registry }

// registered registers c in reg and returns it.
func registered[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	reg.MustRegister(c)
	return c
}

func (f factory) counter(o prometheus.CounterOpts) prometheus.Counter {
	return registered(f.reg, prometheus.NewCounter(o))
}

func (f factory) counterVec(o prometheus.CounterOpts, labels ...string) *prometheus.CounterVec {
	return registered(f.reg, prometheus.NewCounterVec(o, labels))
}

func (f factory) gauge(o prometheus.GaugeOpts) prometheus.Gauge {
	return registered(f.reg, prometheus.NewGauge(o))
}

func (f factory) gaugeVec(o prometheus.GaugeOpts, labels ...string) *prometheus.GaugeVec {
	return registered(f.reg, prometheus.NewGaugeVec(o, labels))
}

func (f factory) gaugeFunc(o prometheus.GaugeOpts, fn func() float64) {
	registered(f.reg, prometheus.NewGaugeFunc(o, fn))
}

func (f factory) histogramVec(o prometheus.HistogramOpts, labels ...string) *prometheus.HistogramVec {
	return registered(f.reg, prometheus.NewHistogramVec(o, labels))
}

// buildVersion is fxnode's module version ("(devel)" in a build from a
// work tree) and the Go version it was built with.
func buildVersion() (version, goVersion string) {
	version = "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	return version, runtime.Version()
}

// observeNode registers the gauges read from the node when scraped: peers,
// catalog, and on an endpoint its workers and queue.
func (m *metrics) observeNode(n *Node) {
	f := factory{m.reg}
	f.gaugeFunc(prometheus.GaugeOpts{Name: "fxmesh_peers_connected", Help: "Peers this node holds a connection with."},
		func() float64 { return float64(len(n.host.Network().Peers())) })
	names := func() float64 { return float64(n.catalog.Stats().Names - n.catalog.Stats().Deleted) }
	f.gaugeFunc(prometheus.GaugeOpts{Name: "fxmesh_catalog_records", Help: "Functions (OWNER/NAME) in this node's catalog, deleted ones not counted."}, names)
	f.gaugeFunc(prometheus.GaugeOpts{Name: "fxmesh_catalog_bodies", Help: "Function versions whose code this node's catalog holds."},
		func() float64 { return float64(n.catalog.Stats().Functions) })
	if n.ep == nil {
		return
	}
	workers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fxmesh_workers", Help: "Warm Python workers, by state.", ConstLabels: prometheus.Labels{"state": "idle"}},
		func() float64 { return float64(n.ep.executors.load().Idle) })
	busy := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fxmesh_workers", Help: "Warm Python workers, by state.", ConstLabels: prometheus.Labels{"state": "busy"}},
		func() float64 { st := n.ep.executors.load(); return float64(st.Workers - st.Idle) })
	m.reg.MustRegister(workers, busy)
	f.gaugeFunc(prometheus.GaugeOpts{Name: "fxmesh_task_inputs_queued", Help: "Inputs waiting for a worker, at every executor."},
		func() float64 { return float64(n.ep.executors.load().Queued) })
	if n.ep.pilot != nil {
		m.observeBlocks(n.ep.pilot)
	}
}

// observeBlocks registers the batch scheduler's blocks by state (pending:
// submitted, agent not connected; running: taking tasks; draining: near
// their walltime, taking none) and whether its provider is in an error
// state, read from blocks when scraped.
func (m *metrics) observeBlocks(blocks *pilot.Manager) {
	const help = "Batch scheduler blocks (pilot jobs), by state: pending, running, draining."
	for _, st := range []struct {
		state string
		count func(pilot.Summary) int
	}{
		{"pending", func(s pilot.Summary) int { return s.Pending }},
		{"running", func(s pilot.Summary) int { return s.Running }},
		{"draining", func(s pilot.Summary) int { return s.Draining }},
	} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fxmesh_blocks", Help: help, ConstLabels: prometheus.Labels{"state": st.state}},
			func() float64 { return float64(st.count(blocks.Summary())) }))
	}
	factory{m.reg}.gaugeFunc(prometheus.GaugeOpts{Name: "fxmesh_blocks_failing", Help: "1 while blocks keep failing to submit or start (the endpoint's error state), else 0."},
		func() float64 {
			if blocks.Summary().Error != "" {
				return 1
			}
			return 0
		})
}

// dht times one DHT operation of this node and counts it.
func (m *metrics) dht(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.dhtLookups.WithLabelValues(op, result).Inc()
	m.dhtDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
