// Package invoke defines signed invocations and their admission: the
// Invocation a caller signs and sends straight to an endpoint, the task ID
// derived from its signed bytes (so that resending it can never run it twice),
// the pure checks an endpoint makes before anything runs (signature, target,
// freshness, size, policy), and the framed messages of the invocation and task
// protocols. The streams that carry them live in package node.
//
// An invocation is run at most once unless its caller says otherwise: its
// signed Retries count (0 by default) says how many more times an endpoint
// may run an input it lost mid-run, with a worker, a container or a batch
// scheduler's block.
package invoke
