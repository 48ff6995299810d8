package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Candidates finds the endpoints that may meet reqs: the providers of the
// narrowest capability key in the DHT, each with its record, its load and
// the round trip to it, asked of the endpoint directly.
func (c *Client) Candidates(ctx context.Context, reqs []routing.Requirement) ([]routing.Candidate, error) {
	return c.candidates(ctx, routing.LookupKey(reqs))
}

func (c *Client) candidates(ctx context.Context, key string) ([]routing.Candidate, error) {
	out, _, err := collectProviders(ctx, c, key, c.candidate)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Record.ID < out[j].Record.ID })
	return out, nil
}

func (c *Client) candidate(ctx context.Context, id peer.ID) (*routing.Candidate, error) {
	info, err := c.Endpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	cand := &routing.Candidate{Record: info.Record, Online: info.Online}
	if info.Online {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		l, rtt, err := c.Status(sctx, id)
		cancel()
		if err == nil {
			cand.Load, cand.RTT = &l, rtt
		} else {
			cand.Online = false
		}
	}
	return cand, nil
}

// RouteRequest is what routing needs to know of some work.
type RouteRequest struct {
	// Function is the function to run; its requirements apply.
	Function *ResolvedFunction
	// Require holds the invocation's own requirements (KEY=VALUE, KEY>=N…).
	Require []string
	// Exclude lists endpoints not to use.
	Exclude map[string]bool
	// All considers every endpoint, not only those the capability index
	// names, so that an explanation shows why the others were filtered out.
	All bool
	// AnyOwner sends work to endpoints of any owner, verified or not; by
	// default only endpoints whose owner is verified and is the user or
	// one of the client's trusted owners are used.
	AnyOwner bool
}

// requirements parses the function's and the invocation's requirements.
// A function with a container image needs, besides, an endpoint with a
// container runtime that holds or may pull the image
// (routing.ImageRequirement), so that it never goes where it cannot run.
func (r RouteRequest) requirements() ([]routing.Requirement, error) {
	var all []string
	if r.Function != nil {
		all = append(all, r.Function.Function.Requirements...)
	}
	all = append(all, r.Require...)
	reqs, err := routing.ParseRequirements(all)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "client: route", err)
	}
	if r.Function != nil && r.Function.Function.Container != "" {
		reqs = append(reqs, routing.ImageRequirement(r.Function.Function.Container))
	}
	return reqs, nil
}

// image is the container image the work runs in: the function's, else
// that of the invocation's first image= requirement; "" for none.
func (r RouteRequest) image() string {
	if r.Function != nil && r.Function.Function.Container != "" {
		return r.Function.Function.Container
	}
	for _, s := range r.Require {
		if q, err := routing.ParseRequirement(s); err == nil && q.Key == routing.KeyImage && q.Op == routing.OpEq {
			return q.Value
		}
	}
	return ""
}

// Route ranks the mesh's endpoints for some work, all of them: eligible
// ones first in order of preference, then the rejected with their reasons.
// Unless r.AnyOwner, an endpoint is eligible only when its owner is verified
// and is the user or one of the client's trusted owners.
func (c *Client) Route(ctx context.Context, r RouteRequest) ([]routing.Scored, routing.Request, error) {
	reqs, err := r.requirements()
	if err != nil {
		return nil, routing.Request{}, err
	}
	key := routing.LookupKey(reqs)
	if r.All {
		key = routing.KeyEndpoint
	}
	cands, err := c.candidates(ctx, key)
	if err != nil {
		return nil, routing.Request{}, err
	}
	req := routing.Request{Requirements: reqs, Caller: c.ID(), Exclude: r.Exclude, TrustedOwners: c.trusted, AnyOwner: r.AnyOwner, Image: r.image()}
	if f := r.Function; f != nil && f.Function != nil {
		// Endpoints whose allowlist would refuse it are passed over.
		req.Function = &routing.FunctionRef{ID: f.ID.String(), Owner: f.Function.Owner, Name: f.Function.Name}
	}
	for _, q := range reqs {
		if q.Key == routing.KeyDataset && q.Op == routing.OpEq {
			req.Datasets = append(req.Datasets, q.Value)
		}
	}
	ranked := routing.Rank(cands, req)
	if (len(ranked) == 0 || !ranked[0].Eligible) && key != routing.KeyEndpoint {
		// The capability index named no endpoint fit for the work: judge
		// every endpoint, so that the error says what each lacks (as
		// --explain would), never merely that none is known.
		r.All = true
		return c.Route(ctx, r)
	}
	if len(ranked) == 0 || !ranked[0].Eligible {
		return ranked, req, routing.Unmet(cands, req)
	}
	return ranked, req, nil
}

