package client

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
)

// TaskView is one task of the user's as fx tasks shows it: its record,
// brought up to date by its endpoint's answer. Stale is set when the
// endpoint did not answer (StaleReason says why): State is then the one
// recorded at Seen. A task recorded finished is final and not asked.
type TaskView struct {
	TaskRecord
	Stale       bool   `json:"stale"`
	StaleReason string `json:"stale_reason,omitempty"`
}

// LiveTasksOptions bound LiveTasks. Zero values take the defaults.
type LiveTasksOptions struct {
	// Parallel is how many endpoints are asked at once (default 8).
	Parallel int
	// Timeout bounds each question (default 5 s).
	Timeout time.Duration
}

// LiveTasks asks each unfinished task's endpoint for its state, at most
// opts.Parallel at once, each within opts.Timeout, and returns the tasks
// in the order given with the states the endpoints answered (also noted
// in the record). A task whose endpoint does not answer keeps its
// recorded state, marked stale.
func (c *Client) LiveTasks(ctx context.Context, recs []TaskRecord, opts LiveTasksOptions) []TaskView {
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	out := make([]TaskView, len(recs))
	todo := make(chan *TaskView)
	var wg sync.WaitGroup
	for i := 0; i < opts.Parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range todo {
				v.refresh(ctx, c, opts.Timeout)
			}
		}()
	}
	for i, r := range recs {
		out[i] = TaskView{TaskRecord: r}
		if !r.State.Finished() {
			todo <- &out[i]
		}
	}
	close(todo)
	wg.Wait()
	return out
}

func (v *TaskView) refresh(ctx context.Context, c *Client, timeout time.Duration) {
	ep, err := identity.ParseID(v.Endpoint)
	if err != nil {
		v.Stale, v.StaleReason = true, "the record names no valid endpoint"
		return
	}
	if ctx.Err() != nil {
		v.Stale, v.StaleReason = true, "not asked: fx ran out of time"
		return
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := c.Task(qctx, ep, v.TaskID, false, false, nil)
	if err != nil {
		v.Stale, v.StaleReason = true, staleReason(err, qctx)
		return
	}
	if st.State == StateUnknown {
		v.Stale, v.StaleReason = true, "the endpoint could not read the task's state"
		return
	}
	v.State, v.Seen, v.Done, v.Error = st.State, c.now().UTC(), st.Done, st.Error
	if st.Count > 0 {
		v.Count = st.Count
	}
}

func staleReason(err error, ctx context.Context) string {
	switch {
	case ctx.Err() != nil:
		return "the endpoint did not answer in time: " + err.Error()
	case fault.KindOf(err) == fault.NotFound:
		return "the endpoint no longer holds the task: " + err.Error()
	}
	return err.Error()
}

// MatchesFunction reports whether a task's function is f: its ID, its
// OWNER/NAME, or its NAME.
func (r TaskRecord) MatchesFunction(f string) bool {
	if f == "" {
		return true
	}
	if r.Function == f || r.FunctionRef == f {
		return true
	}
	_, name, ok := strings.Cut(r.FunctionRef, "/")
	return ok && name == f
}
