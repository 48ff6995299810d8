// Package cli holds what the command lines of fx and fxnode share: a
// command that only groups others rejects an unknown subcommand as a usage
// error (fault.Invalid: exit 2), naming the near ones, instead of printing
// its help and exiting 0.
package cli
