// Package invoke defines signed invocations and what answers them: the
// Invocation a caller signs and sends straight to an endpoint, the task ID
// derived from its signed bytes (so that resending it can never run it twice),
// its decoding (size, signature, schema), and the framed messages of the
// invocation and task protocols. Result, Error and Status, with its typed
// State, are the one form of a task's outcome: on the wire, in an endpoint's
// task store and in the client alike. An endpoint's decision to admit an
// invocation lives in package node/admission; the streams that carry the
// messages live in package node.
//
// An invocation is run at most once unless its caller says otherwise: its
// signed Retries count (0 by default) says how many more times an endpoint
// may run an input it lost mid-run, with a worker, a container or a batch
// scheduler's block.
package invoke
