//go:build !race

package sim

// raceDetector is true when the tests run with -race (see race_test.go).
const raceDetector = false
