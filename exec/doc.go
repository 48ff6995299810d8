// Package exec is fxmesh's contract for running tasks: the Function a user
// registers, the Task that invokes it, the Result it produces, and the
// Executor interface every way of running functions implements.
//
// The contract lives here and the implementations elsewhere, in the manner
// of Nomad's driver plugins: exec/python keeps a pool of warm Python
// workers, exec/shell runs command templates without a shell, and later
// executors (containers, batch-scheduler jobs, remote workers) implement the
// same interface. Nothing in this package knows about a transport: values
// are plain Go types and JSON, and an executor may be local or far away.
//
// # Errors
//
// Execute separates two kinds of failure. A task that fails (the function
// raised, the command exited non-zero, the task ran out of time, the
// process running it crashed) yields a Result whose Error says why, with a
// fault.Kind: fault.User for the user's own failures, fault.Timeout for a
// walltime exceeded, fault.System for a crash of the machinery under the
// task (a worker killed, out of memory), fault.TooLarge for a result over
// the limits and fault.Invalid for inputs a function cannot take. Execute
// returns a non-nil error only when the executor itself cannot run the
// task: it is closed (ErrClosed), the caller's context ended (see
// ContextError), or the request is malformed or of a kind it does not run
// (fault.Invalid).
//
// # Optional abilities
//
// Abilities that not every executor has are small separate interfaces that
// callers check for with a type assertion: Statser reports load, Warmer
// preloads a function, Batcher runs many inputs of one function with fewer
// round trips.
//
// # Conformance
//
// Package exec/exectest holds the one conformance test every executor must
// pass; each implementation runs it with its own fixtures.
package exec
