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
// Function.ID, so calls after the first send only arguments. Calls go to
// free workers through a channel; with none free they wait, in order,
// until one is free or their context ends.
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
// tasks. Workers share nothing, but a worker runs the functions of
// whoever calls the pool, one after another: the pool isolates tasks from
// the pool, not from each other. sys.stdout and sys.stderr are text-only:
// code that writes bytes to sys.stdout.buffer fails.
//
// ExecuteBatch sends many inputs of one function in chunks, one request per
// chunk, which spares most of the round trips of one Execute per input.
package python
