package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/cmd/internal/buildinfo"
	"github.com/fxmesh/fxmesh/cmd/internal/cli"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "fx",
		Short:         "fxmesh client: find endpoints, register and run functions",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Version(),
	}
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetFlagErrorFunc(cli.FlagError)
	root.PersistentFlags().StringArray("bootstrap", nil, "multiaddr of a mesh node, with /p2p/ID (repeatable; default FX_BOOTSTRAP or $FX_HOME/config.yaml)")
	root.PersistentFlags().Bool("json", false, "print JSON")
	root.AddCommand(newIDCmd(), newEndpointsCmd(), newEndpointCmd(), newFunctionCmd(),
		newRunCmd(), newSubmitCmd(), newStatusCmd(), newCancelCmd(), newResultCmd(), newBatchCmd(), newTrustCmd(), newServeCmd(), newTasksCmd())
	cli.RejectUnknown(root)
	usageErrorsAreInvalid(root)
	return root
}

// usageErrorsAreInvalid makes wrong arguments exit with the invalid code.
func usageErrorsAreInvalid(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error { return fault.Wrap(fault.Invalid, "", args(cmd, a)) }
	}
	for _, sub := range c.Commands() {
		usageErrorsAreInvalid(sub)
	}
}

func newIDCmd() *cobra.Command {
	id := &cobra.Command{Use: "id", Short: "Manage your user identity"}
	var force bool
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create your user key in $FX_HOME (or keep the one there) and print your user ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := client.UserHome()
			if err != nil {
				return err
			}
			k, err := identity.GenerateKey()
			if err != nil {
				return err
			}
			err = k.Save(h.KeyPath(), force)
			if errors.Is(err, identity.ErrKeyExists) {
				// Running it again (fxnode dev made the key, or the
				// README was followed twice) keeps the key: the ID is
				// what the caller wants.
				old, lerr := h.UserKey()
				if lerr != nil {
					return fmt.Errorf("%s exists but cannot be read: %w (fx id init --force replaces it; its ID is lost)", h.KeyPath(), lerr)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "fx: you have a key already, kept: %s (fx id init --force replaces it; its ID is lost)\n", h.KeyPath())
				k = old
			} else if err != nil {
				return fault.Wrap(fault.Invalid, "", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.ID())
			return nil
		},
	}
	initCmd.Flags().BoolVar(&force, "force", false, "replace an existing key (its ID is lost)")
	show := &cobra.Command{
		Use:   "show",
		Short: "Print your user ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := client.UserHome()
			if err != nil {
				return err
			}
			k, err := h.UserKey()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.ID())
			return nil
		},
	}
	id.AddCommand(initCmd, show)
	return id
}

// userHome is the user's $FX_HOME and the bootstrap addresses to dial:
// cmd's --bootstrap flags, else those FX_BOOTSTRAP or $FX_HOME says.
func userHome(cmd *cobra.Command) (client.Home, []string, error) {
	h, err := client.UserHome()
	if err != nil {
		return h, nil, err
	}
	flag, _ := cmd.Flags().GetStringArray("bootstrap")
	boot, err := h.BootstrapAddrs(flag)
	return h, boot, err
}

// withClient dials the mesh with the user's key (or a fresh one) and runs f.
func withClient(cmd *cobra.Command, f func(ctx context.Context, c *client.Client) error) error {
	h, boot, err := userHome(cmd)
	if err != nil {
		return err
	}
	key, err := h.UserKey()
	if fault.KindOf(err) == fault.NotFound {
		key = nil // a light client may look without an identity
	} else if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Options{Key: key, Bootstrap: boot})
	if err != nil {
		return err
	}
	defer c.Close()
	return f(ctx, c)
}

