package pilot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fxmesh/fxmesh/exec/internal/proc"
	"github.com/fxmesh/fxmesh/fault"
)

// Local is the provider of blocks on the endpoint's own host, as Parsl's
// LocalProvider: a block's job is `sh SCRIPT` (its WorkerInit, then its
// Command) in a session and process group of its own, in the job's
// directory, with its output in job.out and job.err there. Like a
// scheduler's job it outlives the process that submitted it: a record of
// each job (DIR/jobs/ID.json) lets a restarted endpoint find and cancel
// it. Job IDs are numbers of Local's own; a job's state is its process's
// life: running, then completed (exit status 0), failed (another status
// or a signal), cancelled (by Cancel) or timeout (killed at its
// walltime). Local ignores nodes, CPUs, account and options, and has one
// partition, LocalPartition.
type Local struct {
	dir string

	mu   sync.Mutex // guards next and jobs
	next int
	jobs map[string]*localJob // those this Local started
}

// localJob is a job this Local started.
type localJob struct {
	rec  localRecord
	done chan struct{} // closed once the process is reaped
}

// localRecord is what DIR/jobs/ID.json keeps of a job.
type localRecord struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Start string `json:"start"` // the process's start time (/proc), against pid reuse
	// Set when it ended, or when it was cancelled.
	State  State  `json:"state,omitempty"`
	Raw    string `json:"raw,omitempty"`
	Reason string `json:"reason,omitempty"`
	Cancel bool   `json:"cancel,omitempty"`
	Killed bool   `json:"timeout,omitempty"`
}

var _ Provider = (*Local)(nil)

// stateNone is the state of a job record whose process has not been seen
// to end.
const stateNone State = ""

// LocalPartition is the one partition of Local; a job naming another is
// refused, as a scheduler refuses a partition it does not have.
const LocalPartition = "local"

// NewLocal returns a Local keeping its job records in dir, which it makes.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(filepath.Join(dir, "jobs"), 0o700); err != nil {
		return nil, fmt.Errorf("exec/pilot: local provider: %w", err)
	}
	l := &Local{dir: dir, jobs: map[string]*localJob{}}
	recs, err := l.records()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if n, err := strconv.Atoi(r.ID); err == nil && n > l.next {
			l.next = n
		}
	}
	return l, nil
}

// Name is "local".
func (l *Local) Name() string { return "local" }

// Submit writes the job's script and starts it.
func (l *Local) Submit(ctx context.Context, job Job) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if job.Name == "" || job.Dir == "" || job.Command == "" {
		return "", fault.E(fault.Invalid, "exec/pilot: local provider", "job without a name, directory or command")
	}
	if job.Partition != "" && job.Partition != LocalPartition {
		return "", fault.E(fault.Invalid, "exec/pilot: local provider", "invalid partition specified: %s (the only one is %s)", job.Partition, LocalPartition)
	}
	var script bytes.Buffer
	script.WriteString("#!/bin/sh\n# fxmesh block " + job.Name + "\n")
	if job.WorkerInit != "" {
		script.WriteString(strings.TrimRight(job.WorkerInit, "\n") + "\n")
	}
	script.WriteString(job.Command + "\n")
	path := filepath.Join(job.Dir, "job.sh")
	if err := os.WriteFile(path, script.Bytes(), 0o700); err != nil {
		return "", fmt.Errorf("exec/pilot: local provider: %w", err)
	}
	out, err := os.OpenFile(filepath.Join(job.Dir, OutFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("exec/pilot: local provider: %w", err)
	}
	defer out.Close()
	errf, err := os.OpenFile(filepath.Join(job.Dir, ErrFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("exec/pilot: local provider: %w", err)
	}
	defer errf.Close()
	cmd := osexec.Command("/bin/sh", path)
	cmd.Dir, cmd.Stdout, cmd.Stderr = job.Dir, out, errf
	// A session of its own: its own process group, which Cancel kills,
	// and no tie to the endpoint's life.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	id := strconv.Itoa(l.next)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("exec/pilot: local provider: start %s: %w", job.Name, err)
	}
	j := &localJob{rec: localRecord{ID: id, Name: job.Name, PID: cmd.Process.Pid, Start: procStart(cmd.Process.Pid)}, done: make(chan struct{})}
	l.jobs[id] = j
	if err := l.saveLocked(&j.rec); err != nil {
		_ = proc.KillGroup(cmd.Process.Pid)
		_ = cmd.Wait()
		delete(l.jobs, id)
		return "", err
	}
	var timer *time.Timer
	if wt, err := ParseWalltime(job.Walltime); err == nil && job.Walltime != "" {
		timer = time.AfterFunc(wt, func() {
			l.mu.Lock()
			j.rec.Killed = true
			l.mu.Unlock()
			_ = proc.KillGroup(cmd.Process.Pid)
		})
	}
	go func() {
		_ = cmd.Wait()
		if timer != nil {
			timer.Stop()
		}
		e := proc.ExitOf(cmd.ProcessState)
		l.mu.Lock()
		defer l.mu.Unlock()
		r := &j.rec
		switch {
		case r.Cancel:
			r.State, r.Raw = Cancelled, "CANCELLED"
		case r.Killed:
			r.State, r.Raw = Timeout, "TIMEOUT"
		case e.Signal == 0 && e.Code == 0:
			r.State, r.Raw = Completed, "COMPLETED"
		default:
			r.State, r.Raw, r.Reason = Failed, "FAILED", e.String()
		}
		_ = l.saveLocked(r)
		close(j.done)
	}()
	return id, nil
}

