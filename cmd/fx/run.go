package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// runFlags are the flags of run, submit and batch.
type runFlags struct {
	endpoint      string
	args, kwargs  string
	timeout       time.Duration
	input, output string
	require       []string
	retries       int
	explain       bool
	anyEndpoint   bool
}

func (f *runFlags) add(cmd *cobra.Command, batch bool) {
	cmd.Flags().StringVar(&f.endpoint, "endpoint", "", "endpoint to run on: its ID, or the name of an endpoint you trust (default: chosen by requirements, data and load)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 0, "walltime of the function (default: the endpoint's)")
	cmd.Flags().StringArrayVar(&f.require, "require", nil, "requirement on the endpoint, KEY=VALUE, KEY>=N, KEY<=N (repeatable; added to the function's)")
	cmd.Flags().BoolVar(&f.explain, "explain", false, "print every candidate endpoint with why it was filtered out or how it scored (stderr)")
	cmd.Flags().BoolVar(&f.anyEndpoint, "any-endpoint", false, "route to endpoints of any owner, unverified or untrusted too (default: only yours and those of fx trust list)")
	if cmd.Name() != "submit" {
		cmd.Flags().IntVar(&f.retries, "retries", 0, "re-send work whose endpoint fails after accepting it, up to N times (only for functions safe to repeat)")
	}
	if batch {
		cmd.Flags().StringVar(&f.input, "input", "", `JSON lines, each {"args": [...], "kwargs": {...}}; - reads standard input (required)`)
		cmd.Flags().StringVar(&f.output, "output", "", "write results here as JSON lines (default: stdout)")
		return
	}
	cmd.Flags().StringVar(&f.args, "args", "", "positional arguments, a JSON array; @FILE reads it from FILE, - from standard input")
	cmd.Flags().StringVar(&f.kwargs, "kwargs", "", "keyword arguments, a JSON object; @FILE reads it from FILE, - from standard input")
}

// dialed is a user dialled into the mesh with a function resolved.
type dialed struct {
	client   *client.Client
	user     *client.UserCatalog
	function *client.ResolvedFunction
	endpoint peer.ID
}

// withSession resolves fn and the endpoint and runs f.
func withSession(cmd *cobra.Command, ctx context.Context, fnRef, endpoint string, f func(*dialed) error) error {
	return withUser(cmd, ctx, true, func(u *client.UserCatalog) error {
		s := &dialed{client: u.Mesh, user: u}
		var err error
		if endpoint != "" {
			// An ID, or the name of an endpoint the user trusts.
			if s.endpoint, err = u.Mesh.ResolveEndpoint(ctx, endpoint); err != nil {
				return err
			}
		}
		if fnRef != "" {
			if s.function, err = u.Resolve(ctx, fnRef); err != nil {
				return err
			}
		}
		return f(s)
	})
}

// routed runs inputs where routing (or --endpoint) says; sent, if not
// nil, follows the tasks.
func (s *dialed) routed(cmd *cobra.Command, ctx context.Context, f *runFlags, inputs []client.Input, spread bool, sent *tasksSent, onResult func(peer.ID, client.Result)) error {
	w := client.RunRequest{
		RouteRequest: client.RouteRequest{Function: s.function, Require: f.require, AnyOwner: f.anyEndpoint},
		Endpoint:     s.endpoint, Inputs: inputs, Timeout: f.timeout, Retries: f.retries,
		OnResult: onResult, Spread: spread,
	}
	if sent != nil {
		w.OnTask = sent.note
	}
	if f.explain {
		w.Explain = cmd.ErrOrStderr()
	}
	return s.client.RunRouted(ctx, w)
}

// deadline is how long a command waits for a function of walltime t.
func deadline(t time.Duration) time.Duration {
	if t <= 0 {
		return 24 * time.Hour
	}
	return t + time.Minute
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FUNCTION [--endpoint ID] [--args JSON] [--kwargs JSON]",
		Short: "Run a function and print its result (JSON) on stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			in, err := f.oneInput(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), deadline(f.timeout))
			defer cancel()
			ctx, interrupted, stop := interruptible(ctx)
			defer stop()
			var sent tasksSent
			err = withSession(cmd, ctx, a[0], f.endpoint, func(s *dialed) error {
				var (
					res *client.Result
					ran peer.ID
				)
				if err := s.routed(cmd, ctx, &f, []client.Input{in}, false, &sent, func(ep peer.ID, r client.Result) { res, ran = &r, ep }); err != nil {
					return err
				}
				if res != nil && !jsonFlag(cmd) {
					// A module the endpoint lacks: say which, and where it is.
					if msg, ok := s.client.MissingModuleMessage(ctx, ran, res.Error); ok {
						printOutput(cmd, res)
						return fault.E(fault.Kind(res.Error.Kind), "", "%s", msg)
					}
				}
				return printResult(cmd, "", nil, res)
			})
			if err != nil && interrupted() {
				return sent.interrupted()
			}
			return err
		},
	}
	f.add(cmd, false)
	return cmd
}

