package localapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
)

// Version is the API's MAJOR.MINOR; Major is its major.
const (
	Version = "1.1"
	Major   = 1
)

// VersionHeader carries the API version on every request and response.
const VersionHeader = "Fx-Api-Version"

// maxBody bounds a request's body.
const maxBody = 64 << 20

// Options configure New.
type Options struct {
	// Client is the mesh client the server shares; required. The server
	// does not close it.
	Client *client.Client
	// Key is the user's key, for the user's catalog; required.
	Key *identity.Key
	// Home is the user's $FX_HOME: its catalog, task record and owner.
	Home client.Home
	// Bootstrap is what /v1/version reports.
	Bootstrap []string
	// Socket is what /v1/version reports.
	Socket string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves the local API.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	uid  uint32 // owner of Home: the only uid served on the socket
	tok  string // the TCP token; "" until ServeTCP

	ctx    context.Context // ends with Close: bounds every followed task
	cancel context.CancelFunc
	wg     sync.WaitGroup // followers and the feed sweeper

	mu     sync.Mutex // guards feeds, fns, hsrv and closed
	feeds  map[string]*feed
	fns    map[string]cachedFn
	routes routeCache    // recent rankings of routed tasks
	gen    atomic.Uint64 // reader generations
	active atomic.Int64  // requests in progress, feeds read and tasks followed
	last   atomic.Int64  // unix nanos of the last activity

	hsrv   []*http.Server
	closed bool // by Close: no more serving
}

type cachedFn struct {
	fn *client.ResolvedFunction
	at time.Time
}

// New makes a server for the user owning opts.Home.
func New(opts Options) (*Server, error) {
	if opts.Client == nil || opts.Key == nil || opts.Home.Dir == "" {
		return nil, errors.New("localapi: Client, Key and Home are required")
	}
	st, err := os.Stat(opts.Home.Dir)
	if err != nil {
		return nil, fmt.Errorf("localapi: %w", err)
	}
	uid, ok := ownerUID(st)
	if !ok {
		return nil, errors.New("localapi: cannot tell who owns " + opts.Home.Dir)
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, uid: uid, feeds: map[string]*feed{}, fns: map[string]cachedFn{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.touch()
	s.wg.Add(1)
	go s.sweep()
	return s, nil
}

// Close stops serving, ends every followed task's wait (the tasks run on)
// and waits for the server's goroutines.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	hs := s.hsrv
	s.closed = true
	for _, f := range s.feeds {
		f.drop()
	}
	s.mu.Unlock()
	var errs []error
	for _, h := range hs {
		errs = append(errs, h.Close())
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// IdleSince reports when the server was last busy, or the zero time while
// it is: a request in progress, a feed read or a task followed.
func (s *Server) IdleSince() time.Time {
	if s.active.Load() > 0 {
		return time.Time{}
	}
	return time.Unix(0, s.last.Load())
}

func (s *Server) touch()  { s.last.Store(s.now().UnixNano()) }
func (s *Server) busy()   { s.active.Add(1); s.touch() }
func (s *Server) unbusy() { s.touch(); s.active.Add(-1) }

// sweep drops feeds without a reader for feedIdle.
func (s *Server) sweep() {
	defer s.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		cut := s.now().Add(-feedIdle)
		s.mu.Lock()
		for id, f := range s.feeds {
			if f.unread(cut) {
				f.drop()
				delete(s.feeds, id)
			}
		}
		s.mu.Unlock()
	}
}

// transport says how a request came: by the unix socket or TCP.
type connInfo struct {
	unix bool
	uid  uint32
	err  error // the uid could not be read
}

type connKey struct{}

// ServeUnix serves the API on ln, a unix socket listener, to the uid that
// owns Home only; it returns when ln closes.
func (s *Server) ServeUnix(ln net.Listener) error {
	h := &http.Server{
		Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ci := connInfo{unix: true}
			if uc, ok := c.(*net.UnixConn); ok {
				ci.uid, ci.err = peerUID(uc)
			} else {
				ci.err = errors.New("not a unix socket connection")
			}
			return context.WithValue(ctx, connKey{}, ci)
		},
	}
	return s.serve(h, ln)
}

// serve serves h on ln until Close.
func (s *Server) serve(h *http.Server, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.hsrv = append(s.hsrv, h)
	s.mu.Unlock()
	err := h.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// NewToken makes the token that ServeTCP requires and returns it.
func (s *Server) NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s.tok = hex.EncodeToString(b)
	return s.tok, nil
}

// ServeTCP serves the API on ln, a loopback TCP listener, to requests
// that carry the token (NewToken).
func (s *Server) ServeTCP(ln net.Listener) error {
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		return fault.E(fault.Invalid, "localapi", "%s is not a loopback address", ln.Addr())
	}
	if s.tok == "" {
		return errors.New("localapi: ServeTCP without a token")
	}
	h := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second}
	return s.serve(h, ln)
}

