package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/spf13/cobra"
)

// withUserCatalog gives the user's catalog and, when a bootstrap is known,
// the mesh; needMesh makes a missing mesh an error.
func withUserCatalog(cmd *cobra.Command, needMesh bool, f func(ctx context.Context, u *client.UserCatalog) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	return withUser(cmd, ctx, needMesh, func(u *client.UserCatalog) error { return f(ctx, u) })
}

// withUser loads the user's key and, when a bootstrap is known or needMesh,
// dials the mesh; then it runs f. The user's catalog is opened only while f
// reads or writes it, so that many fx commands of one user run at once.
func withUser(cmd *cobra.Command, ctx context.Context, needMesh bool, f func(*client.UserCatalog) error) error {
	h, boot, err := userHome(cmd)
	if err != nil {
		return err
	}
	key, err := h.UserKey()
	if err != nil {
		return err
	}
	u := &client.UserCatalog{Key: key, Path: h.CatalogPath()}
	if len(boot) > 0 || needMesh {
		c, err := client.New(ctx, client.Options{Key: key, Bootstrap: boot, Home: h})
		if err != nil {
			return err
		}
		defer c.Close()
		u.Mesh = c
	}
	return f(u)
}

func newFunctionCmd() *cobra.Command {
	fn := &cobra.Command{Use: "function", Aliases: []string{"fn"}, Short: "Register, list, show, share and delete functions"}
	fn.AddCommand(newRegisterCmd(), newFunctionListCmd(), newFunctionShowCmd(),
		newAccessCmd("share", "Let users run a function", func(a client.Access, users []string) client.Access {
			a.Users = append(a.Users, users...)
			return a
		}, 1),
		newAccessCmd("unshare", "Stop letting users run a function", func(a client.Access, users []string) client.Access {
			var keep []string
			for _, u := range a.Users {
				if !contains(users, u) {
					keep = append(keep, u)
				}
			}
			a.Users = keep
			return a
		}, 1),
		newAccessCmd("public", "Let everybody run a function", func(a client.Access, _ []string) client.Access {
			return client.Access{Public: true}
		}, 0),
		newAccessCmd("private", "Let only yourself run a function", func(a client.Access, _ []string) client.Access {
			return client.Access{}
		}, 0),
		newFunctionDeleteCmd())
	return fn
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func newRegisterCmd() *cobra.Command {
	var (
		pyFile, entry, shell, desc, container string
		require, share                        []string
		public                                bool
	)
	cmd := &cobra.Command{
		Use:   "register NAME (--python FILE --entry FUNC | --shell TEMPLATE)",
		Short: "Register a function (a new version if NAME exists) and print its ID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := client.FunctionSpec{Name: args[0], Description: desc, Container: container, Requirements: require}
			switch {
			case pyFile != "" && shell != "":
				return fault.E(fault.Invalid, "", "give --python or --shell, not both")
			case pyFile != "":
				if entry == "" {
					return fault.E(fault.Invalid, "", "--python needs --entry, the function to call")
				}
				src, err := os.ReadFile(pyFile)
				if err != nil {
					return fault.E(fault.Invalid, "", "--python: %v", err)
				}
				if err := client.CheckPython(cmd.Context(), client.Python(), pyFile, string(src), entry); err != nil {
					return err
				}
				f.Kind, f.Source, f.Entry = client.KindPython, string(src), entry
			case shell != "":
				if err := client.CheckShell(shell); err != nil {
					return err
				}
				f.Kind, f.Command = client.KindShell, shell
			default:
				return fault.E(fault.Invalid, "", "give --python FILE --entry FUNC, or --shell TEMPLATE")
			}
			if err := client.CheckRequirements(require); err != nil {
				return err
			}
			if public && len(share) > 0 {
				return fault.E(fault.Invalid, "", "give --public or --share, not both")
			}
			access := client.Access{Public: public, Users: share}
			return withUserCatalog(cmd, !access.Private(), func(ctx context.Context, u *client.UserCatalog) error {
				r, err := u.Register(ctx, f, access)
				if err != nil {
					return err
				}
				return printRegistered(cmd, r)
			})
		},
	}
	cmd.Flags().StringVar(&pyFile, "python", "", "Python source file")
	cmd.Flags().StringVar(&entry, "entry", "", "the function in --python to call")
	cmd.Flags().StringVar(&shell, "shell", "", "command template, {name} filled from keyword arguments")
	cmd.Flags().StringVar(&desc, "desc", "", "description")
	cmd.Flags().StringVar(&container, "container", "", "container image to run in")
	cmd.Flags().StringArrayVar(&require, "require", nil, "requirement KEY=VALUE, KEY>=N, KEY<=N (repeatable)")
	cmd.Flags().BoolVar(&public, "public", false, "everybody may run it")
	cmd.Flags().StringArrayVar(&share, "share", nil, "user ID that may run it (repeatable)")
	return cmd
}