// resultJSON is the stable JSON form of one result.
type resultJSON struct {
	TaskID   string              `json:"task_id,omitempty"`
	Index    int                 `json:"index"`
	Value    json.RawMessage     `json:"value"`
	Stdout   string              `json:"stdout,omitempty"`
	Stderr   string              `json:"stderr,omitempty"`
	ExitCode int                 `json:"exit_code,omitempty"`
	Error    *client.ResultError `json:"error,omitempty"`
}

func toResultJSON(taskID string, r client.Result) resultJSON {
	v := json.RawMessage(r.Value)
	if len(v) == 0 {
		v = json.RawMessage("null")
	}
	return resultJSON{TaskID: taskID, Index: r.Index, Value: v, Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Error: r.Error}
}

// printResult prints one task's single result and returns its error.
func printResult(cmd *cobra.Command, taskID string, st *client.Status, res *client.Result) error {
	if res == nil {
		if st != nil && st.Error != nil {
			return st.Error.Err()
		}
		return fault.E(fault.System, "", "task %s ended without a result", taskID)
	}
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if jsonFlag(cmd) {
		if err := printJSON(out, toResultJSON(taskID, *res)); err != nil {
			return err
		}
	} else {
		printOutput(cmd, res)
		if res.Error == nil {
			v := res.Value
			if len(v) == 0 {
				v = []byte("null")
			}
			fmt.Fprintln(out, string(v))
		} else if res.Error.Traceback != "" {
			fmt.Fprint(errw, res.Error.Traceback)
		}
	}
	if res.Error != nil {
		return res.Error.Err()
	}
	return nil
}

// printOutput prints what a result's function printed on stderr.
func printOutput(cmd *cobra.Command, res *client.Result) {
	errw := cmd.ErrOrStderr()
	if res.Stdout != "" {
		fmt.Fprint(errw, res.Stdout)
	}
	if res.Stderr != "" {
		fmt.Fprint(errw, res.Stderr)
	}
}

func newSubmitCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "submit FUNCTION [--endpoint ID] [--args JSON] [--kwargs JSON]",
		Short: "Submit a function run, print its task ID and return at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			in, err := f.oneInput(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			return withSession(cmd, ctx, a[0], f.endpoint, func(s *dialed) error {
				r := client.SubmitRequest{
					RouteRequest: client.RouteRequest{Function: s.function, Require: f.require, AnyOwner: f.anyEndpoint},
					Endpoint:     s.endpoint, Input: in, Timeout: f.timeout,
				}
				if f.explain {
					r.Explain = cmd.ErrOrStderr()
				}
				sub, err := s.client.Submit(ctx, r)
				if err != nil {
					return err
				}
				if sub.NotRemembered != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "fx: warning: %v; fx result will need --endpoint %s\n", sub.NotRemembered, sub.Endpoint)
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), map[string]any{"task_id": sub.TaskID, "endpoint": sub.Endpoint.String()})
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), sub.TaskID)
				return err
			})
		},
	}
	f.add(cmd, false)
	return cmd
}

// withTaskSession runs f in a session with the endpoint that holds task
// (flag, or where this user submitted it), under a context of timeout.
func withTaskSession(cmd *cobra.Command, flag, task string, timeout time.Duration, f func(ctx context.Context, s *dialed, ep string) error) error {
	ep, err := taskEndpoint(flag, task)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	return withSession(cmd, ctx, "", ep, func(s *dialed) error { return f(ctx, s, ep) })
}

// taskEndpoint is --endpoint, or where this user submitted the task.
func taskEndpoint(flag, taskID string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	h, err := client.UserHome()
	if err != nil {
		return "", err
	}
	id, err := h.TaskEndpoint(taskID)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

func newStatusCmd() *cobra.Command {
	var endpoint string
	cmd := &cobra.Command{
		Use:   "status TASK",
		Short: "Print a task's state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withTaskSession(cmd, endpoint, a[0], 30*time.Second, func(ctx context.Context, s *dialed, ep string) error {
				st, err := s.client.Task(ctx, s.endpoint, a[0], false, false, nil)
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), map[string]any{"task_id": a[0], "endpoint": ep, "state": st.State, "count": st.Count, "done": st.Done, "error": st.Error})
				}
				fmt.Fprintln(cmd.OutOrStdout(), statusLine(st))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "endpoint that holds the task (default: where you submitted it)")
	return cmd
}