// apiError is an error with one of the reasons of docs/local-api.md.
type apiError struct {
	reason string
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

// errorJSON is the error object of docs/local-api.md.
type errorJSON struct {
	Kind             string `json:"kind"`
	Message          string `json:"message"`
	ExitCode         int    `json:"exit_code"`
	Reason           string `json:"reason,omitempty"`
	Type             string `json:"type,omitempty"`
	Traceback        string `json:"traceback,omitempty"`
	ServerAPIVersion string `json:"server_api_version,omitempty"`
}

func errorOf(err error) *errorJSON {
	if err == nil {
		return nil
	}
	k := fault.KindOf(err)
	e := &errorJSON{Kind: string(k), Message: err.Error(), ExitCode: k.ExitCode()}
	var ae *apiError
	if errors.As(err, &ae) {
		e.Reason = ae.reason
		if ae.reason == "api_version" {
			e.ServerAPIVersion = Version
		}
	}
	return e
}

// wireError is a task's or an input's error as the API shows it.
func wireError(e *client.ResultError) *errorJSON {
	if e == nil {
		return nil
	}
	k := fault.Kind(e.Kind)
	return &errorJSON{Kind: e.Kind, Message: e.Message, ExitCode: k.ExitCode(), Type: e.Type, Traceback: e.Traceback}
}

// statusByKind is the HTTP status of each kind, as docs/local-api.md has
// it; a kind not here is an internal server error.
var statusByKind = map[fault.Kind]int{
	fault.User:        http.StatusUnprocessableEntity,
	fault.Invalid:     http.StatusBadRequest,
	fault.Denied:      http.StatusForbidden,
	fault.NotFound:    http.StatusNotFound,
	fault.Timeout:     http.StatusGatewayTimeout,
	fault.Expired:     http.StatusGone,
	fault.Unavailable: http.StatusServiceUnavailable,
	fault.Overloaded:  http.StatusTooManyRequests,
	fault.TooLarge:    http.StatusRequestEntityTooLarge,
	fault.Replayed:    http.StatusConflict,
	fault.System:      http.StatusBadGateway,
}

// statusOf maps a kind to the HTTP status of docs/local-api.md.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) && ae.reason == "token" {
		return http.StatusUnauthorized
	}
	if code, ok := statusByKind[fault.KindOf(err)]; ok {
		return code
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, body map[string]any) {
	body["api_version"] = Version
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), map[string]any{"error": errorOf(err)})
}

var versionPath = regexp.MustCompile(`^/v([0-9]+)(/|$)`)

// Handler is the API, with the peer and version checks in front.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", s.version)
	mux.HandleFunc("GET /v1/endpoints", s.endpoints)
	mux.HandleFunc("GET /v1/endpoints/{id}", s.endpoint)
	mux.HandleFunc("GET /v1/functions", s.functions)
	mux.HandleFunc("POST /v1/functions", s.register)
	mux.HandleFunc("POST /v1/functions/resolve", s.resolve)
	mux.HandleFunc("POST /v1/submit", s.submit)
	mux.HandleFunc("POST /v1/run", s.run)
	mux.HandleFunc("GET /v1/feed", s.feed)
	mux.HandleFunc("POST "+sessionPath, s.session)
	mux.HandleFunc("POST /v1/follow", s.follow)
	mux.HandleFunc("GET /v1/tasks", s.tasks)
	mux.HandleFunc("GET /v1/tasks/{id}", s.task)
	mux.HandleFunc("GET /v1/tasks/{id}/results", s.results)
	mux.HandleFunc("POST /v1/tasks/{id}/cancel", s.cancelTask)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(VersionHeader, Version)
		if err := s.admit(r); err != nil {
			w.Header().Set("Connection", "close")
			writeError(w, err)
			return
		}
		if m := versionPath.FindStringSubmatch(r.URL.Path); m == nil || m[1] != strconv.Itoa(Major) {
			if m == nil {
				writeError(w, fault.E(fault.NotFound, "", "no such path %s; the API is under /v%d/", r.URL.Path, Major))
				return
			}
			writeError(w, &apiError{"api_version", fault.E(fault.Invalid, "", "this is the fx local API %s; the client asked for major version %s", Version, m[1])})
			return
		}
		if v := r.Header.Get(VersionHeader); v != "" {
			major, _, _ := strings.Cut(v, ".")
			if major != strconv.Itoa(Major) {
				writeError(w, &apiError{"api_version", fault.E(fault.Invalid, "", "this is the fx local API %s; the client speaks %s", Version, v)})
				return
			}
		}
		s.busy()
		defer s.unbusy()
		if r.URL.Path != sessionPath {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody) // a session bounds each of its lines
		}
		mux.ServeHTTP(w, r)
	})
}

// admit lets in the owner of Home on the socket, and on TCP requests with
// the token.
func (s *Server) admit(r *http.Request) error {
	ci, ok := r.Context().Value(connKey{}).(connInfo)
	if ok && ci.unix {
		switch {
		case ci.err != nil:
			return &apiError{"peer_uid", fault.E(fault.Denied, "", "cannot tell who connected: %v", ci.err)}
		case ci.uid != s.uid:
			return &apiError{"peer_uid", fault.E(fault.Denied, "", "uid %d may not use the fx API of uid %d", ci.uid, s.uid)}
		}
		return nil
	}
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if s.tok == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.tok)) != 1 {
		return &apiError{"token", fault.E(fault.Denied, "", "missing or wrong token (see serve.token in $FX_HOME)")}
	}
	return nil
}

// decode reads a JSON body into v, strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.E(fault.TooLarge, "", "request body over %d bytes", maxBody)
		}
		if errors.Is(err, io.EOF) {
			return fault.E(fault.Invalid, "", "empty request body; send a JSON object")
		}
		return fault.E(fault.Invalid, "", "request body: %v", err)
	}
	return nil
}
