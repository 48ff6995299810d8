package cli

import (
	"fmt"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/spf13/cobra"
)

// RejectUnknown walks c and its subcommands: each that only groups others
// (it has subcommands and nothing to run) prints its help when given no
// argument, and otherwise fails with UnknownSubcommand's error.
func RejectUnknown(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = unknownSubcommand
	}
	for _, sub := range c.Commands() {
		RejectUnknown(sub)
	}
}

// FlagError is the commands' flag error function: a usage error (exit 2).
// When a group's flags fail after a word that is no subcommand ("fxnode
// rnu --dir x"), the flags were that word's: the unknown command is the
// error to report.
func FlagError(cmd *cobra.Command, err error) error {
	if cmd.HasSubCommands() && cmd.Run == nil && len(cmd.Flags().Args()) > 0 {
		return unknownSubcommand(cmd, cmd.Flags().Args())
	}
	return fault.Wrap(fault.Invalid, "", err)
}

// unknownSubcommand says the subcommand args[0] of cmd is unknown, what may
// have been meant and where the list is (invalid: exit 2).
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return fault.E(fault.Invalid, "", "%s (%s --help lists the commands)", msg, cmd.CommandPath())
}
