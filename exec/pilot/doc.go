// Package pilot runs tasks on batch schedulers through blocks: pilot jobs
// that start fxmesh's worker agent on compute nodes, which connects back to
// its endpoint and runs tasks there. It holds the contract of a scheduler
// provider (Provider, Job, State), the block manager (Manager), the agent
// (RunAgent) and a provider of its own, Local, that runs a block as a
// process group of the endpoint's host, as Parsl's LocalProvider does. The
// Slurm and PBS providers are packages of their own (exec/slurm,
// exec/pbs); a Provider is all that differs between them.
//
// # The manager
//
// Manager is an exec.Executor (and exec.Statser, exec.Batcher) for Python
// and shell functions, and for functions with a container image. Execute
// queues a task; the manager gives it to an agent with a free worker,
// preferring one that ran the task's tenant before (its worker may be
// warm). The agent runs it on the same exec/python pool and exec/shell
// executor as an endpoint runs locally, with the same tenancy: a worker
// serves one tenant only; a container function, on the agent's
// exec/container executor (AgentConfig.Executors[KindContainer]), never on
// the others. Agents say in their hello which container runtime their
// node has; container functions go only to agents that have one, and
// while none has (the last to connect had none), Execute refuses them with
// ErrNoContainerRuntime, for the node to run them elsewhere.
//
// # Blocks per account
//
// With identity mapping, Config.UserOf maps a task's tenant to a local
// account: its tasks run only on blocks whose jobs were submitted as that
// account (Job.User), and such a block serves no other account; tenants
// mapped to none share the endpoint's own blocks. Scaling is decided per
// account, within one MaxBlocks for all: the accounts whose work came
// first get a block each before any gets a second; an idle block of an
// account with nothing queued is cancelled at once while another's work
// waits for room, else after MaxIdle; MinBlocks and InitBlocks count the
// endpoint's own blocks only.
//
// A block is pending (submitted; its agent not yet connected), running
// (its agent takes tasks), draining (it takes no new task: in the last
// DrainPeriod of its walltime, or idle and being cancelled) or ended.
// Every ScalePeriod, and at once when work finds no worker, the manager
// asks the provider for its blocks' states and decides: it submits blocks
// while queued work exceeds the idle and expected workers, up to
// MaxBlocks; it keeps MinBlocks; it cancels a block idle for MaxIdle, and
// a draining one with no task left. A block whose job ends, or whose agent
// disconnects or misses MissedBeats heartbeats, is lost: its job is
// cancelled, and each task it ran fails with fault.System, "block lost:
// job 123 CANCELLED" with the scheduler's word and reason, within the
// heartbeat timeout, unless the task's Retries allow running it again:
// then it goes back to the front of the queue. Blocks that keep failing
// to submit or to start put the manager in an error state (Summary.Error,
// the scheduler's message) until an agent connects; submissions then back
// off, up to a minute apart.
//
// New cancels the jobs that the provider lists under the manager's Prefix:
// those of an earlier run of the endpoint, killed before it could. Close
// cancels every block.
//
// # Agents and their credentials
//
// Like the rest of exec, pilot knows nothing of libp2p: the node hands the
// manager each agent's connection as an io.ReadWriteCloser, with the
// identity it authenticated (Attach). Before a block is submitted, the
// manager asks the node (Config.Prepare) to write the block's credential
// into its directory, readable by the job alone and never on a command
// line; Attach refuses, before reading anything, an identity that is no
// credential of a live block, and a credential already in use (a block's
// agents may connect once per node).
//
// The block protocol (protocol.go) is frames of a 4-byte big-endian length
// and a JSON body, as exec/python speaks to its workers: hello and
// welcome, tasks, cancellations, results and heartbeats. What an agent
// sends is read within a bound (a result under the manager's Limits) and
// checked before it is believed.
package pilot
