package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
)

// TestTasksWithoutMesh: fx tasks with no mesh to ask lists the record:
// finished tasks as they are, unfinished ones marked as not asked; with
// only finished tasks to show it asks no mesh. (e2e's TestFxTasks
// asks a real mesh.)
func TestTasksWithoutMesh(t *testing.T) {
	home := t.TempDir()
	t.Setenv("FX_HOME", home)
	t.Setenv("FX_BOOTSTRAP", "")
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	h := client.Home{Dir: home}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const doneID, runID = "bafkreih4eoq22bn34roo6cffxgs3vowcuaienxdgkwhj7pxhhgavyrqjwm", "bafkreid4fjjbg3urxlj7m2ykenaq4cut5gxf7u3743fp6xhtv4xmlq5zg4"
	for _, r := range []client.TaskRecord{
		{TaskID: doneID, Endpoint: k.ID().String(), FunctionRef: "me/add", Submitted: t0, State: client.StateDone},
		{TaskID: runID, Endpoint: k.ID().String(), FunctionRef: "me/nap", Submitted: t0.Add(time.Second), State: client.StateRunning},
	} {
		if err := h.RecordTask(r); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (string, string, int) {
		var out, errw bytes.Buffer
		root := newRootCmd()
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&errw)
		err := root.Execute()
		return out.String(), errw.String(), fault.KindOf(err).ExitCode()
	}
	out, stderr, code := run("tasks", "--json")
	var list []client.TaskView
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 {
		t.Fatalf("fx tasks --json: %v, exit %d: %s %s", err, code, out, stderr)
	}
	if len(list) != 2 || list[0].TaskID != runID || !list[0].Stale || !strings.HasPrefix(list[0].StaleReason, "not asked: ") ||
		list[1].TaskID != doneID || list[1].Stale || list[1].State != client.StateDone {
		t.Fatalf("fx tasks --json without a mesh: %+v", list)
	}
	if out, _, code := run("tasks"); code != 0 || !strings.Contains(out, " running* ") || !strings.Contains(out, " done ") {
		t.Fatalf("fx tasks without a mesh: exit %d\n%s", code, out)
	}
	out, stderr, code = run("tasks", "--json", "--state", "done")
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || len(list) != 1 || list[0].TaskID != doneID {
		t.Fatalf("fx tasks --state done: %v exit %d %q: %s", err, code, stderr, out)
	}
	// Only finished tasks to show: no mesh is asked, so none is missed.
	out, stderr, code = run("tasks", "--json", "--function", "add")
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || len(list) != 1 || list[0].TaskID != doneID || stderr != "" {
		t.Fatalf("fx tasks --function add: %v exit %d %q: %s", err, code, stderr, out)
	}
	if _, _, code := run("tasks", "--state", "finished"); code != fault.Invalid.ExitCode() {
		t.Fatalf("--state finished: exit %d", code)
	}
}
