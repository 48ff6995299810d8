// Package taskstore is an endpoint's durable record of the tasks it has
// accepted, and its replay cache: it refuses an invocation seen before,
// tracks each task through its states, and keeps its results for later
// retrieval (fx result TASK) until its retention has passed. It keeps
// results, errors and states in the form the wire carries (invoke.Result,
// invoke.Error, invoke.State), so that nothing is converted between the
// disk and the caller. It lives under node because only the daemon writes
// tasks; a client reads them through the task protocol.
//
// # Life of a task
//
// The endpoint calls Admit with the task's ID (derived from the signed
// invocation's bytes) before anything runs. Admit refuses an ID it has
// seen, in this process or an earlier one, with ErrReplayed (kind
// fault.Replayed); Seen asks the same without recording anything, for an
// admission decision made before the task is recorded. The task then moves forward through SetState (queued,
// running) and finishes when PutResult has stored a Result for every input
// (done; the errors of single inputs live in their results) or when Fail
// fails it as a whole, or is cancelled by Cancel. Get, Results, Wait and Follow read it, from memory
// or disk, from any goroutine: Wait blocks until the task finishes, and
// Follow streams its results as they are stored. Both are woken by the
// writes themselves and never poll.
//
// # Durability
//
// Admit returns only once the admission is journaled: appended to a
// journal beside the database (the files path+".journal-a" and -b).
// Admits that arrive while a write is in progress share the next one
// (group commit). A killed process loses no admission: the kernel holds
// the write. Syncing the journal to the disk itself is a choice:
//
//   - With Options.SyncAdmissions, Admit also waits for an fdatasync (one
//     per group), so that not even a crash of the machine loses an
//     admission. On a disk that syncs in 0.2 ms this costs about a third of an
//     endpoint's throughput.
//   - Otherwise the next flush (below) makes admissions durable in bbolt.
//     While the store is open a file beside it, path+".open", says under
//     which boot of the machine. If it is still there at the next Open
//     and the machine has restarted since, admissions made before the
//     restart may be lost; Admit then refuses every task issued before the
//     restart (Task.Issued before Horizon), kind fault.Expired, so that no
//     invocation can run twice. The horizon is kept in the database.
//
// The journal's two files are preallocated, 4 MiB each (8 MiB in all), so
// that an admission writes into blocks the file already has and its sync
// need not update the file's size. Where the volume lacks the room, Open
// makes both smaller, halving down to 64 KiB each, and logs a warning; a
// file then grows when it must, and checkpoints come sooner (after a
// quarter of the smaller file's size in records, at most 1 MiB). With less
// room than 64 KiB per file, Open fails with an error (wrapping ENOSPC)
// that says how much the journal needs, in which directory, and how much
// is free there. A file that cannot grow for lack of space refuses the
// admission the same way, and takes the next once there is room.
//
// Everything else is written behind. SetState, PutResult and Fail change
// the task in memory, where every read sees the change at once. A
// background flusher writes the changes to bbolt in one transaction per
// FlushInterval (5ms by default), or sooner once 4096 writes are pending.
// Once the journal holds 1 MiB, the flusher switches appends to the
// journal's other file and retires the first one, whose admissions the
// flush has just written; the switch holds up no Admit. Close flushes
// everything.
//
// If the process dies before a change is flushed, the change is lost, and
// that is safe. On the next Open, every task that is not done or failed on
// disk is marked failed with kind fault.System and the message "endpoint
// restarted", whether it was received, queued, running, or had finished in
// memory only. No task stays running forever, and no admitted ID is
// forgotten.
//
// A failed flush (a full disk, say) is logged and retried with backoff.
// Until a flush succeeds, Admit refuses new tasks (kind fault.Internal);
// reads keep being served from memory. A failed journal write or sync
// makes every later Admit fail. Close returns the error of a failed final
// flush, and the next Open recovers what was journaled. A corrupt record
// is reported as an error, never as a panic.
//
// # Retention and replay
//
// A collector runs at Open and every GCInterval. It purges a finished task
// and its results once Retention (7 days by default) has passed since the
// task finished. The replay entry lasts as long as the task, or until the
// invocation expires, whichever is later. A task purged before its Expires
// leaves a tombstone, which Admit still refuses but Get reports as not
// found. Admit refuses an invocation that has already expired (kind
// fault.Expired), since only unexpired IDs are remembered.
package taskstore
