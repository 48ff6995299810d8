package slurm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// needCluster skips a test where no Slurm cluster answers, or fails it
// when FXMESH_SLURM=required.
func needCluster(t *testing.T) { exectest.NeedSlurm(t) }

// prefix is a job name prefix of this test's own.
func prefix(t *testing.T) string {
	return fmt.Sprintf("fxt%d-%s-", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
}

// jobDir is a directory for a job that any account can enter (t.TempDir's
// parents are root's, mode 0700).
func jobDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fxslurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// submit submits job and cancels it when the test ends.
func submit(t *testing.T, p *Provider, job pilot.Job) string {
	t.Helper()
	id, err := p.Submit(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("submitted %s as job %s", job.Name, id)
	t.Cleanup(func() { _ = p.Cancel(context.Background(), []string{id}) })
	return id
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(t *testing.T, p *Provider, id string) pilot.JobStatus {
	t.Helper()
	m, err := p.Status(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return m[id]
}

// TestSubmitFollowCancel: a job runs its WorkerInit then its command (which
// writes a file), shows as pending or running in Status and Jobs, and after
// Cancel as cancelled (or forgotten), gone from Jobs.
func TestSubmitFollowCancel(t *testing.T) {
	needCluster(t)
	p := &Provider{}
	dir := jobDir(t)
	name := prefix(t) + "b1"
	id := submit(t, p, pilot.Job{
		Name: name, Dir: dir, Nodes: 1, CPUsPerNode: 1, Walltime: "00:05:00",
		WorkerInit: "export FXT_INIT=from-init\ncd " + dir,
		Command:    `echo "$FXT_INIT $SLURM_JOB_ID" > started.tmp && mv started.tmp started && sleep 300`,
	})
	st := status(t, p, id)
	if st.State != pilot.Pending && st.State != pilot.Running {
		t.Fatalf("just submitted: %+v, want pending or running", st)
	}
	if st.Name != name {
		t.Errorf("name %q, want %q", st.Name, name)
	}
	var got []byte
	waitFor(t, "file from the job", func() bool {
		var err error
		got, err = os.ReadFile(filepath.Join(dir, "started"))
		return err == nil
	})
	num, _, _ := strings.Cut(id, ";")
	if want := "from-init " + num + "\n"; string(got) != want {
		t.Fatalf("the job wrote %q, want %q", got, want)
	}
	if st := status(t, p, id); st.State != pilot.Running || st.Raw != "RUNNING" {
		t.Fatalf("while its command runs: %+v", st)
	}
	jobs, err := p.Jobs(context.Background(), prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].ID != id || jobs[0].State != pilot.Running {
		t.Fatalf("Jobs(%q) = %+v, want job %s running", prefix(t), jobs, id)
	}
	if jobs, err := p.Jobs(context.Background(), prefix(t)+"other"); err != nil || len(jobs) != 0 {
		t.Fatalf("Jobs of another prefix = %+v, %v; want none", jobs, err)
	}
	if err := p.Cancel(context.Background(), []string{id}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cancelled state", func() bool {
		st := status(t, p, id)
		return st.State == pilot.Cancelled || st.State == pilot.Unknown
	})
	if jobs, err := p.Jobs(context.Background(), prefix(t)); err != nil || len(jobs) != 0 {
		t.Fatalf("Jobs after Cancel = %+v, %v; want none", jobs, err)
	}
	if err := p.Cancel(context.Background(), []string{id}); err != nil {
		t.Fatalf("cancelling an ended job again: %v", err)
	}
}

// TestEnded: a job that exits 0 completes, one that exits 3 fails (what
// it printed on its standard error in Dir's pilot.ErrFile, which the
// manager quotes), one past its time limit times out.
func TestEnded(t *testing.T) {
	needCluster(t)
	p := &Provider{}
	for _, c := range []struct {
		name, cmd, walltime string
		want                pilot.State
	}{
		{"ok", "true", "", pilot.Completed},
		{"fail", "echo 'fxt: last words' >&2; exit 3", "", pilot.Failed},
		{"late", "sleep 300", "0:01", pilot.Timeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.want == pilot.Timeout && testing.Short() {
				t.Skip("waits a minute for the time limit")
			}
			t.Parallel()
			dir := jobDir(t)
			id := submit(t, p, pilot.Job{Name: prefix(t), Dir: dir, Command: c.cmd, Walltime: c.walltime})
			var st pilot.JobStatus
			waitForLong(t, "its end", 3*time.Minute, func() bool {
				st = status(t, p, id)
				return st.State.Ended()
			})
			if st.State != c.want {
				t.Fatalf("%q ended %+v, want %s", c.cmd, st, c.want)
			}
			if c.want == pilot.Failed {
				b, err := os.ReadFile(filepath.Join(dir, pilot.ErrFile))
				if err != nil || !strings.Contains(string(b), "fxt: last words") {
					t.Fatalf("the job's %s: %q, %v; want what it printed on stderr", pilot.ErrFile, b, err)
				}
			}
		})
	}
}

func waitForLong(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBadPartition: sbatch's own message reaches the caller.
func TestBadPartition(t *testing.T) {
	needCluster(t)
	p := &Provider{}
	_, err := p.Submit(context.Background(), pilot.Job{Name: prefix(t), Dir: jobDir(t), Command: "true", Partition: "nope"})
	if !isKind(err, fault.Invalid) || !strings.Contains(err.Error(), "sbatch: error: invalid partition specified: nope") {
		t.Fatalf("Submit to partition nope: %v; want an invalid error with sbatch's message", err)
	}
	t.Log(err)
}

// TestForgotten: jobs squeue never knew are unknown, not an error, alone
// or with others.
func TestForgotten(t *testing.T) {
	needCluster(t)
	p := &Provider{}
	for _, ids := range [][]string{{"99999990"}, {"99999990", "99999991"}} {
		m, err := p.Status(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if m[id].State != pilot.Unknown || m[id].ID != id {
				t.Fatalf("Status(%v)[%s] = %+v, want unknown", ids, id, m[id])
			}
		}
		if err := p.Cancel(context.Background(), ids); err != nil {
			t.Fatalf("Cancel(%v): %v", ids, err)
		}
	}
	if _, err := p.Status(context.Background(), []string{"1,2"}); !isKind(err, fault.Invalid) {
		t.Fatalf("Status of a bad ID: %v", err)
	}
}

// TestTimeout: a command that does not answer in time is a timeout error.
func TestTimeout(t *testing.T) {
	bin := t.TempDir()
	hang := "#!/bin/sh\necho stuck >&2\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(bin, "squeue"), []byte(hang), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Provider{Bin: bin, Timeout: 200 * time.Millisecond}
	_, err := p.Status(context.Background(), []string{"1"})
	if !isKind(err, fault.Timeout) || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("a hanging squeue: %v; want a timeout error with what it said", err)
	}
}

// TestUser: as root, a job with User is submitted as that account: it runs
// as the account, squeue shows it as the account's, and root's Jobs finds
// it.
func TestUser(t *testing.T) {
	needCluster(t)
	exectest.NeedRoot(t)
	base := jobDir(t)
	acct := exectest.NewAccount(t, base)
	dir := filepath.Join(base, "block")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credential"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Provider{}
	id := submit(t, p, pilot.Job{
		Name: prefix(t), Dir: dir, User: acct.Name,
		Command: `{ id -un; echo "$HOME"; cat credential; } > who.tmp && mv who.tmp who && sleep 300`,
	})
	var got []byte
	waitFor(t, "file from the job", func() bool {
		var err error
		got, err = os.ReadFile(filepath.Join(dir, "who"))
		return err == nil
	})
	if want := acct.Name + "\n" + acct.Home + "\nsecret"; string(got) != want {
		t.Fatalf("the job wrote %q, want %q", got, want)
	}
	out, err := exec.Command("squeue", "-h", "-o", "%u", "-j", id).Output()
	if err != nil || strings.TrimSpace(string(out)) != acct.Name {
		t.Fatalf("squeue's user of job %s: %q, %v; want %s", id, out, err, acct.Name)
	}
	jobs, err := p.Jobs(context.Background(), prefix(t))
	if err != nil || len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("root's Jobs = %+v, %v; want job %s", jobs, err, id)
	}
	if _, err := p.Submit(context.Background(), pilot.Job{Name: prefix(t), Dir: dir, Command: "true", User: "root"}); !isKind(err, fault.Invalid) {
		t.Fatalf("submitting as root for a user: %v", err)
	}
	if _, err := p.Submit(context.Background(), pilot.Job{Name: prefix(t), Dir: dir, Command: "true", User: "no-such-fx-user"}); !isKind(err, fault.Invalid) {
		t.Fatalf("submitting as a missing account: %v", err)
	}
}