// RunRequest is work for RunRouted.
type RunRequest struct {
	RouteRequest
	// Endpoint, when set, is the only endpoint used: naming it states trust
	// in it, so its owner is not checked.
	Endpoint peer.ID
	// Inputs are the arguments: one, or a batch.
	Inputs []invoke.Input
	// Timeout bounds each input's run; zero means the endpoint's default.
	Timeout time.Duration
	// Retries is how often each input whose endpoint failed after
	// acknowledging it may be sent elsewhere: it may have run there, so
	// only for functions safe to repeat. Zero runs each input at most once.
	Retries int
	// OnResult receives each input's result exactly once, never
	// concurrently, with Index counted over Inputs, and the endpoint that
	// produced it.
	OnResult func(endpoint peer.ID, r invoke.Result)
	// Explain, when set, receives the ranking of the candidates.
	Explain io.Writer
	// Spread splits the inputs over the eligible endpoints in proportion to
	// their free capacity (for batches). The inputs an endpoint that fails
	// never acknowledged move to the next endpoints; those it acknowledged
	// and left without a result move only as Retries allows, and are
	// otherwise each reported failed (system): the endpoint may have run
	// them.
	Spread bool
	// MaxChunkBytes bounds the arguments of one signed request; zero means
	// 8 MiB.
	MaxChunkBytes int
	// OnTask, when set, is told of each task an endpoint acknowledged
	// (ended false; it is in the local task record by then) and again
	// once every result of it arrived (ended true). A task it never hears
	// of as ended may still be running: ctx ended first, or its endpoint
	// failed. It may be called concurrently.
	OnTask func(sub *Submitted, ended bool)
}

// RunRouted runs work where routing says (Route), or on w.Endpoint, waiting
// for every result. An endpoint that refuses (overloaded), cannot be
// reached, or fails before acknowledging is passed over for the next
// candidate within ctx's deadline; one that fails after acknowledging fails
// its inputs (system), unless Retries allows sending them elsewhere. Every
// result reaches OnResult once.
func (c *Client) RunRouted(ctx context.Context, w RunRequest) error {
	var ranked []routing.Scored
	if w.Endpoint == "" {
		var err error
		w.All = w.All || w.Explain != nil
		ranked, _, err = c.Route(ctx, w.RouteRequest)
		if w.Explain != nil {
			_ = routing.Explain(w.Explain, ranked)
		}
		if err != nil {
			return err
		}
	}
	r := &runner{c: c, w: w, done: make([]bool, len(w.Inputs)), resent: make([]int, len(w.Inputs)), failed: map[peer.ID]bool{}}
	if w.Endpoint != "" {
		return r.runOn(ctx, []peer.ID{w.Endpoint}, allIndexes(len(w.Inputs)))
	}
	order := eligible(ranked)
	if !w.Spread || len(order) == 1 {
		return r.runOn(ctx, order, allIndexes(len(w.Inputs)))
	}
	// Spread: each eligible endpoint gets its share, in its own goroutine;
	// a share that fails moves on to the endpoints after it.
	shares := routing.Split(len(w.Inputs), ranked)
	var (
		wg   sync.WaitGroup
		errs = make([]error, len(order))
		next = 0
		k    = 0
	)
	for i, s := range ranked {
		if !s.Eligible {
			continue
		}
		idx := make([]int, shares[i])
		for j := range idx {
			idx[j] = next + j
		}
		next += shares[i]
		if len(idx) > 0 {
			// This endpoint first, then the others in rank order.
			prefs := append(append([]peer.ID{}, order[k:]...), order[:k]...)
			wg.Add(1)
			go func(slot int, prefs []peer.ID, idx []int) {
				defer wg.Done()
				errs[slot] = r.runOn(ctx, prefs, idx)
			}(k, prefs, idx)
		}
		k++
	}
	wg.Wait()
	return errors.Join(errs...)
}

func allIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// runner runs the inputs of one RunRequest, remembering which have a result.
type runner struct {
	c      *Client
	w      RunRequest
	mu     sync.Mutex // guards done, resent, failed and calls of OnResult
	done   []bool
	resent []int // how often each input was sent again after a lost endpoint
	failed map[peer.ID]bool
}

// deliver passes a result on once per input.
func (r *runner) deliver(ep peer.ID, global int, res invoke.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done[global] {
		return
	}
	r.done[global] = true
	res.Index = global
	if r.w.OnResult != nil {
		r.w.OnResult(ep, res)
	}
}

func (r *runner) undone(idx []int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, i := range idx {
		if !r.done[i] {
			out = append(out, i)
		}
	}
	return out
}

// mayResend takes one retry of each input in lost that has one left, and
// returns those that had none.
func (r *runner) mayResend(lost []int) (spent []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range lost {
		if r.done[i] {
			continue
		}
		if r.resent[i] < r.w.Retries {
			r.resent[i]++
		} else {
			spent = append(spent, i)
		}
	}
	return spent
}

// runOn runs inputs idx on the first endpoint of prefs that takes them,
// moving what is left to the next one as endpoints fail. Inputs an
// endpoint acknowledged and then lost may have run there: they move on
// only while Retries allows; otherwise a spread batch reports each as
// failed (system), and a single run fails with the endpoint's error.
func (r *runner) runOn(ctx context.Context, prefs []peer.ID, idx []int) error {
	var errs []error
	for _, ep := range prefs {
		r.mu.Lock()
		skip := r.failed[ep]
		r.mu.Unlock()
		if skip {
			continue
		}
		lost, err := r.sendAll(ctx, ep, idx)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
		if ctx.Err() != nil {
			return err
		}
		switch fault.KindOf(err) {
		case fault.Overloaded, fault.Unavailable, fault.NotFound:
			// Refused or unreachable before acknowledging: try the next.
		case fault.System:
			// After acknowledging, the endpoint may have run some inputs.
			if spent := r.mayResend(lost); len(spent) > 0 {
				if !r.w.Spread {
					return err
				}
				for _, i := range spent {
					r.deliver(ep, i, invoke.Result{Error: &invoke.Error{Kind: string(fault.System),
						Message: fmt.Sprintf("endpoint %s lost, may have run (%v)", ep, err)}})
				}
			}
		default:
			return err // denied, invalid, too-large…: another endpoint will not do better
		}
		r.mu.Lock()
		r.failed[ep] = true
		r.mu.Unlock()
		if idx = r.undone(idx); len(idx) == 0 {
			return nil
		}
	}
	if len(errs) == 0 {
		return fault.E(fault.Unavailable, "client: run", "no endpoint left to try")
	}
	if len(errs) == 1 {
		return errors.Unwrap(errs[0]) // the one endpoint tried: its error names it
	}
	return fault.Wrap(fault.KindOf(errs[len(errs)-1]), "client: run", errors.Join(errs...))
}

