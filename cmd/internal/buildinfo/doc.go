// Package buildinfo says which build of fxmesh a command is: its module
// version and the commit it was built from, as the Go toolchain recorded
// them in the binary (runtime/debug.ReadBuildInfo). fx --version and
// fxnode --version print it.
package buildinfo