// Status reports each job's state; a job Local has no record of is
// Unknown.
func (l *Local) Status(ctx context.Context, ids []string) (map[string]JobStatus, error) {
	out := make(map[string]JobStatus, len(ids))
	for _, id := range ids {
		out[id] = l.status(id)
	}
	return out, ctx.Err()
}

func (l *Local) status(id string) JobStatus {
	l.mu.Lock()
	j := l.jobs[id]
	var rec localRecord
	if j != nil {
		rec = j.rec
	}
	l.mu.Unlock()
	if j == nil {
		r, err := l.load(id)
		if err != nil {
			return JobStatus{ID: id, State: Unknown, Raw: "UNKNOWN"}
		}
		rec = *r
		if rec.State == stateNone && !alive(rec.PID, rec.Start) {
			// It ended while no Local of this record's watched it.
			rec.State, rec.Raw, rec.Reason = Unknown, "UNKNOWN", "ended unobserved"
			if rec.Cancel {
				rec.State, rec.Raw, rec.Reason = Cancelled, "CANCELLED", ""
			}
		}
	}
	if rec.State == stateNone {
		return JobStatus{ID: id, Name: rec.Name, State: Running, Raw: "RUNNING"}
	}
	return JobStatus{ID: id, Name: rec.Name, State: rec.State, Raw: rec.Raw, Reason: rec.Reason}
}

// Cancel kills each job's process group and waits, for a while, for it to
// end.
func (l *Local) Cancel(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		l.mu.Lock()
		j := l.jobs[id]
		var rec *localRecord
		if j != nil {
			rec = &j.rec
		} else if r, err := l.load(id); err == nil {
			rec = r
		}
		if rec == nil || rec.State != stateNone {
			l.mu.Unlock()
			continue // unknown, or ended: no error
		}
		rec.Cancel = true
		_ = l.saveLocked(rec)
		pid, start := rec.PID, rec.Start
		l.mu.Unlock()
		if !alive(pid, start) {
			continue
		}
		if err := proc.KillGroup(pid); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("exec/pilot: local provider: cancel job %s: %w", id, err))
			continue
		}
		if j != nil {
			select {
			case <-j.done:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("exec/pilot: local provider: cancel job %s: %w", id, ctx.Err()))
			}
			continue
		}
		for alive(pid, start) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// Jobs lists the jobs whose names start with prefix and whose process
// lives.
func (l *Local) Jobs(ctx context.Context, prefix string) ([]JobStatus, error) {
	recs, err := l.records()
	if err != nil {
		return nil, err
	}
	var out []JobStatus
	for _, r := range recs {
		if !strings.HasPrefix(r.Name, prefix) {
			continue
		}
		if st := l.status(r.ID); !st.State.Ended() {
			out = append(out, st)
		}
	}
	return out, ctx.Err()
}

func (l *Local) recordPath(id string) string { return filepath.Join(l.dir, "jobs", id+".json") }

// saveLocked writes r's record.
func (l *Local) saveLocked(r *localRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := l.recordPath(r.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("exec/pilot: local provider: %w", err)
	}
	if err := os.Rename(tmp, l.recordPath(r.ID)); err != nil {
		return fmt.Errorf("exec/pilot: local provider: %w", err)
	}
	return nil
}

func (l *Local) load(id string) (*localRecord, error) {
	if _, err := strconv.Atoi(id); err != nil {
		return nil, fault.E(fault.NotFound, "exec/pilot: local provider", "no job %q", id)
	}
	b, err := os.ReadFile(l.recordPath(id))
	if err != nil {
		return nil, err
	}
	var r localRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("exec/pilot: local provider: job %s: %w", id, err)
	}
	return &r, nil
}

// records reads every job record.
func (l *Local) records() ([]localRecord, error) {
	ents, err := os.ReadDir(filepath.Join(l.dir, "jobs"))
	if err != nil {
		return nil, fmt.Errorf("exec/pilot: local provider: %w", err)
	}
	var out []localRecord
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if r, err := l.load(id); err == nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// procStart is a process's start time, in clock ticks since boot, from
// /proc (field 22 of its stat); "" where there is no /proc.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	if f[0] == "Z" || f[0] == "X" {
		return "dead"
	}
	return f[19]
}

// alive reports whether process pid lives and is the one that started at
// start (not a later process given the same pid).
func alive(pid int, start string) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	now := procStart(pid)
	return now != "dead" && (start == "" || now == start)
}
