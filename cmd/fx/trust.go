package main

import (
	"fmt"
	"slices"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
)

func newTrustCmd() *cobra.Command {
	trust := &cobra.Command{
		Use:   "trust",
		Short: "Choose whose endpoints fx sends your work to",
		Long: `fx run, submit and batch send work only to endpoints whose owner is verified
(the owner signed a claim on the endpoint) and is you or an owner you trust.
fx trust manages that list: trusted_owners in $FX_HOME/config.yaml.
--endpoint ID sends to one endpoint you name; --any-endpoint routes to any.`,
	}
	trust.AddCommand(
		&cobra.Command{
			Use:   "add OWNER...",
			Short: "Trust owners: send them your routed work",
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return updateTrust(cmd, args, func(ids []peer.ID, id peer.ID) []peer.ID {
					if slices.Contains(ids, id) {
						fmt.Fprintf(cmd.ErrOrStderr(), "fx: %s is trusted already\n", id)
						return ids
					}
					return append(ids, id)
				})
			},
		},
		&cobra.Command{
			Use:   "remove OWNER...",
			Short: "Stop trusting owners",
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return updateTrust(cmd, args, func(ids []peer.ID, id peer.ID) []peer.ID {
					if !slices.Contains(ids, id) {
						fmt.Fprintf(cmd.ErrOrStderr(), "fx: %s was not trusted\n", id)
					}
					return slices.DeleteFunc(ids, func(x peer.ID) bool { return x == id })
				})
			},
		},
		&cobra.Command{
			Use:   "list",
			Short: "List the owners you trust besides yourself",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				h, err := client.UserHome()
				if err != nil {
					return err
				}
				ids, err := h.TrustedOwners()
				if err != nil {
					return err
				}
				list := make([]string, len(ids))
				for i, id := range ids {
					list[i] = id.String()
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), list)
				}
				for _, id := range list {
					fmt.Fprintln(cmd.OutOrStdout(), id)
				}
				return nil
			},
		},
	)
	return trust
}

// updateTrust applies change to the trusted owners for each of args.
func updateTrust(cmd *cobra.Command, args []string, change func([]peer.ID, peer.ID) []peer.ID) error {
	h, err := client.UserHome()
	if err != nil {
		return err
	}
	ids, err := h.TrustedOwners()
	if err != nil {
		return err
	}
	for _, a := range args {
		id, err := identity.ParseID(a)
		if err != nil {
			return fault.Wrap(fault.Invalid, "", err)
		}
		ids = change(ids, id)
	}
	return h.SetTrustedOwners(ids)
}
