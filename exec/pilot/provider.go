package pilot

import (
	"context"
	"fmt"
	"strings"
)

// State is a block's job as its scheduler reports it, in words common to
// every scheduler. Each provider maps every state its scheduler prints to
// one of these (and keeps the scheduler's own word in JobStatus.Raw).
type State string

// The states of a block's job.
const (
	Pending    State = "pending"    // queued, held, configuring: not running yet
	Running    State = "running"    // its processes run
	Completing State = "completing" // ending: the scheduler is cleaning up
	Completed  State = "completed"  // ended by itself with status 0
	Failed     State = "failed"     // ended with a non-zero status, or could not start
	Timeout    State = "timeout"    // killed at the end of its walltime
	NodeFail   State = "node_fail"  // a node of it failed
	Preempted  State = "preempted"  // the scheduler took its nodes back
	Cancelled  State = "cancelled"  // cancelled (scancel, qdel), by us or an operator
	Unknown    State = "unknown"    // the scheduler no longer knows it, or printed a state with no mapping
)

// Ended reports whether a job in state s will never run (again): every
// state but pending, running and completing. Unknown counts as ended: a
// job the scheduler forgot has no processes left that could serve.
func (s State) Ended() bool {
	switch s {
	case Pending, Running, Completing:
		return false
	}
	return true
}

// JobStatus is one job's state.
type JobStatus struct {
	ID    string // the scheduler's job ID ("12345", "12345.pbs-server")
	Name  string // the job's name, as submitted (Job.Name)
	State State
	// Raw is the scheduler's own word for the state ("PENDING", "CG",
	// "Q"), for messages.
	Raw string
	// Reason is the scheduler's explanation, where it gives one (Slurm's
	// reason column, PBS's comment), e.g. "PartitionDown".
	Reason string
}

// Job is a block's job as the pilot manager asks a provider to submit it.
// The provider writes a job script of its scheduler's directives, then
// WorkerInit, then Command, into Dir, and submits it.
type Job struct {
	// Name is the job's name. The manager makes it unique per endpoint
	// and block, with a prefix of the endpoint's (see Provider.Jobs).
	Name string
	// Dir is a directory of the block's own, which exists: the job script
	// and the job's standard output and error go there, as OutFile and
	// ErrFile (the manager quotes the last line of ErrFile when a block
	// ends before its agent connects). It may hold the
	// block's credential (mode 0600), which the command reads from there:
	// never on a command line.
	Dir string
	// Command is the shell command line run once per block on its first
	// node, after WorkerInit: the launcher (Launch) around the worker
	// agent.
	Command string
	// WorkerInit is shell lines run before Command (module load, activating
	// an environment), verbatim.
	WorkerInit string
	// Nodes is the number of nodes (nodes_per_block), at least 1.
	Nodes int
	// CPUsPerNode is the CPUs asked for on each node (cpus_per_block);
	// ignored with Exclusive.
	CPUsPerNode int
	// Exclusive asks for whole nodes.
	Exclusive bool
	// Walltime is the scheduler's HH:MM:SS; empty leaves the scheduler's
	// default.
	Walltime string
	// Partition is Slurm's partition or PBS's queue; empty for the
	// default.
	Partition string
	Account   string // charged account; empty for the default
	QoS       string // quality of service; empty for the default
	// Options are extra directive lines (scheduler_options), written
	// verbatim after the provider's own directives.
	Options []string
	// User is the local account to submit as (identity mapping, fxnode as
	// root); empty submits as fxnode's own user.
	User string
}

// The files of Job.Dir that a provider has the scheduler write the job's
// standard output and error to.
const (
	OutFile = "job.out"
	ErrFile = "job.err"
)

// Provider drives one batch scheduler through its own commands, each run
// with a timeout of the context's. Errors say what the scheduler printed.
type Provider interface {
	// Name is the provider's name in config.yaml: "slurm", "pbs",
	// "local".
	Name() string
	// Submit writes job's script and submits it; it returns the job's ID.
	Submit(ctx context.Context, job Job) (string, error)
	// Status reports the state of each of ids; a job the scheduler does not
	// list (any more) is Unknown, not an error.
	Status(ctx context.Context, ids []string) (map[string]JobStatus, error)
	// Cancel cancels ids; a job that already ended is no error.
	Cancel(ctx context.Context, ids []string) error
	// Jobs lists the jobs of the submitting user whose name starts with
	// prefix and that have not ended: after a restart, the blocks an
	// endpoint had submitted, to cancel or re-adopt.
	Jobs(ctx context.Context, prefix string) ([]JobStatus, error)
}

// Launch wraps cmd in the launcher that starts it once on each of a
// block's nodes: "srun", "mpiexec", or "simple" (or empty: cmd as it is,
// on the first node only). srun is given the job's CPUs per task
// explicitly, where the job has them: some Slurm releases (22.05's first)
// do not pass them from the job to its steps.
func Launch(launcher string, nodes int, cmd string) (string, error) {
	if nodes < 1 {
		nodes = 1
	}
	switch strings.TrimSpace(launcher) {
	case "", "simple":
		return cmd, nil
	case "srun":
		return fmt.Sprintf("srun --ntasks=%d --ntasks-per-node=1 ${SLURM_CPUS_PER_TASK:+--cpus-per-task=$SLURM_CPUS_PER_TASK} %s", nodes, cmd), nil
	case "mpiexec":
		return fmt.Sprintf("mpiexec -n %d -ppn 1 %s", nodes, cmd), nil
	}
	return "", fmt.Errorf("pilot: launcher %q: not srun, mpiexec or simple", launcher)
}
