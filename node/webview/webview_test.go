package webview

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// memSource is an in-memory Source: the view's own test double.
type memSource struct {
	eps  []Endpoint
	fns  []Function
	self *Self
}

func (m *memSource) Endpoints() []Endpoint { return m.eps }
func (m *memSource) Catalog() []Function   { return m.fns }
func (m *memSource) Self() *Self           { return m.self }

var _ Source = (*memSource)(nil)

// newSource makes two endpoints: gpu-box with a GPU, online; cpu-box
// without, offline.
func newSource(t *testing.T) *memSource {
	t.Helper()
	rec := func(name string, gpus int) *routing.EndpointRecord {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		r := &routing.EndpointRecord{ID: k.ID().String(), Name: name, Seq: 1, Updated: 1, Expires: 2,
			Hardware: routing.Hardware{CPUs: 8, MemoryBytes: 16 << 30, Arch: "amd64", OS: "linux"}}
		for range gpus {
			r.Hardware.GPUs = append(r.Hardware.GPUs, routing.GPU{Model: "NVIDIA H100", MemoryBytes: 80 << 30})
		}
		return r
	}
	return &memSource{eps: []Endpoint{
		{Record: rec("gpu-box", 2), Online: true, Load: &routing.Load{Workers: 4, Idle: 3}},
		{Record: rec("cpu-box", 0)},
	}}
}

const token = "0123456789abcdef-token"

func serve(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Host = "127.0.0.1:8080"
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var metricsOK = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "fxmesh_up 1\n") })

// TestToken: with a token, every path (pages, API, assets, /metrics) is
// 401 without it or with a wrong one; the bearer header or the cookie
// that ?token= sets lets the request through.
func TestToken(t *testing.T) {
	h := New(Options{Source: newSource(t), Token: token, Metrics: metricsOK})
	paths := []string{"/", "/endpoint/x", "/api/mesh", "/api/endpoint/x", "/static/app.js", "/metrics", "/nothing"}
	for _, p := range paths {
		if w := serve(h, "GET", p); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", p, w.Code)
		}
		if w := serve(h, "GET", p, "Authorization", "Bearer wrong-token-0123456789"); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", p, w.Code)
		}
		if w := serve(h, "GET", p+"?token=wrong-token-0123456789"); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s?token=wrong: %d, want 401", p, w.Code)
		}
	}
	for _, p := range []string{"/", "/api/mesh", "/static/app.js", "/metrics"} {
		if w := serve(h, "GET", p, "Authorization", "Bearer "+token); w.Code != http.StatusOK {
			t.Errorf("GET %s with the bearer token: %d, want 200", p, w.Code)
		}
	}
	w := serve(h, "GET", "/?require=gpus%3E%3D1&token="+token)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/?require=gpus%3E%3D1" {
		t.Fatalf("GET /?token=: %d to %q, want 303 to the page without the token", w.Code, w.Header().Get("Location"))
	}
	cookie := w.Result().Cookies()
	if len(cookie) != 1 || cookie[0].Name != TokenCookie || !cookie[0].HttpOnly || cookie[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies %+v: want one HttpOnly, SameSite=Strict %s", cookie, TokenCookie)
	}
	if w := serve(h, "GET", "/api/mesh", "Cookie", cookie[0].Name+"="+cookie[0].Value); w.Code != http.StatusOK {
		t.Errorf("GET /api/mesh with the cookie: %d, want 200", w.Code)
	}
}

// TestLoopbackHostOnly: without a token the view answers only requests
// addressed to a loopback host, not one a web site could point at it.
func TestLoopbackHostOnly(t *testing.T) {
	h := New(Options{Source: newSource(t)})
	for host, want := range map[string]int{
		"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "127.0.0.1": 200,
		"evil.example:8080": 403, "evil.example": 403, "10.1.2.3:8080": 403, "": 403,
	} {
		r := httptest.NewRequest("GET", "/api/mesh", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}

// TestReadOnly: nothing but GET and HEAD is answered.
func TestReadOnly(t *testing.T) {
	h := New(Options{Source: newSource(t), Token: token})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		if w := serve(h, m, "/api/mesh", "Authorization", "Bearer "+token); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, w.Code)
		}
	}
}

