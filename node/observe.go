package node

import (
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node/admission"
	"github.com/fxmesh/fxmesh/node/audit"
	"github.com/fxmesh/fxmesh/node/taskstore"
	"github.com/fxmesh/fxmesh/node/webview"
	"github.com/libp2p/go-libp2p/core/peer"
)

// observer receives an endpoint's task events and passes each to the
// audit log (if any), the metrics and the list of recent tasks that the
// web view shows. It sees who, what and when of a task, never its inputs
// or results: its methods take none.
type observer struct {
	log     *slog.Logger
	metrics *metrics
	audit   *audit.File // nil: no audit log
	now     func() time.Time

	mu         sync.Mutex // guards recent, at, next, auditFails
	recent     []webview.Task
	at         map[string]int // task ID -> its place in recent
	next       int            // where the next task goes in recent once it is full
	auditFails bool           // a write to the audit log failed; logged once until one succeeds
}

// recentTasks is how many tasks the web view lists.
const recentTasks = 200

// admitted notes a task admitted and recorded.
func (o *observer) admitted(t *taskstore.Task) {
	o.metrics.admitted.Inc()
	o.metrics.running.Inc()
	o.mu.Lock()
	s := webview.Task{ID: t.ID, Function: t.Function, Caller: t.Caller, Inputs: t.Count, State: string(invoke.StateReceived), Received: t.Received}
	if o.at == nil {
		o.at = make(map[string]int, recentTasks)
	}
	if len(o.recent) < recentTasks {
		o.at[s.ID] = len(o.recent)
		o.recent = append(o.recent, s)
	} else {
		delete(o.at, o.recent[o.next].ID)
		o.at[s.ID] = o.next
		o.recent[o.next] = s
		o.next = (o.next + 1) % recentTasks
	}
	o.mu.Unlock()
	o.write(&audit.Event{Time: o.now().UTC(), Event: audit.Admitted, Task: t.ID, Caller: t.Caller, Function: t.Function,
		Inputs: t.Count, Received: audit.At(t.Received)})
}

// refused notes an invocation refused; env is its envelope, if it was
// read.
func (o *observer) refused(sender peer.ID, env []byte, err error) {
	kind := fault.KindOf(err)
	o.metrics.refused.WithLabelValues(string(kind)).Inc()
	e := &audit.Event{Time: o.now().UTC(), Event: audit.Refused, Caller: sender.String(), Reason: string(kind), Detail: clip(err.Error(), maxDetail)}
	if len(env) > 0 {
		e.Task, _ = invoke.TaskIDOf(env)
	}
	o.write(e)
}

// queued notes that a task waits for its executor to give it a worker.
func (o *observer) queued(id string) {
	o.update(id, func(s *webview.Task) {
		if s.State == string(invoke.StateReceived) {
			s.State = string(invoke.StateQueued)
		}
	})
}

// started notes that a task's run began.
func (o *observer) started(adm *admission.Admitted, at time.Time) {
	t := &adm.Task
	o.update(t.ID, func(s *webview.Task) { s.State, s.Started = string(invoke.StateRunning), at })
	o.write(&audit.Event{Time: at.UTC(), Event: audit.Started, Task: t.ID, Caller: t.Caller, Function: t.Function,
		Inputs: t.Count, Received: audit.At(t.Received), Started: audit.At(at)})
}

// outcome is how a task ended: its stored record, and what its results
// said.
type outcome struct {
	task         taskstore.Task
	failedInputs int
	firstKind    string // of the first input that failed
}

// finished notes a task's end.
func (o *observer) finished(out outcome) {
	t := &out.task
	state := t.State
	if !state.Finished() {
		state = invoke.StateFailed // the store could not say; the task is over all the same
	}
	kind := out.firstKind
	if t.Error != nil {
		kind = t.Error.Kind
	}
	end := t.Finished
	if end.IsZero() {
		end = o.now()
	}
	o.metrics.running.Dec()
	o.metrics.finished.WithLabelValues(string(state)).Inc()
	o.metrics.duration.WithLabelValues(string(state)).Observe(max(end.Sub(t.Received), 0).Seconds())
	o.update(t.ID, func(s *webview.Task) { s.State, s.Finished, s.ErrorKind = string(state), end, kind })
	o.write(&audit.Event{Time: o.now().UTC(), Event: audit.Finished, Task: t.ID, Caller: t.Caller, Function: t.Function,
		Inputs: t.Count, Outcome: string(state), ErrorKind: kind, FailedInputs: out.failedInputs,
		Received: audit.At(t.Received), Started: audit.At(t.Started), Finished: audit.At(end)})
}

// update applies fn to the recent task id, if it is still listed.
func (o *observer) update(id string, fn func(*webview.Task)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if i, ok := o.at[id]; ok {
		fn(&o.recent[i])
	}
}

// recentTasks returns the tasks listed, newest first.
func (o *observer) recentTasks() []webview.Task {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]webview.Task, 0, len(o.recent))
	for i := range o.recent {
		// Oldest at next once full: walk back from the newest.
		j := (o.next - 1 - i + 2*len(o.recent)) % len(o.recent)
		out = append(out, o.recent[j])
	}
	return out
}

// write appends e to the audit log, if there is one. A failure is logged
// once, and again after a write succeeds; the task goes on either way.
func (o *observer) write(e *audit.Event) {
	if o.audit == nil {
		return
	}
	err := o.audit.Write(e)
	o.mu.Lock()
	report := err != nil && !o.auditFails
	o.auditFails = err != nil
	o.mu.Unlock()
	if report {
		o.log.Error("audit log: events are being lost", "path", o.audit.Path(), "err", err)
	}
}

// maxDetail bounds a refusal's message in the audit log: it may quote
// what a hostile peer sent (a "function ID" of megabytes).
const maxDetail = 512

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
