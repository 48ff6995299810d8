package pbs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// fake returns a Provider on the FAKE qsub, qstat and qdel of
// testdata/fakebin (no PBS server can run here), and their state
// directory.
func fake(t *testing.T) (*Provider, string) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("testdata", "fakebin"))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	t.Setenv("FXPBS_FAKE_DIR", state)
	return &Provider{Bin: bin}, state
}

// setState moves a job of the fake to state, as its server would.
func setState(t *testing.T, state, id, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(state, "jobs", id, "state"), []byte(s+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func statusOf(t *testing.T, p *Provider, id string) pilot.JobStatus {
	t.Helper()
	m, err := p.Status(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return m[id]
}

// TestFakeEndToEnd drives the Provider through the fake commands: submit
// (the script reaches qsub), queued, running, listed by prefix, deleted,
// and cancelled; unknown IDs are unknown, not errors.
func TestFakeEndToEnd(t *testing.T) {
	p, state := fake(t)
	ctx := context.Background()
	dir := t.TempDir()
	id, err := p.Submit(ctx, pilot.Job{Name: "fx-ep1-b1", Dir: dir, Command: "fx-agent", WorkerInit: "export A=1", CPUsPerNode: 2, Walltime: "00:10:00"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(id, ".fakeserver") {
		t.Fatalf("ID %q", id)
	}
	sent, err := os.ReadFile(filepath.Join(state, "jobs", id, "script"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := Script(pilot.Job{Name: "fx-ep1-b1", Dir: dir, Command: "fx-agent", WorkerInit: "export A=1", CPUsPerNode: 2, Walltime: "00:10:00"}); string(sent) != want {
		t.Fatalf("qsub got\n%s\nwant\n%s", sent, want)
	}
	if st := statusOf(t, p, id); st.State != pilot.Pending || st.Raw != "Q" || st.Name != "fx-ep1-b1" {
		t.Fatalf("after qsub: %+v", st)
	}
	setState(t, state, id, "R")
	if st := statusOf(t, p, id); st.State != pilot.Running {
		t.Fatalf("running: %+v", st)
	}
	other, err := p.Submit(ctx, pilot.Job{Name: "fx-ep2-b1", Dir: t.TempDir(), Command: "x"})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := p.Jobs(ctx, "fx-ep1-")
	if err != nil || len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("Jobs(fx-ep1-) = %+v, %v; want %s only", jobs, err, id)
	}
	if err := p.Cancel(ctx, []string{id, other}); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, p, id)
	if st.State != pilot.Cancelled || st.Raw != "F (Exit_status 271)" {
		t.Fatalf("after qdel of a running job: %+v", st)
	}
	if st := statusOf(t, p, other); st.State != pilot.Cancelled {
		t.Fatalf("after qdel of a queued job: %+v", st)
	}
	if jobs, err := p.Jobs(ctx, "fx-ep"); err != nil || len(jobs) != 0 {
		t.Fatalf("Jobs after qdel = %+v, %v", jobs, err)
	}
	if err := p.Cancel(ctx, []string{id, "99.fakeserver"}); err != nil {
		t.Fatalf("deleting finished and unknown jobs: %v", err)
	}
	m, err := p.Status(ctx, []string{"99.fakeserver", id})
	if err != nil || m["99.fakeserver"].State != pilot.Unknown || m[id].State != pilot.Cancelled {
		t.Fatalf("Status of an unknown and a known job: %+v, %v", m, err)
	}
	if _, err := p.Status(ctx, []string{"1 -x"}); !isKind(err, fault.Invalid) {
		t.Fatalf("a bad ID: %v", err)
	}
}

// TestFakeErrors: qsub's message reaches the caller verbatim; a command
// that hangs is a timeout; a missing one is unavailable.
func TestFakeErrors(t *testing.T) {
	p, _ := fake(t)
	_, err := p.Submit(context.Background(), pilot.Job{Name: "b", Dir: t.TempDir(), Command: "x", Partition: "nope"})
	if !isKind(err, fault.Invalid) || !strings.HasSuffix(err.Error(), "qsub: Unknown queue") {
		t.Fatalf("a bad queue: %v", err)
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "qstat"), []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	slow := &Provider{Bin: bin, Timeout: 100 * time.Millisecond}
	if _, err := slow.Status(context.Background(), []string{"1.s"}); !isKind(err, fault.Timeout) {
		t.Fatalf("a hanging qstat: %v", err)
	}
	if err := slow.Cancel(context.Background(), []string{"1.s"}); !isKind(err, fault.Unavailable) {
		t.Fatalf("no qdel: %v", err)
	}
}
