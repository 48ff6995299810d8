// Package e2e holds end-to-end tests: the real fxnode and fx binaries, built
// once per run by the first test that needs them, started as processes on
// loopback, and driven as an operator and a user would. With -short every
// test here skips and nothing is built. TestReadme runs the shell blocks of
// README.md in order, as a new user does (readme_test.go says how).
package e2e
