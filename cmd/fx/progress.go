package main

import (
	"context"
	"fmt"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/schollz/progressbar/v3"
)

// progressEvery is how often fx batch asks its tasks' endpoints where the
// tasks stand, for the progress bar.
const progressEvery = time.Second

// taskProgress is where one task of a batch stands, as its endpoint last
// said: its state, how many inputs it has and how many have a result.
type taskProgress struct {
	state       client.State
	count, done int
}

// progressLine sums a batch's tasks for the progress bar: the inputs not
// done of tasks still waiting for an executor (queued) and of tasks that
// run (running; a running task's inputs wait for its workers in turn).
func progressLine(ts []taskProgress) string {
	queued, running := 0, 0
	for _, t := range ts {
		left := max(t.count-t.done, 0)
		switch t.state {
		case client.StateReceived, client.StateQueued:
			queued += left
		case client.StateRunning:
			running += left
		}
	}
	switch {
	case len(ts) == 0:
		return "sending"
	case queued == 0 && running == 0:
		return "finishing"
	case queued == 0:
		return fmt.Sprintf("running %d", running)
	case running == 0:
		return fmt.Sprintf("queued %d", queued)
	}
	return fmt.Sprintf("running %d, queued %d", running, queued)
}

// followProgress asks the endpoints of the tasks sent, every progressEvery
// until ctx ends, where they stand, and writes it into bar's description.
// A task whose endpoint does not answer keeps what it said last.
func followProgress(ctx context.Context, c *client.Client, sent *tasksSent, bar *progressbar.ProgressBar) {
	last := map[string]taskProgress{}
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ts []taskProgress
		for _, s := range sent.unfinished() {
			qctx, cancel := context.WithTimeout(ctx, progressEvery)
			st, err := c.Task(qctx, s.Endpoint, s.TaskID, false, false, nil)
			cancel()
			if err == nil && st != nil {
				last[s.TaskID] = taskProgress{state: st.State, count: st.Count, done: st.Done}
			}
			if p, ok := last[s.TaskID]; ok {
				ts = append(ts, p)
			} else {
				ts = append(ts, taskProgress{state: client.StateQueued, count: s.Count})
			}
		}
		if ctx.Err() == nil {
			bar.Describe(progressLine(ts))
		}
	}
}
