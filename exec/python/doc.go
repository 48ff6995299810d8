// Package python runs Python functions on a pool of warm worker processes:
// it implements exec.Executor, with the optional exec.Statser, exec.Warmer
// and exec.Batcher, for functions of kind exec.KindPython.
//
// Each worker is one interpreter running a small program embedded in this
// package (worker.py). Go and the worker speak over two pipes of their own,
// the worker's fd 3 and 4, in frames of a 4-byte big-endian length and a
// JSON body (protocol.go); the user's code never touches them. Its fd 1 and
// 2 feed the pool's log, and within a task sys.stdout and sys.stderr are
// bounded captures that come back in the Result.
//
// A worker compiles each function's source once and keeps it by
// Function.ID, so calls after the first send only arguments.
//
// # Tenants
//
// A worker serves one tenant (exec.Task.Tenant, the invocation's signer)
// for its whole life. Config.Workers bounds the workers of all tenants
// together. A call takes an idle worker of its own tenant (the warm path:
// a tenant's second call finds the worker its first one left); else it
// starts a fresh one in a free slot, or in the slot of the longest idle
// worker of another tenant, which is killed: a worker is never handed from
// one tenant to another. With none of these, the call waits. A worker that
// a task frees goes to a waiting call of the tenant whose calls hold the
// fewest workers (ties: its own tenant, else the one waiting longest);
// given to another tenant, it is killed and a fresh one started in its
// slot. So while other tenants wait, a tenant holding every worker gives
// them up one per task that ends until all hold about as many, and no
// tenant loses a warm worker to one that holds as many as it.
//
// Separate processes are not enough when they share a uid, so
// Config.Tenants, a tenant.Table that the endpoint's executors share, can
// go further (it needs this process to run as root; see package
// exec/tenant):
//
//   - with a uid range, a tenant without an account runs as an
//     unprivileged uid of its own from the range, with the group of the
//     same number and no supplementary groups; the uid stays the tenant's
//     across restarts, is never given to two tenants, and is the one its
//     shell commands (exec/shell) run as too;
//   - a tenant mapped to a local account runs as the account (uid, gid,
//     supplementary groups), in its home directory;
//   - with an account required, tasks of unmapped tenants fail as
//     fault.Denied.
//
// An isolated worker starts in its tenant's working directory: the
// account's home, or the table's directory/tenants/t-HASH, made mode 0700
// and owned by the tenant's uid (the directory its shell commands work in
// too). It enters it through a descriptor (fchdir),
// so it needs no right to the directories above, and the node's directory
// stays closed to it. HOME names that directory (with an account, USER and
// LOGNAME its name too), and the worker's umask is 077.
//
// What a tenant's code can see, then: what its uid may read like any local
// user of the machine (the interpreter, /usr, world-readable files, /tmp,
// the list of processes in /proc and their command lines), its own
// working directory, and the environment Config.Env gives (nil: this
// process's, whatever it holds). It cannot open another tenant's working
// directory, the files of the node's directory (its key, task journal and
// database, all readable by root alone), or anything of another tenant's
// workers or shell commands through /proc (their descriptors, memory or
// environment: other uids), nor signal them. What it can see of its own
// tenant is all of it: the same tenant's other workers and shell commands
// run as the same uid. The interpreter must be one every worker uid may
// run: New checks it for the first uid of the range and for each account,
// by the permissions along its path and by running it once as them; where
// they cannot, it runs Config.Fallback instead (the endpoint's is
// /usr/bin/python3), logging one line that says so, and without a usable
// fallback it fails, saying which directory is in the way (pyenv's under
// /root is; Debian's /usr/bin/python3 is not). Without a uid range or
// accounts every worker runs as this process's user: tenants still never
// share a process, but one tenant's code could reach another's workers
// through /proc, and the node's files. The endpoint (package node) never
// leaves it so: fxnode running as root without worker_uids uses the range
// 200000-265535, and one that does not run as root runs functions on its
// host for its owner alone.
//
// Calls wait, in order of arrival within a tenant, until they get a
// worker or their context ends.
//
// What goes wrong, and what the caller sees:
//
//   - the function raises: Result.Error of kind fault.User, with the
//     exception's type, message and traceback; the worker lives on;
//   - it returns what JSON cannot hold (a set, NaN): fault.User;
//   - its result is over Limits.MaxResultBytes: fault.TooLarge;
//   - it runs past its timeout: the worker's process group is killed and
//     the task fails with fault.Timeout;
//   - the worker dies (os._exit, a signal, the OOM killer): that task
//     alone fails with fault.System, saying how the worker ended;
//   - the caller's context ends: the worker is killed and Execute returns
//     the context's error.
//
// A dead worker is replaced in the background; other workers, and the
// tasks on them, are not disturbed. A worker that died between tasks is
// noticed when the next request cannot reach it, and that task goes to
// another worker.
//
// Workers are reused, which is what makes them fast: what a task leaves
// behind (its module's globals, a changed working directory or
// environment, threads still printing) stays in its worker for later
// tasks of the same tenant, and of no other. sys.stdout and sys.stderr
// are text-only: code that writes bytes to sys.stdout.buffer fails.
//
// ExecuteBatch sends many inputs of one function in chunks, one request per
// chunk, which spares most of the round trips of one Execute per input.
package python