// sendAll sends inputs idx to ep in as few signed requests as the size limit
// allows, one after another. When ep fails, lost holds the inputs of the
// request it had acknowledged and not finished: they may have run there.
func (r *runner) sendAll(ctx context.Context, ep peer.ID, idx []int) (lost []int, err error) {
	limit := r.w.MaxChunkBytes
	if limit <= 0 {
		limit = 8 << 20
	}
	for len(idx) > 0 {
		n, size := 0, 0
		for n < len(idx) {
			in := r.w.Inputs[idx[n]]
			sz := len(in.Args) + len(in.Kwargs) + 8
			if n > 0 && size+sz > limit {
				break
			}
			size += sz
			n++
		}
		part := idx[:n]
		inputs := make([]invoke.Input, n)
		for i, g := range part {
			inputs[i] = r.w.Inputs[g]
		}
		sub, err := r.c.Invoke(ctx, InvokeRequest{
			Endpoint: ep, Function: r.w.Function, Inputs: inputs, Timeout: r.w.Timeout,
			TTL: time.Hour, Wait: true, WithProof: true, Retries: r.w.Retries,
			OnResult: func(res invoke.Result) {
				if res.Index >= 0 && res.Index < len(part) {
					r.deliver(ep, part[res.Index], res)
				}
			},
			OnAck: func(s *Submitted) {
				if r.w.OnTask != nil {
					r.w.OnTask(s, false)
				}
			},
		})
		if sub != nil && r.w.OnTask != nil && len(r.undone(part)) == 0 {
			r.w.OnTask(sub, true)
		}
		if missing := len(r.undone(part)); err == nil && missing > 0 {
			// The endpoint ended the task without every result: it gave up
			// on it as a whole (it shut down, say).
			state := string(invoke.StateUnknown)
			if sub.Status != nil {
				state = string(sub.Status.State)
				if sub.Status.Error != nil {
					state += ": " + sub.Status.Error.Message
				}
			}
			err = fault.E(fault.System, "client: run", "endpoint %s ended task %s without %d of its results (%s)", ep, sub.TaskID, missing, state)
		}
		if err != nil {
			left := r.undone(part)
			if len(left) > 0 {
				if sub == nil {
					left = nil // never acknowledged: nothing ran
				}
				return left, err
			}
			err = nil // every result arrived before the failure
		}
		idx = idx[n:]
	}
	return nil, nil
}

// SubmitRequest is one input to run without waiting for it.
type SubmitRequest struct {
	RouteRequest
	// Endpoint, when set, is the only endpoint used.
	Endpoint peer.ID
	// Input is the arguments.
	Input Input
	// Timeout bounds the run; zero means the endpoint's default.
	Timeout time.Duration
	// Explain, when set, receives the ranking of the candidates.
	Explain io.Writer
}

// Submit sends one input to run and returns once an endpoint has taken it
// (acknowledged it): the named endpoint, or the best that routing finds,
// passing over those that refuse as overloaded or cannot be reached before
// they acknowledge. Submitted.Endpoint says which took it.
func (c *Client) Submit(ctx context.Context, r SubmitRequest) (*Submitted, error) {
	targets := []peer.ID{r.Endpoint}
	if r.Endpoint == "" {
		r.All = r.All || r.Explain != nil
		ranked, _, err := c.Route(ctx, r.RouteRequest)
		if r.Explain != nil {
			_ = routing.Explain(r.Explain, ranked)
		}
		if err != nil {
			return nil, err
		}
		targets = eligible(ranked)
	}
	var lastErr error
	for _, ep := range targets {
		sub, err := c.Invoke(ctx, InvokeRequest{
			Endpoint: ep, Function: r.Function, Inputs: []Input{r.Input}, Timeout: r.Timeout, WithProof: true,
		})
		if err == nil {
			return sub, nil
		}
		lastErr = err
		if k := fault.KindOf(err); k != fault.Overloaded && k != fault.Unavailable {
			return nil, err // another endpoint will not do better
		}
	}
	if lastErr == nil {
		lastErr = fault.E(fault.Unavailable, "client: submit", "no endpoint to try")
	}
	return nil, lastErr
}

// RouteTargets is Route's eligible endpoints, best first: what Start
// tries in turn (StartRequest.Targets).
func (c *Client) RouteTargets(ctx context.Context, r RouteRequest) ([]peer.ID, error) {
	ranked, _, err := c.Route(ctx, r)
	if err != nil {
		return nil, err
	}
	return eligible(ranked), nil
}

// eligible lists the endpoints routing found eligible, best first.
func eligible(ranked []routing.Scored) []peer.ID {
	var out []peer.ID
	for _, s := range ranked {
		if !s.Eligible {
			continue
		}
		if id, err := peer.Decode(s.Record.ID); err == nil {
			out = append(out, id)
		}
	}
	return out
}
