package node

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target that TuneRuntime sets: a node
// keeps a live heap of a few MiB and allocates for every invocation, so
// Go's default of 100 collects every few milliseconds under load, for a
// tenth of the CPU; 400 spends about 1% and holds a few tens of MiB more.
const GCPercent = 400

// TuneRuntime sets the Go runtime up for a long-running node: GCPercent,
// unless the operator set GOGC. fxnode calls it at start; a memory cap,
// where one is wanted, is GOMEMLIMIT's to set.
func TuneRuntime() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
}
