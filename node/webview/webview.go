package webview

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/routing"
)

//go:embed assets
var assets embed.FS

// Source is what the view shows; the node supplies it. Each call returns
// a snapshot the view may keep.
type Source interface {
	// Endpoints returns every endpoint the node knows of.
	Endpoints() []Endpoint
	// Catalog returns the public functions of the node's catalog.
	Catalog() []Function
	// Self returns the node's own endpoint page; nil on a bootstrap.
	Self() *Self
}

// Endpoint is an endpoint as the node knows it.
type Endpoint struct {
	// Record is its signed record, checked.
	Record *routing.EndpointRecord
	// Online is true while its heartbeats arrive.
	Online bool
	// Load is its last heartbeat; nil if none was heard.
	Load *routing.Load
}

// Function is one public function of the catalog, at its latest version.
type Function struct {
	Owner        string   `json:"owner"`
	Name         string   `json:"name"`
	ID           string   `json:"id"`
	Versions     []uint64 `json:"versions"`
	Kind         string   `json:"kind,omitempty"`
	Description  string   `json:"description,omitempty"`
	Container    string   `json:"container,omitempty"`
	Requirements []string `json:"requirements"`
}

// Self is what the node's own endpoint page shows beyond its record.
type Self struct {
	// ID is the endpoint's ID.
	ID string `json:"id"`
	// Tasks are its recent tasks, newest first.
	Tasks []Task `json:"tasks"`
	// Config summarises its configuration.
	Config Config `json:"config"`
}

// Task is what the view shows of a task: metadata, never inputs,
// results or output.
type Task struct {
	ID        string    `json:"id"`
	Function  string    `json:"function"`
	Caller    string    `json:"caller"`
	Inputs    int       `json:"inputs"`
	State     string    `json:"state"`
	Received  time.Time `json:"received"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	ErrorKind string    `json:"error_kind,omitempty"`
}

// Config is an endpoint's configuration as the view shows it: its policy,
// limits and executors, no secret and no function name.
type Config struct {
	Policy    Policy     `json:"policy"`
	Limits    Limits     `json:"limits"`
	Executors []Executor `json:"executors"`
}

// Policy says whom the endpoint admits.
type Policy struct {
	Owner          string `json:"owner"`
	Public         bool   `json:"public"`
	Allowed        int    `json:"allowed_users"`
	Functions      int    `json:"functions_allowed"` // 0: every function
	RequireMapping bool   `json:"require_mapping"`
	MappedUsers    int    `json:"mapped_users"`
	WorkerUIDs     string `json:"worker_uids,omitempty"`
}

// Limits are the endpoint's bounds.
type Limits struct {
	Workers        int    `json:"workers"`
	MaxQueue       int    `json:"max_queue"`
	MaxInputBytes  int    `json:"max_input_bytes"`
	MaxOutputBytes int    `json:"max_output_bytes"`
	MaxTimeout     string `json:"max_timeout"`
	TaskRetention  string `json:"task_retention"`
}

// Executor is one of the endpoint's executors and its load.
type Executor struct {
	Kind    string `json:"kind"`
	Runtime string `json:"runtime,omitempty"`
	Workers int    `json:"workers"`
	Idle    int    `json:"idle"`
	Running int    `json:"running"`
	Queued  int    `json:"queued"`
}

// Options configure New.
type Options struct {
	// Source is what the view shows.
	Source Source
	// NodeID and Role name the node that serves the view.
	NodeID, Role string
	// Token, when not empty, is required of every request.
	Token string
	// Metrics, when not nil, serves /metrics (behind the token too).
	Metrics http.Handler
	// HeartbeatTimeout is how long after its last heartbeat an endpoint
	// shows offline, for the page to say; zero means unknown.
	HeartbeatTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenCookie is the cookie that carries the token after a ?token= visit.
const TokenCookie = "fxmesh_token"

// handler is the view.
type handler struct {
	opts   Options
	mux    *http.ServeMux
	static http.Handler
}

// New returns the view's handler.
func New(opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &handler{opts: opts, mux: http.NewServeMux()}
	sub, _ := fs.Sub(assets, "assets")
	h.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	h.mux.HandleFunc("GET /{$}", h.page)
	h.mux.HandleFunc("GET /endpoint/{id}", h.page)
	h.mux.Handle("GET /static/", h.static)
	h.mux.HandleFunc("GET /api/mesh", h.mesh)
	h.mux.HandleFunc("GET /api/endpoint/{id}", h.endpoint)
	if opts.Metrics != nil {
		h.mux.Handle("GET /metrics", opts.Metrics)
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the web view is read-only", http.StatusMethodNotAllowed)
		return
	}
	if !h.authorized(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized checks the request's token, or without a token its Host; it
// answers the request itself when it returns false. A page visited with
// ?token= that matches gets the cookie and is sent to itself without it.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.opts.Token == "" {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !IsLoopbackHost(host) {
			http.Error(w, "this view answers only to a loopback host name (localhost, 127.0.0.1, [::1])", http.StatusForbidden)
			return false
		}
		return true
	}
	if q := r.URL.Query().Get("token"); q != "" && h.matches(q) {
		http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		u := *r.URL
		qs := u.Query()
		qs.Del("token")
		u.RawQuery = qs.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && h.matches(strings.TrimSpace(bearer)) {
		return true
	}
	if c, err := r.Cookie(TokenCookie); err == nil && h.matches(c.Value) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="fxnode"`)
	http.Error(w, "this view needs the node's http_token: open it once with ?token=TOKEN, or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
	return false
}

// matches compares a token in constant time.
func (h *handler) matches(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(h.opts.Token)) == 1
}

// page serves the one page; its script renders the mesh or an endpoint
// from the path.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// writeJSON writes v as the answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is the answer to a request the API cannot serve.
type apiError struct {
	Error string `json:"error"`
}

// IsLoopbackHost reports whether host, the HOST of a HOST:PORT, names
// only this machine: localhost, or a loopback IP address. An empty host
// (every interface), another name, or any other address is not.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && a.Unmap().IsLoopback()
}
