// Package exectest is the conformance test of exec.Executor: one harness,
// Run, that every executor passes with fixtures of its own, in the manner
// of Nomad's driver test utilities.
//
// Run checks results and values, user errors, timeouts, captured and
// truncated output, many concurrent tasks, cancellation before and during a
// task, context deadlines, malformed tasks, Close (twice, and with tasks
// running, without leaking goroutines), and, for executors that have them,
// the optional abilities: exec.Statser, exec.Warmer and exec.Batcher.
//
// For the tests of tenancy it also makes local accounts (NewAccount) and
// tenant tables (NewTable).
package exectest
