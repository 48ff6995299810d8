//go:build race

package sim

// raceDetector is true when the tests run with -race, which slows the
// whole libp2p stack of a simulated mesh about tenfold.
const raceDetector = true
