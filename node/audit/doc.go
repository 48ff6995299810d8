// Package audit is an endpoint's audit log: one JSON line per task event
// (admitted, refused with its reason, started, finished with its outcome),
// naming the task, its caller and its function and when each thing
// happened, and never an argument, a result or a function's output, which
// its Event has no field for. The log is a file that File rotates by size:
// past MaxBytes it is renamed PATH.1 (PATH.1 to PATH.2, and so on), and
// the oldest beyond Keep is removed.
//
// File is also what fxnode keeps its last warnings and errors in, for
// fxnode diag: any stream of JSON lines that must stay bounded on disk.
package audit