func printRegistered(cmd *cobra.Command, r *client.Registered) error {
	if jsonFlag(cmd) {
		return printJSON(cmd.OutOrStdout(), map[string]any{
			"id": r.ID.String(), "owner": r.Owner, "name": r.Name, "version": r.Version,
			"access": accessString(r.Access), "shared": r.Shared,
		})
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), r.ID)
	return err
}

func accessString(a client.Access) string { return client.AccessString(a) }

func newFunctionListCmd() *cobra.Command {
	var (
		owner string
		mine  bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List functions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withUserCatalog(cmd, false, func(ctx context.Context, u *client.UserCatalog) error {
				if mine {
					owner = u.Key.ID().String()
				}
				es, err := u.List(ctx, owner)
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					if es == nil {
						es = []client.Entry{}
					}
					return printJSON(cmd.OutOrStdout(), es)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "OWNER/NAME\tVERSION\tKIND\tACCESS\tID")
				for _, e := range es {
					fmt.Fprintf(tw, "%s/%s\t%d\t%s\t%s\t%s\n", short(e.Owner), e.Name, e.Version, e.Kind, accessString(e.Access), e.ID)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "only this owner's functions")
	cmd.Flags().BoolVar(&mine, "mine", false, "only your functions")
	return cmd
}

func newFunctionShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID|OWNER/NAME|NAME",
		Short: "Show a function: metadata, source, versions, access",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUserCatalog(cmd, false, func(ctx context.Context, u *client.UserCatalog) error {
				f, err := u.Resolve(ctx, args[0])
				if err != nil {
					return err
				}
				var versions []map[string]any
				for _, v := range f.Update.Update.Versions {
					versions = append(versions, map[string]any{"version": v.Version, "id": v.ID.String()})
				}
				fn := f.Function
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), map[string]any{
						"id": f.ID.String(), "owner": fn.Owner, "name": fn.Name, "version": fn.Version,
						"kind": fn.Kind, "description": fn.Description, "source": fn.Source, "entry": fn.Entry,
						"command": fn.Command, "container": fn.Container, "requirements": orEmpty(fn.Requirements),
						"access": accessString(f.Update.Update.Access), "versions": versions,
						"created": time.Unix(fn.Created, 0).UTC(),
					})
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "id:          %s\nname:        %s/%s\nversion:     %d\nkind:        %s\naccess:      %s\ncreated:     %s\n",
					f.ID, fn.Owner, fn.Name, fn.Version, fn.Kind, accessString(f.Update.Update.Access), time.Unix(fn.Created, 0).UTC().Format(time.RFC3339))
				if fn.Description != "" {
					fmt.Fprintf(w, "description: %s\n", fn.Description)
				}
				if len(fn.Requirements) > 0 {
					fmt.Fprintf(w, "requires:    %s\n", strings.Join(fn.Requirements, " "))
				}
				if fn.Container != "" {
					fmt.Fprintf(w, "container:   %s\n", fn.Container)
				}
				for _, v := range versions {
					fmt.Fprintf(w, "version %v:   %v\n", v["version"], v["id"])
				}
				if fn.Kind == client.KindShell {
					fmt.Fprintf(w, "command:     %s\n", fn.Command)
				} else {
					fmt.Fprintf(w, "entry:       %s\n--- source ---\n%s", fn.Entry, fn.Source)
				}
				return nil
			})
		},
	}
}

func newAccessCmd(name, short string, change func(client.Access, []string) client.Access, minUsers int) *cobra.Command {
	use := name + " ID|NAME"
	if minUsers > 0 {
		use += " USERID..."
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1 + minUsers),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUserCatalog(cmd, true, func(ctx context.Context, u *client.UserCatalog) error {
				r, err := u.SetAccess(ctx, args[0], func(a client.Access) client.Access { return change(a, args[1:]) })
				if err != nil {
					return err
				}
				return printRegistered(cmd, r)
			})
		},
	}
}

func newFunctionDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|NAME",
		Short: "Delete a function (a signed tombstone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUserCatalog(cmd, true, func(ctx context.Context, u *client.UserCatalog) error {
				return u.Delete(ctx, args[0])
			})
		},
	}
}