func newCancelCmd() *cobra.Command {
	var endpoint string
	cmd := &cobra.Command{
		Use:   "cancel TASK",
		Short: "Cancel a task of yours: queued inputs never run, running ones are stopped",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withTaskSession(cmd, endpoint, a[0], 30*time.Second, func(ctx context.Context, s *dialed, ep string) error {
				st, err := s.client.Cancel(ctx, s.endpoint, a[0])
				if err != nil {
					return err
				}
				if st.State != client.StateCancelled {
					fmt.Fprintf(cmd.ErrOrStderr(), "fx: task %s had ended already (%s)\n", a[0], st.State)
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), map[string]any{"task_id": a[0], "endpoint": ep, "state": st.State, "count": st.Count, "error": st.Error})
				}
				fmt.Fprintln(cmd.OutOrStdout(), st.State)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "endpoint that holds the task (default: where you submitted it)")
	return cmd
}

func newResultCmd() *cobra.Command {
	var (
		endpoint string
		wait     bool
	)
	cmd := &cobra.Command{
		Use:   "result TASK [--wait]",
		Short: "Print a task's result (JSON lines for a batch)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withTaskSession(cmd, endpoint, a[0], deadline(0), func(ctx context.Context, s *dialed, _ string) error {
				var results []client.Result
				st, err := s.client.Task(ctx, s.endpoint, a[0], true, wait, func(r client.Result) { results = append(results, r) })
				if err != nil {
					return err
				}
				if st == nil {
					return fault.E(fault.Internal, "", "no status for task %s", a[0])
				}
				if !st.State.Finished() {
					return fault.E(fault.Unavailable, "", "task %s is %s; use --wait to wait for it", a[0], st.State)
				}
				if st.Count <= 1 {
					var r *client.Result
					if len(results) > 0 {
						r = &results[0]
					}
					return printResult(cmd, a[0], st, r)
				}
				w := bufio.NewWriter(cmd.OutOrStdout())
				enc := json.NewEncoder(w)
				failed := 0
				for _, r := range results {
					if r.Error != nil {
						failed++
					}
					if err := enc.Encode(toResultJSON("", r)); err != nil {
						return err
					}
				}
				if err := w.Flush(); err != nil {
					return err
				}
				switch {
				case st.State == client.StateFailed && st.Error != nil:
					return st.Error.Err()
				case failed > 0:
					return fault.E(fault.User, "", "%d of %d inputs failed", failed, st.Count)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "endpoint that holds the task (default: where you submitted it)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the task to finish")
	return cmd
}

func newBatchCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "batch FUNCTION --input FILE.jsonl [--output FILE.jsonl] [--endpoint ID]",
		Short: "Run a function on many inputs in one signed request; results stream back as JSON lines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			inputs, err := f.batchInputs(cmd)
			if err != nil {
				return err
			}
			var out io.Writer = cmd.OutOrStdout()
			if f.output != "" {
				file, err := os.Create(f.output)
				if err != nil {
					return fault.Wrap(fault.Invalid, "", err)
				}
				defer file.Close()
				out = file
			}
			bw := bufio.NewWriter(out)
			defer bw.Flush()
			enc := json.NewEncoder(bw)
			var bar *progressbar.ProgressBar
			if fd := os.Stderr.Fd(); term.IsTerminal(int(fd)) {
				bar = progressbar.Default(int64(len(inputs)), "sending")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), deadline(0))
			defer cancel()
			ctx, interrupted, stop := interruptible(ctx)
			defer stop()
			var sent tasksSent
			err = withSession(cmd, ctx, a[0], f.endpoint, func(s *dialed) error {
				if bar != nil {
					pctx, stopProgress := context.WithCancel(ctx)
					defer stopProgress()
					go followProgress(pctx, s.client, &sent, bar)
				}
				failed, lost := 0, 0
				err := s.routed(cmd, ctx, &f, inputs, true, &sent, func(_ peer.ID, r client.Result) {
					if r.Error != nil {
						failed++
						if r.Error.Kind == string(fault.System) {
							lost++
						}
					}
					_ = enc.Encode(toResultJSON("", r))
					if bar != nil {
						_ = bar.Add(1)
					}
				})
				if err != nil {
					return err
				}
				if err := bw.Flush(); err != nil {
					return err
				}
				switch {
				case lost > 0:
					return fault.E(fault.System, "", "%d of %d inputs failed, %d of them with their endpoint (they may have run; --retries N sends such inputs elsewhere)", failed, len(inputs), lost)
				case failed > 0:
					return fault.E(fault.User, "", "%d of %d inputs failed", failed, len(inputs))
				}
				return nil
			})
			if err != nil && interrupted() {
				bw.Flush() // the results that arrived
				return sent.interrupted()
			}
			return err
		},
	}
	f.add(cmd, true)
	return cmd
}
