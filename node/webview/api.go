package webview

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/routing"
)

// MeshView is the answer of /api/mesh.
type MeshView struct {
	Node             NodeView       `json:"node"`
	Now              time.Time      `json:"now"`
	HeartbeatTimeout string         `json:"heartbeat_timeout,omitempty"`
	Filter           []string       `json:"filter"`
	Total            int            `json:"total"` // endpoints known, before the filter
	Endpoints        []EndpointView `json:"endpoints"`
	Catalog          []Function     `json:"catalog"`
}

// NodeView names the node serving the view.
type NodeView struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// EndpointView is an endpoint as the page shows it.
type EndpointView struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Owner         string            `json:"owner"`
	OwnerVerified bool              `json:"owner_verified"`
	Online        bool              `json:"online"`
	Hardware      string            `json:"hardware"`
	Software      string            `json:"software"`
	GPUs          int               `json:"gpus"`
	Labels        map[string]string `json:"labels"`
	Datasets      []string          `json:"datasets"`
	Load          *LoadView         `json:"load"`
	Public        bool              `json:"public"`
	Updated       time.Time         `json:"updated"`
	// Batch is the endpoint's batch scheduler and its blocks, as its
	// record last said; nil when functions run on the endpoint's host.
	Batch *BatchView `json:"batch,omitempty"`
}

// BatchView is an endpoint's batch scheduler and its blocks (pilot jobs).
type BatchView struct {
	Provider  string `json:"provider"`
	Partition string `json:"partition,omitempty"`
	Pending   int    `json:"pending"`
	Running   int    `json:"running"`
	Workers   int    `json:"workers"`
	// Error is why blocks keep failing, with the scheduler's message.
	Error string `json:"error,omitempty"`
}

// LoadView is an endpoint's last heartbeat.
type LoadView struct {
	Workers   int       `json:"workers"`
	Idle      int       `json:"idle"`
	Running   int       `json:"running"`
	Queued    int       `json:"queued"`
	Accepting bool      `json:"accepting"`
	At        time.Time `json:"at"`
}

// EndpointPage is the answer of /api/endpoint/ID.
type EndpointPage struct {
	Node     NodeView     `json:"node"`
	Endpoint EndpointView `json:"endpoint"`
	// Self is set when the endpoint is the node serving the view: only
	// then are its tasks and configuration known.
	Self *Self `json:"self,omitempty"`
}

// ParseFilter reads the filter box: requirements as --require takes them,
// separated by spaces or commas.
func ParseFilter(s string) ([]routing.Requirement, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	return routing.ParseRequirements(fields)
}

func (h *handler) node() NodeView { return NodeView{ID: h.opts.NodeID, Role: h.opts.Role} }

func (h *handler) mesh(w http.ResponseWriter, r *http.Request) {
	reqs, err := ParseFilter(r.URL.Query().Get("require"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	all := h.opts.Source.Endpoints()
	v := MeshView{Node: h.node(), Now: h.opts.Now().UTC(), Total: len(all), Filter: []string{}, Endpoints: []EndpointView{}, Catalog: h.opts.Source.Catalog()}
	if v.Catalog == nil {
		v.Catalog = []Function{}
	}
	if h.opts.HeartbeatTimeout > 0 {
		v.HeartbeatTimeout = h.opts.HeartbeatTimeout.String()
	}
	for _, rq := range reqs {
		v.Filter = append(v.Filter, rq.String())
	}
	for _, e := range Match(all, reqs) {
		v.Endpoints = append(v.Endpoints, ViewOf(e))
	}
	slices.SortFunc(v.Endpoints, func(a, b EndpointView) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	writeJSON(w, http.StatusOK, v)
}

// Match keeps the endpoints that meet every requirement of reqs.
func Match(all []Endpoint, reqs []routing.Requirement) []Endpoint {
	var out []Endpoint
next:
	for _, e := range all {
		for _, rq := range reqs {
			if ok, _ := rq.Met(e.Record); !ok {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

func (h *handler) endpoint(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, e := range h.opts.Source.Endpoints() {
		if e.Record.ID != id {
			continue
		}
		p := EndpointPage{Node: h.node(), Endpoint: ViewOf(e)}
		if self := h.opts.Source.Self(); self != nil && self.ID == id {
			p.Self = self
		}
		writeJSON(w, http.StatusOK, p)
		return
	}
	writeJSON(w, http.StatusNotFound, apiError{Error: "no endpoint " + id + " is known here"})
}

// ViewOf is e as the page shows it.
func ViewOf(e Endpoint) EndpointView {
	rec := e.Record
	v := EndpointView{
		ID: rec.ID, Name: rec.Name, Owner: rec.Owner, OwnerVerified: rec.OwnerVerified,
		Online:   e.Online,
		Hardware: HardwareSummary(&rec.Hardware), Software: SoftwareSummary(&rec.Software),
		GPUs: len(rec.Hardware.GPUs), Labels: rec.Labels, Datasets: rec.Datasets,
		Public: rec.Public, Updated: rec.UpdatedAt(),
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Datasets == nil {
		v.Datasets = []string{}
	}
	if b := rec.Batch; b != nil {
		v.Batch = &BatchView{Provider: b.Provider, Partition: b.Partition, Pending: b.Pending, Running: b.Running, Workers: b.Workers, Error: b.Error}
	}
	if l := e.Load; l != nil {
		v.Load = &LoadView{Workers: l.Workers, Idle: l.Idle, Running: l.Running, Queued: l.Queued, Accepting: l.Accepting, At: l.At}
	}
	return v
}

// HardwareSummary writes hw in one line: "8 CPUs, 31.2 GiB, amd64/linux,
// 2 GPUs (NVIDIA H100 80 GiB ×2)".
func HardwareSummary(hw *routing.Hardware) string {
	parts := []string{fmt.Sprintf("%d CPUs", hw.CPUs)}
	if hw.MemoryBytes > 0 {
		parts = append(parts, routing.FormatBytes(hw.MemoryBytes))
	}
	if hw.Arch != "" || hw.OS != "" {
		parts = append(parts, hw.Arch+"/"+hw.OS)
	}
	if len(hw.GPUs) > 0 {
		counts := map[string]int{}
		for _, g := range hw.GPUs {
			m := g.Model
			if g.MemoryBytes > 0 {
				m += " " + routing.FormatBytes(g.MemoryBytes)
			}
			counts[m]++
		}
		var models []string
		for _, m := range slices.Sorted(maps.Keys(counts)) {
			if counts[m] > 1 {
				m = fmt.Sprintf("%s ×%d", m, counts[m])
			}
			models = append(models, m)
		}
		noun := "GPUs"
		if len(hw.GPUs) == 1 {
			noun = "GPU"
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", len(hw.GPUs), noun, strings.Join(models, ", ")))
	}
	return strings.Join(parts, ", ")
}

// SoftwareSummary writes sw in one line: "python 3.11.7, docker (12
// images), slurm".
func SoftwareSummary(sw *routing.Software) string {
	var parts []string
	if len(sw.Python) > 0 {
		parts = append(parts, "python "+strings.Join(sw.Python, " "))
	}
	if len(sw.Containers) > 0 {
		c := strings.Join(sw.Containers, " ")
		switch {
		case sw.PullImages:
			c += fmt.Sprintf(" (%d images, pulls)", len(sw.Images))
		default:
			c += fmt.Sprintf(" (%d images)", len(sw.Images))
		}
		parts = append(parts, c)
	}
	if sw.Scheduler != "" {
		parts = append(parts, sw.Scheduler)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
