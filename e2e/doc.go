// Package e2e holds end-to-end tests: the real fxnode and fx binaries, built
// once per run by the first test that needs them, started as processes on
// loopback, and driven as an operator and a user would. With -short every
// test here skips and nothing is built.
package e2e
