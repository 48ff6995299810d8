package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/node/webview"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// webServer serves the web view and /metrics on http_listen.
type webServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
}

// startWeb listens on http_listen and serves the web view and /metrics;
// it starts the directory of endpoints the view lists.
func (n *Node) startWeb() error {
	ln, err := net.Listen("tcp", n.config().HTTPListen)
	if err != nil {
		return fmt.Errorf("node: http_listen: %w", err)
	}
	d := newDirectory(n)
	n.dirMu.Lock()
	n.mesh = d
	n.dirMu.Unlock()
	n.wg.Add(1)
	go d.run()
	h := webview.New(webview.Options{
		Source: &webSource{n: n, d: d}, NodeID: n.ID().String(), Role: n.role.String(),
		Token:            n.config().HTTPToken,
		Metrics:          promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
		HeartbeatTimeout: routing.DefaultHeartbeatInterval * routing.DefaultMissedBeats,
		Now:              n.now,
	})
	w := &webServer{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return n.ctx },
	}}
	go func() {
		defer close(w.done)
		if err := w.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("web view stopped", "err", err)
		}
	}()
	n.web = w
	n.log.Info("web view and /metrics", "url", "http://"+ln.Addr().String()+"/", "token", n.config().HTTPToken != "")
	return nil
}

// close stops the server and waits for it.
func (w *webServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	if err != nil {
		err = w.srv.Close()
	}
	<-w.done
	return err
}

// HTTPAddr is the address the web view listens on ("127.0.0.1:8080");
// "" when http_listen is not set.
func (n *Node) HTTPAddr() string {
	if n.web == nil {
		return ""
	}
	return n.web.ln.Addr().String()
}

// webSource is what the web view shows of a node.
type webSource struct {
	n *Node
	d *directory
}

var _ webview.Source = (*webSource)(nil)

func (s *webSource) Endpoints() []webview.Endpoint { return s.d.endpoints() }

// maxCatalogShown bounds the functions the view lists.
const maxCatalogShown = 1000

// Catalog lists the public functions of the node's catalog, at most
// maxCatalogShown: shared and private ones are never shown.
func (s *webSource) Catalog() []webview.Function {
	cat := s.n.catalog
	var out []webview.Function
	for _, e := range cat.List(catalog.Filter{}) {
		if !e.Access.Public {
			continue
		}
		f := webview.Function{Owner: e.Owner, Name: e.Name, ID: e.ID.String(), Kind: string(e.Kind), Description: e.Description, Requirements: []string{}}
		if vs, err := cat.Versions(e.Owner, e.Name); err == nil {
			for _, v := range vs {
				f.Versions = append(f.Versions, v.Version)
			}
		}
		if fn, err := cat.Get(e.ID); err == nil {
			f.Container = fn.Container
			f.Requirements = append(f.Requirements, fn.Requirements...)
		}
		if out = append(out, f); len(out) >= maxCatalogShown {
			break
		}
	}
	return out
}

// Self is the node's own endpoint page: its recent tasks and its
// configuration; nil on a bootstrap.
func (s *webSource) Self() *webview.Self {
	n, ep := s.n, s.n.ep
	if ep == nil {
		return nil
	}
	cfg := n.config()
	maxTimeout := "10m0s (the executors' default)"
	if cfg.MaxTimeout > 0 {
		maxTimeout = cfg.MaxTimeout.String()
	}
	retention := 7 * 24 * time.Hour
	if cfg.TaskRetention > 0 {
		retention = cfg.TaskRetention
	}
	c := webview.Config{
		Policy: webview.Policy{
			Owner: cfg.Owner, Public: cfg.Public, Allowed: len(cfg.Allowed), Functions: len(cfg.Functions),
			RequireMapping: cfg.RequireMapping, MappedUsers: len(cfg.Users), WorkerUIDs: cfg.WorkerUIDs,
		},
		Limits: webview.Limits{
			Workers: ep.executors.load().Workers, MaxQueue: cfg.maxQueue(),
			MaxInputBytes: cfg.maxInput(), MaxOutputBytes: cfg.maxOutput(),
			MaxTimeout: maxTimeout, TaskRetention: retention.String(),
		},
	}
	for _, kind := range slices.Sorted(maps.Keys(ep.executors)) {
		x := webview.Executor{Kind: string(kind)}
		if kind == kindContainer && ep.images.rt != nil {
			x.Runtime = ep.images.rt.Name()
		}
		if st, ok := ep.executors[kind].(exec.Statser); ok {
			xs := st.Stats()
			x.Workers, x.Idle, x.Running, x.Queued = xs.Workers, xs.Idle, xs.Running, xs.Queued
		}
		c.Executors = append(c.Executors, x)
	}
	return &webview.Self{ID: n.ID().String(), Tasks: ep.observe.recentTasks(), Config: c}
}
