// Package e2e holds end-to-end tests: the real fxnode and fx binaries, built
// once per run, started as processes on loopback, and driven as an operator
// and a user would.
package e2e
