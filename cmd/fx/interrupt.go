package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/fxmesh/fxmesh/client"
)

// exitInterrupted is fx's exit status when Ctrl-C (SIGINT) or SIGTERM
// stops a command that waits for results: 128 + SIGINT, as shells have it.
const exitInterrupted = 130

// interruptible is ctx, ended by SIGINT or SIGTERM as well; interrupted
// reports whether one of them ended it. A second Ctrl-C after stop, or
// once the context ended, has its default effect.
func interruptible(ctx context.Context) (ictx context.Context, interrupted func() bool, stop func()) {
	sctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	// The parent's own end (a deadline) is no interruption.
	return sctx, func() bool { return sctx.Err() != nil && ctx.Err() == nil }, stopSignals
}

// tasksSent follows the tasks a waiting command had endpoints take
// (client.RunRequest.OnTask), so that an interrupted command can say
// which still run.
type tasksSent struct {
	mu    sync.Mutex // guards order and ended
	order []*client.Submitted
	ended map[string]bool
}

func (t *tasksSent) note(s *client.Submitted, ended bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ended {
		t.order = append(t.order, s)
		return
	}
	if t.ended == nil {
		t.ended = map[string]bool{}
	}
	t.ended[s.TaskID] = true
}

// interrupted is the error of a command interrupted with the tasks that
// had not ended.
func (t *tasksSent) interrupted() *interruptedError {
	return &interruptedError{running: t.unfinished()}
}

// interruptedError says that the command was interrupted, which of its
// tasks still run at their endpoints, and how to collect them.
type interruptedError struct {
	running []*client.Submitted
}

func (e *interruptedError) Error() string {
	switch len(e.running) {
	case 0:
		return "interrupted before an endpoint took the work: nothing is running"
	case 1:
		s := e.running[0]
		return fmt.Sprintf("interrupted; task %s is still running on endpoint %s:\n"+
			"  fx result %s --wait   collects its result\n"+
			"  fx status %s          shows its state (fx cancel %s stops it)",
			s.TaskID, s.Endpoint, s.TaskID, s.TaskID, s.TaskID)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "interrupted; %d tasks are still running:\n", len(e.running))
	for _, s := range e.running {
		fmt.Fprintf(&b, "  %s  on endpoint %s (%d inputs)\n", s.TaskID, s.Endpoint, s.Count)
	}
	b.WriteString("  fx result TASK --wait collects a task's results; fx status TASK shows its state; fx tasks lists them")
	return b.String()
}

// unfinished lists the tasks sent that have not ended, in the order sent.
func (t *tasksSent) unfinished() []*client.Submitted {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*client.Submitted
	for _, s := range t.order {
		if !t.ended[s.TaskID] {
			out = append(out, s)
		}
	}
	return out
}
