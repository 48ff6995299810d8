// Package taskstore is an endpoint's durable record of the tasks it has
// accepted, and its replay cache: it refuses an invocation seen before,
// tracks each task through its states, and keeps its results for later
// retrieval (fx result TASK) until its retention has passed.
//
// # Life of a task
//
// The endpoint calls Admit with the task's ID (derived from the signed
// invocation's bytes) before anything runs. Admit refuses an ID it has seen,
// with ErrReplayed (kind fault.Replayed), in this process or an earlier one.
// The task then moves forward through SetState (queued, running), and
// finishes when PutResult has stored a Result for every input (done: errors
// of single inputs live in their results) or when Fail fails it as a whole.
// Get, Results, Wait and Follow read it, from memory or disk, from any
// goroutine: Wait blocks until the task finishes and Follow streams results
// as they are stored; both are woken by the writes, without polling.
//
// # Durability
//
// Admit returns only once the admission is on disk: it is appended to a
// journal beside the database (path+".journal-a" and "-b") and
// fdatasync'd, and
// Admits that arrive while one sync is in progress share the next (group
// commit), so a lone Admit costs one sync and many concurrent ones cost one
// sync per group.
//
// Everything else is written behind. SetState, PutResult and Fail change
// the task in memory, where every read sees the change at once, and a
// background flusher writes the changes of FlushInterval (5ms by default),
// or of 4096 writes if sooner, to bbolt in one transaction. Once the journal
// holds 1 MiB, the flusher switches it to its other file and retires the
// first, whose admissions the flush has just written; the switch holds up no
// Admit. Close flushes everything. If the process dies before a change is flushed, the
// change is lost, and that is safe: on the next Open, every task that is not
// done or failed on disk, whether it was received, queued, running, or had
// finished in memory only, is marked failed with kind fault.System and the
// message "endpoint restarted". No task stays running forever, and no
// admitted ID is forgotten.
//
// A failed flush (a full disk) is logged, retried with backoff, and makes
// Admit refuse new tasks (kind fault.Internal) until a flush succeeds; a
// failed journal write or sync makes every later Admit fail; Close returns
// the error of a failed final flush. Corrupt records are reported as
// errors, never panics.
//
// # Retention and replay
//
// A finished task and its results are purged Retention (7 days by default)
// after it finished, by a collector that runs at Open and every GCInterval.
// The replay entry lives as long as the task or until the invocation
// expires, whichever is later: a task purged before its Expires leaves a
// tombstone that Admit still refuses but Get reports as not found. Admit
// refuses an invocation already expired (kind fault.Expired), since only
// unexpired IDs are remembered.
package taskstore
