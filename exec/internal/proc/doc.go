// Package proc holds the process handling that exec's implementations
// share: starting a child as the leader of its own process group, killing
// that group, and saying in words how a process ended.
package proc