// TestFilter: the filter box's requirements are matched on the server,
// by routing's grammar; one that does not parse is a 400 saying why.
func TestFilter(t *testing.T) {
	h := New(Options{Source: newSource(t), Now: func() time.Time { return time.Unix(1, 0) }})
	names := func(q string) []string {
		w := serve(h, "GET", "/api/mesh?require="+q)
		if w.Code != http.StatusOK {
			t.Fatalf("require=%s: %d %s", q, w.Code, w.Body)
		}
		var v MeshView
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range v.Endpoints {
			out = append(out, e.Name)
		}
		return out
	}
	for q, want := range map[string]string{
		"":                          "cpu-box gpu-box",
		"gpus%3E%3D1":               "gpu-box",
		"gpus%3D0":                  "cpu-box",
		"cpus%3E%3D8,+memory%3E8GB": "cpu-box gpu-box",
		"gpu_model%3DA100":          "",
	} {
		if got := strings.Join(names(q), " "); got != want {
			t.Errorf("require=%s: %q, want %q", q, got, want)
		}
	}
	w := serve(h, "GET", "/api/mesh?require=gpus%3Dmany")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "gpus") {
		t.Errorf("a filter that does not parse: %d %s, want 400 naming it", w.Code, w.Body)
	}
}

// TestSummaries: hardware and software in one line each.
func TestSummaries(t *testing.T) {
	hw := routing.Hardware{CPUs: 8, MemoryBytes: 16 << 30, Arch: "amd64", OS: "linux",
		GPUs: []routing.GPU{{Model: "NVIDIA H100", MemoryBytes: 80 << 30}, {Model: "NVIDIA H100", MemoryBytes: 80 << 30}}}
	if got, want := HardwareSummary(&hw), "8 CPUs, 16 GiB, amd64/linux, 2 GPUs (NVIDIA H100 80 GiB ×2)"; got != want {
		t.Errorf("HardwareSummary = %q, want %q", got, want)
	}
	sw := routing.Software{Python: []string{"3.11.7"}, Containers: []string{"docker"}, Images: []string{"a", "b"}, Scheduler: "slurm"}
	if got, want := SoftwareSummary(&sw), "python 3.11.7, docker (2 images), slurm"; got != want {
		t.Errorf("SoftwareSummary = %q, want %q", got, want)
	}
}

// TestBlocks: an endpoint whose functions run in a batch scheduler's
// blocks shows its provider, partition, blocks and error state; one
// without shows none.
func TestBlocks(t *testing.T) {
	src := newSource(t)
	src.eps[0].Record.Batch = &routing.Batch{Provider: "slurm", Partition: "debug", Pending: 1, Running: 2, Workers: 4,
		Error: "sbatch: error: invalid partition specified: nosuch"}
	w := serve(New(Options{Source: src, Now: func() time.Time { return time.Unix(1, 0) }}), "GET", "/api/mesh")
	var v MeshView
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	for _, e := range v.Endpoints {
		switch e.Name {
		case "gpu-box":
			want := BatchView{Provider: "slurm", Partition: "debug", Pending: 1, Running: 2, Workers: 4, Error: "sbatch: error: invalid partition specified: nosuch"}
			if e.Batch == nil || *e.Batch != want {
				t.Errorf("gpu-box's batch = %+v, want %+v", e.Batch, want)
			}
		case "cpu-box":
			if e.Batch != nil {
				t.Errorf("cpu-box runs on its host, but shows batch %+v", e.Batch)
			}
		}
	}
	if !strings.Contains(w.Body.String(), `"batch":{"provider":"slurm"`) {
		t.Errorf("the mesh's JSON has no batch object: %s", w.Body)
	}
}
