package client

import (
	"context"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/libp2p/go-libp2p/core/peer"
)

// StartRequest is a task to send and follow: what the local API's submit
// does for each task it is given.
type StartRequest struct {
	RouteRequest
	// Endpoint, when set, is the only endpoint used.
	Endpoint peer.ID
	// Targets, when set and Endpoint is not, are the endpoints to try, best
	// first, instead of routing afresh: a ranking Route made a moment ago
	// (the local API keeps one for a second). Those that refuse as
	// overloaded or cannot be reached are passed over as routed ones are.
	Targets []peer.ID
	// Inputs are the arguments: one, or a batch (one signed invocation).
	Inputs []Input
	// Timeout bounds each input's run; zero means the endpoint's default.
	Timeout time.Duration
	// Retries is signed into the invocation: how many more times the
	// endpoint may run an input it lost mid-run (InvokeRequest.Retries).
	Retries int
	// OnResult receives each result as it arrives, and OnEnd the task's
	// final status or the error that ended the wait for it, once, after
	// the last result. Both are called on a goroutine of Start's. Without
	// them the task is not followed: Start returns once it was
	// acknowledged, and the results stay at the endpoint.
	OnResult func(Result)
	OnEnd    func(*Status, error)
	// OnAck, when following, is called once the endpoint acknowledged the
	// task, before OnResult, on the same goroutine.
	OnAck func(*Submitted)
}

// Start sends one task and returns once an endpoint acknowledged it: the
// named endpoint, or the best that routing finds, passing over those that
// refuse as overloaded or cannot be reached before they acknowledge. With
// OnEnd set it follows the task on the session to that endpoint until it
// ends, within ctx: ctx bounds the whole task, not only its start.
func (c *Client) Start(ctx context.Context, r StartRequest) (*Submitted, error) {
	targets := []peer.ID{r.Endpoint}
	if r.Endpoint == "" && len(r.Targets) > 0 {
		targets = r.Targets
	} else if r.Endpoint == "" {
		ranked, _, err := c.Route(ctx, r.RouteRequest)
		if err != nil {
			return nil, err
		}
		targets = eligible(ranked)
	}
	follow := r.OnEnd != nil
	var lastErr error
	for _, ep := range targets {
		inv := InvokeRequest{Endpoint: ep, Function: r.Function, Inputs: r.Inputs, Timeout: r.Timeout, Retries: r.Retries, WithProof: true}
		if !follow {
			sub, err := c.Invoke(ctx, inv)
			if err == nil {
				return sub, nil
			}
			if lastErr = err; !passOver(err) {
				return nil, err
			}
			continue
		}
		// Invoke returns once the endpoint acknowledged the task, and
		// follows it behind, on a goroutine of its own, into OnEnd.
		inv.Wait, inv.OnResult, inv.OnAck = true, r.OnResult, r.OnAck
		inv.onEnd = func(sub *Submitted, err error) {
			var st *Status
			if sub != nil {
				st = sub.Status
			}
			if st == nil && err == nil {
				err = fault.E(fault.System, "client: start", "the endpoint ended the task without a status")
			}
			r.OnEnd(st, err)
		}
		sub, err := c.Invoke(ctx, inv)
		if err == nil {
			return sub, nil
		}
		if lastErr = err; !passOver(err) {
			return nil, err
		}
	}
	if lastErr == nil {
		lastErr = fault.E(fault.Unavailable, "client: start", "no endpoint to try")
	}
	return nil, lastErr
}

// passOver reports whether an endpoint's refusal lets another try.
func passOver(err error) bool {
	k := fault.KindOf(err)
	return k == fault.Overloaded || k == fault.Unavailable
}
