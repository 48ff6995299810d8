package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// taskView is the subset of fx tasks --json the tests read.
type taskView struct {
	TaskID      string `json:"task_id"`
	Endpoint    string `json:"endpoint"`
	FunctionRef string `json:"function_ref"`
	State       string `json:"state"`
	Stale       bool   `json:"stale"`
	StaleReason string `json:"stale_reason"`
	Error       *struct {
		Kind string `json:"kind"`
	} `json:"error"`
}

func fxTasks(t *testing.T, home string, args ...string) map[string]taskView {
	t.Helper()
	out, err := fx(t, home, append([]string{"tasks", "--json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var list []taskView
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("fx tasks --json: %v: %s", err, out)
	}
	m := map[string]taskView{}
	for _, v := range list {
		m[v.TaskID] = v
	}
	return m
}

// TestFxTasks (issue 14, acceptance 4): fx tasks --json lists the tasks
// submitted, one done, one whose function raised, one cancelled and one
// failed with its endpoint, with their final states as their endpoint
// says them (the record knows only "received" of a task merely submitted);
// while the endpoint is down, the recorded state, marked stale.
func TestFxTasks(t *testing.T) {
	processes(t)
	home, ep, epID, boot := endpointMesh(t)
	b := "--bootstrap=" + boot.addr()
	submit := func(fn, args string) string {
		t.Helper()
		out, err := fx(t, home, "submit", fn, "--args", args, "--endpoint", epID, b)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	waitState := func(task, want string) {
		t.Helper()
		eventually(t, time.Minute, "task "+want, func() error {
			out, err := fx(t, home, "status", task, b)
			if err != nil {
				return err
			}
			if got := strings.TrimSpace(out); !strings.HasPrefix(got, want) {
				return fmt.Errorf("status %q", got)
			}
			return nil
		})
	}
	done := submit("add", "[1, 2]")
	raised := submit("fail", "[]")
	cancelled := submit("nap", "[3600]")
	waitState(cancelled, "running")
	if out, err := fx(t, home, "cancel", cancelled, b); err != nil || strings.TrimSpace(out) != "cancelled" {
		t.Fatalf("fx cancel: %q %v", out, err)
	}
	failed := submit("nap", "[3600]")
	waitState(failed, "running")

	// fx endpoint show: the endpoint's live load, with the task running.
	show := endpointShow(t, home, epID, b)
	if show.Status.Load == nil || show.Status.Load.Running < 1 || show.Status.Load.Workers < 1 ||
		!show.Status.Executors.Shell || len(show.Status.Executors.Python) == 0 || len(show.Status.Errors) != 0 || show.ID != epID {
		t.Fatalf("fx endpoint show of a live endpoint running one task: %+v", show)
	}

	// The endpoint dies with the last task running: it cannot answer, and
	// fx tasks shows the state recorded, marked stale.
	ep.signal(syscall.SIGKILL)
	<-ep.done
	got := fxTasks(t, home, b, "--timeout", "10s")
	if v := got[failed]; v.State != "running" || !v.Stale || v.StaleReason == "" {
		t.Fatalf("task of the dead endpoint: %+v", v)
	}
	if v := got[cancelled]; v.State != "cancelled" || v.Stale {
		t.Fatalf("cancelled task, from the record: %+v", v)
	}
	if out, err := fx(t, home, "tasks", b, "--timeout", "10s"); err != nil || !strings.Contains(out, " running* ") || !strings.Contains(out, "* its endpoint did not answer") {
		t.Fatalf("fx tasks with the endpoint dead: %q %v", out, err)
	}
	if show := endpointShow(t, home, epID, b); show.Status.Load != nil || len(show.Status.Errors) == 0 {
		t.Fatalf("fx endpoint show of a dead endpoint: %+v, want no load and an error", show.Status)
	}

	// Back up, the endpoint fails the task it was running; every task
	// shows its final state.
	startNode(t, ep.dir, "run", "--dir", ep.dir)
	var final map[string]taskView
	eventually(t, time.Minute, "endpoint answers for its tasks", func() error {
		final = fxTasks(t, home, b)
		for _, v := range final {
			if v.Stale {
				return fmt.Errorf("task %s stale: %s", v.TaskID, v.StaleReason)
			}
		}
		return nil
	})
	if len(final) != 4 {
		t.Fatalf("fx tasks listed %d tasks, want 4: %+v", len(final), final)
	}
	want := map[string]string{done: "done", raised: "done", cancelled: "cancelled", failed: "failed"}
	for task, state := range want {
		if v := final[task]; v.State != state || v.Endpoint != epID {
			t.Errorf("task %s: %+v, want state %s on %s", task, v, state, epID)
		}
	}
	if v := final[failed]; v.Error == nil || v.Error.Kind != "system" {
		t.Errorf("failed task's error: %+v", v.Error)
	}

	// The filters.
	if got := fxTasks(t, home, b, "--state", "cancelled"); len(got) != 1 || got[cancelled].State != "cancelled" {
		t.Errorf("--state cancelled: %+v", got)
	}
	if got := fxTasks(t, home, b, "--function", "nap"); len(got) != 2 || got[cancelled].TaskID == "" || got[failed].TaskID == "" {
		t.Errorf("--function nap: %+v", got)
	}
	if got := fxTasks(t, home, b, "--limit", "1"); len(got) != 1 || got[failed].TaskID == "" {
		t.Errorf("--limit 1 (the newest): %+v", got)
	}
	if _, err := fx(t, home, "tasks", "--state", "finished", b); exitCode(err) != 2 {
		t.Errorf("--state finished: %v", err)
	}
}

// endpointShowJSON is the subset of fx endpoint show --json the tests read.
type endpointShowJSON struct {
	ID     string `json:"id"`
	Status struct {
		Load *struct {
			Workers int `json:"workers"`
			Running int `json:"running"`
		} `json:"load"`
		Executors struct {
			Python []string `json:"python"`
			Shell  bool     `json:"shell"`
		} `json:"executors"`
		Errors []string `json:"errors"`
	} `json:"status"`
}

func endpointShow(t *testing.T, home, id, boot string) endpointShowJSON {
	t.Helper()
	out, err := fx(t, home, "endpoint", "show", id, "--json", boot)
	if err != nil {
		t.Fatal(err)
	}
	var j endpointShowJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("fx endpoint show --json: %v: %s", err, out)
	}
	return j
}