func jsonFlag(cmd *cobra.Command) bool {
	j, _ := cmd.Flags().GetBool("json")
	return j
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newEndpointsCmd() *cobra.Command {
	var require []string
	cmd := &cobra.Command{
		Use:   "endpoints [--require K=V]...",
		Short: "List the endpoints of the mesh (those that meet every --require)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.ListEndpoints(ctx, require)
				if err != nil {
					return err
				}
				for _, why := range l.Incomplete {
					fmt.Fprintf(cmd.ErrOrStderr(), "fx: warning: the list may be incomplete: %s\n", why)
				}
				eps, out := l.Endpoints, cmd.OutOrStdout()
				if jsonFlag(cmd) {
					list := make([]client.EndpointJSON, 0, len(eps))
					for _, e := range eps {
						list = append(list, client.EndpointJSONOf(e))
					}
					return printJSON(out, list)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tID\tOWNER\tCPUS\tMEMORY\tGPUS\tBATCH\tONLINE")
				for _, e := range eps {
					r := e.Record
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%v\n", r.Name, r.ID, ownerCell(r),
						r.Hardware.CPUs, bytesHuman(r.Hardware.MemoryBytes), gpuSummary(r.Hardware.GPUs), batchCell(r.Batch), e.Online)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringArrayVar(&require, "require", nil, "show only endpoints that meet this requirement (repeatable)")
	return cmd
}

func newEndpointCmd() *cobra.Command {
	ep := &cobra.Command{Use: "endpoint", Short: "Look at one endpoint, or claim one as yours"}
	var ttl time.Duration
	claim := &cobra.Command{
		Use:   "claim NODE_ID",
		Short: "Sign your claim that you own an endpoint, for its operator to install",
		Long: `Sign, with your key in $FX_HOME, the claim that you own endpoint NODE_ID, and
print it. On the endpoint's machine, install it with
  fxnode claim --dir DIR CLAIM
so that its record proves you own it. Until then its owner is unverified and
fx sends it no routed work. The endpoint's config.yaml must name you as owner.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := identity.ParseID(args[0])
			if err != nil {
				return fault.Wrap(fault.Invalid, "", err)
			}
			if ttl <= 0 {
				return fault.E(fault.Invalid, "", "--ttl must be positive")
			}
			h, err := client.UserHome()
			if err != nil {
				return err
			}
			now := time.Now()
			until := now.Add(ttl)
			text, err := h.ClaimText(id, now, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), text)
			fmt.Fprintf(cmd.ErrOrStderr(), "fx: your claim on endpoint %s, valid until %s, is the line above; on the endpoint's machine run:\n  fxnode claim --dir DIR CLAIM\n",
				id, until.UTC().Format(time.RFC3339))
			return nil
		},
	}
	claim.Flags().DurationVar(&ttl, "ttl", client.DefaultClaimTTL, "how long the claim holds")
	ep.AddCommand(claim)
	ep.AddCommand(&cobra.Command{
		Use:   "show ID|NAME",
		Short: "Show one endpoint's record and live status (load, executors, errors)",
		Long: `Show one endpoint's record and live status (load, executors, errors).
A NAME is looked up, as --endpoint NAME is, only among the endpoints whose
owner is verified and is you or an owner you trust.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, func(ctx context.Context, c *client.Client) error {
				id, err := c.ResolveEndpoint(ctx, args[0])
				if err != nil {
					return err
				}
				e, err := c.Endpoint(ctx, id)
				if err != nil {
					return err
				}
				j := client.EndpointShowJSON{EndpointJSON: client.EndpointJSONOf(*e), Status: c.EndpointStatus(ctx, *e, statusTimeout)}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), j)
				}
				printStatus(cmd.OutOrStdout(), j.Status)
				b, _ := json.MarshalIndent(j.EndpointJSON, "", "  ")
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			})
		},
	})
	return ep
}

// statusTimeout bounds fx endpoint show's wait for the endpoint's status.
const statusTimeout = 5 * time.Second

// ownerCell shows a record's owner, marked when it is not verified.
func ownerCell(r *client.EndpointRecord) string {
	if r.Owner == "" || r.OwnerVerified {
		return short(r.Owner)
	}
	return short(r.Owner) + " (unverified)"
}

func short(id string) string {
	if len(id) > 16 {
		return id[:6] + "…" + id[len(id)-6:]
	}
	if id == "" {
		return "-"
	}
	return id
}

func bytesHuman(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func gpuSummary(g []client.GPU) string {
	if len(g) == 0 {
		return "-"
	}
	if len(g) == 1 {
		return g[0].Model
	}
	return fmt.Sprintf("%d× %s", len(g), g[0].Model)
}

// batchCell sums up an endpoint's blocks: "slurm/debug 1 pending, 2 running,
// 4 workers", and its error state; "-" for an endpoint without a scheduler.
func batchCell(b *client.Batch) string {
	if b == nil {
		return "-"
	}
	s := b.Provider
	if b.Partition != "" {
		s += "/" + b.Partition
	}
	s += fmt.Sprintf(" %d pending, %d running, %d workers", b.Pending, b.Running, b.Workers)
	if b.Error != "" {
		e := b.Error
		if len(e) > 60 {
			e = e[:60] + "…"
		}
		s += " ERROR: " + e
	}
	return s
}
