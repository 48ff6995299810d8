package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/spf13/cobra"
)

func newTasksCmd() *cobra.Command {
	var (
		state, function string
		limit           int
		timeout         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List your recent tasks, across endpoints, with their current states",
		Long: `List the tasks you submitted from this $FX_HOME, newest first, with their
states as their endpoints say now. A task its endpoint does not answer for
keeps the state recorded when it was last seen, marked as such.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			want := client.State(state)
			switch want {
			case "", client.StateReceived, client.StateQueued, client.StateRunning,
				client.StateDone, client.StateFailed, client.StateCancelled:
			default:
				return fault.E(fault.Invalid, "", "--state %q is not a state (received, queued, running, done, failed, cancelled)", state)
			}
			if limit < 0 {
				return fault.E(fault.Invalid, "", "--limit must not be negative")
			}
			h, err := client.UserHome()
			if err != nil {
				return err
			}
			all, err := h.Tasks("", 0)
			if err != nil {
				return err
			}
			// Ask only about tasks that can still be shown: the newest
			// limit of them, or, with --state, every unfinished one and
			// the finished ones already in that state.
			var recs []client.TaskRecord
			for _, r := range all {
				if !r.MatchesFunction(function) {
					continue
				}
				if want != "" && r.State.Finished() && r.State != want {
					continue
				}
				recs = append(recs, r)
			}
			if want == "" && limit > 0 && len(recs) > limit {
				recs = recs[:limit]
			}
			views, err := liveTasks(cmd, h, recs, timeout)
			if err != nil {
				return err
			}
			out := []client.TaskView{}
			for _, v := range views {
				if want == "" || v.State == want {
					out = append(out, v)
				}
			}
			if limit > 0 && len(out) > limit {
				out = out[:limit]
			}
			if jsonFlag(cmd) {
				return printJSON(cmd.OutOrStdout(), out)
			}
			return printTasks(cmd, out)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only tasks in this state (received, queued, running, done, failed, cancelled)")
	cmd.Flags().StringVar(&function, "function", "", "only tasks of this function (NAME, OWNER/NAME or function ID)")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many tasks, newest first (0: all)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for each endpoint's answer")
	return cmd
}

// liveTasks brings recs up to date from their endpoints; with no task
// unfinished, it asks nobody and needs no mesh.
func liveTasks(cmd *cobra.Command, h client.Home, recs []client.TaskRecord, timeout time.Duration) ([]client.TaskView, error) {
	ask := false
	for _, r := range recs {
		ask = ask || !r.State.Finished()
	}
	if !ask {
		views := make([]client.TaskView, len(recs))
		for i, r := range recs {
			views[i] = client.TaskView{TaskRecord: r}
		}
		return views, nil
	}
	var views []client.TaskView
	err := withClient(cmd, func(ctx context.Context, c *client.Client) error {
		views = c.LiveTasks(ctx, recs, client.LiveTasksOptions{Timeout: timeout})
		return nil
	})
	if err != nil && views == nil {
		// No mesh to ask (none configured, or none reachable): the record
		// alone, each unfinished task marked as not asked.
		views = make([]client.TaskView, len(recs))
		for i, r := range recs {
			views[i] = client.TaskView{TaskRecord: r}
			if !r.State.Finished() {
				views[i].Stale, views[i].StaleReason = true, "not asked: "+message(err)
			}
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "fx: the states are as recorded: %s\n", message(err))
	}
	return views, nil
}

func printTasks(cmd *cobra.Command, views []client.TaskView) error {
	out := cmd.OutOrStdout()
	if len(views) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "fx: no tasks")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tFUNCTION\tSTATE\tDONE\tSUBMITTED\tENDPOINT")
	stale := false
	for _, v := range views {
		fn := v.FunctionRef
		if fn == "" {
			fn = short(v.Function)
		}
		st := string(v.State)
		if v.Stale {
			st += "*"
			stale = true
		}
		done := "-"
		if v.Count > 0 {
			done = fmt.Sprintf("%d/%d", v.Done, v.Count)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.TaskID, fn, st, done,
			v.Submitted.Local().Format("2006-01-02 15:04:05"), short(v.Endpoint))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if stale {
		fmt.Fprintln(out, "* its endpoint did not answer: the state recorded when last seen (--json says why)")
	}
	return nil
}
