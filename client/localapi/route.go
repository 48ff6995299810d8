package localapi

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/libp2p/go-libp2p/core/peer"
)

// routeTTL is how long a routed task's ranking of endpoints is reused for
// the next tasks of the same function and requirements. Routing asks the
// DHT for the capability's providers and each candidate for its load: some
// milliseconds, more than the whole call to a warm endpoint. A ranking
// reused is passed over endpoint by endpoint as a fresh one is (overloaded,
// unreachable); when every endpoint in it refuses so, it is dropped and
// the task routed afresh.
const routeTTL = time.Second

// maxRoutes bounds the rankings kept; past it the cache is emptied.
const maxRoutes = 1024

// routeCache holds recent rankings by routeKey. The zero value is ready.
type routeCache struct {
	mu sync.Mutex // guards m
	m  map[string]cachedRoute
}

type cachedRoute struct {
	targets []peer.ID
	at      time.Time
}

// routeKey names what a ranking depends on besides the mesh's state.
func routeKey(r client.RouteRequest) string {
	var b strings.Builder
	b.WriteString(r.Function.ID.String())
	b.WriteString("\x00")
	b.WriteString(strconv.FormatBool(r.AnyOwner))
	for _, q := range r.Require {
		b.WriteString("\x00")
		b.WriteString(q)
	}
	return b.String()
}

func (c *routeCache) get(key string, now time.Time) ([]peer.ID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) >= routeTTL || now.Before(e.at) {
		return nil, false
	}
	return e.targets, true
}

func (c *routeCache) put(key string, targets []peer.ID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxRoutes {
		c.m = map[string]cachedRoute{}
	}
	c.m[key] = cachedRoute{targets, now}
}

func (c *routeCache) drop(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// passedOver reports whether err is an endpoint's refusal that lets the
// next one try (as client.Start passes over).
func passedOver(err error) bool {
	k := fault.KindOf(err)
	return k == fault.Overloaded || k == fault.Unavailable
}

// startTask starts sr: on its named endpoint, or on the endpoints of a
// ranking made within routeTTL, or routed afresh. rctx bounds the routing,
// ctx the task (as client.Start's).
func (s *Server) startTask(rctx, ctx context.Context, sr client.StartRequest) (*client.Submitted, error) {
	if sr.Endpoint != "" {
		return s.opts.Client.Start(ctx, sr)
	}
	key := routeKey(sr.RouteRequest)
	targets, cached := s.routes.get(key, s.now())
	if !cached {
		var err error
		if targets, err = s.opts.Client.RouteTargets(rctx, sr.RouteRequest); err != nil {
			return nil, err
		}
		s.routes.put(key, targets, s.now())
	}
	sr.Targets = targets
	sub, err := s.opts.Client.Start(ctx, sr)
	if err != nil && passedOver(err) {
		// Every endpoint of the ranking refused or was gone: it is stale.
		s.routes.drop(key)
		if cached {
			return s.startTask(rctx, ctx, sr)
		}
	}
	return sub, err
}
