package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/cmd/internal/buildinfo"
	"github.com/fxmesh/fxmesh/cmd/internal/cli"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/node"
	"github.com/fxmesh/fxmesh/node/hostinfo"
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "fxnode",
		Short:         "Run an fxmesh node: a function-serving endpoint or a bootstrap",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Version(),
	}
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetFlagErrorFunc(cli.FlagError)
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(newInitCmd(), newClaimCmd(), newRunCmd(), newBootstrapCmd(), newDevCmd(), newDiagCmd(), newWorkerCmd(), newSimCmd())
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

func logger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(cmd)}))
}

func logLevel(cmd *cobra.Command) slog.Level {
	var lvl slog.Level
	s, _ := cmd.Flags().GetString("log-level")
	if err := lvl.UnmarshalText([]byte(s)); err != nil {
		lvl = slog.LevelInfo
	}
	return lvl
}

func newDiagCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "diag --dir DIR",
		Short: "Print a summary for a bug report: versions, config without secrets, detected hardware, last errors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hw, sw := hostinfo.Detect(cmd.Context(), hostinfo.Options{})
			return node.Diagnose(cmd.Context(), cmd.OutOrStdout(), node.DiagOptions{Dir: dir, Hardware: hw, Software: sw})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "node directory (required)")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func newInitCmd() *cobra.Command {
	var (
		dir, name, owner  string
		listen, bootstrap []string
		force             bool
	)
	cmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create a node's key and a config.yaml with the detected hardware and software",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			cfgPath := filepath.Join(dir, node.ConfigFile)
			if _, err := os.Stat(cfgPath); err == nil && !force {
				return fault.E(fault.Invalid, "", "%s exists; use --force to write it again", cfgPath)
			}
			if owner != "" {
				if _, err := identity.ParseID(owner); err != nil {
					return fault.E(fault.Invalid, "", "--owner %q is not a user ID; the owner's fx id show prints theirs (12D3KooW…)", owner)
				}
			}
			defer leaveNothingOnFailure(dir, &err)()
			key, err := identity.LoadOrCreateKey(filepath.Join(dir, node.KeyFile))
			if err != nil {
				return err
			}
			hw, sw := hostinfo.Detect(cmd.Context(), hostinfo.Options{})
			cfg := &node.Config{Name: name, Owner: owner, Listen: listen, Bootstrap: bootstrap, Hardware: hw, Software: sw}
			if cfg.Name == "" {
				cfg.Name, _ = os.Hostname()
			}
			if len(cfg.Listen) == 0 {
				cfg.Listen = node.DefaultListen
			}
			if err := node.SaveConfig(dir, cfg); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "node %s\nwrote %s\n", key.ID(), cfgPath)
			// The Python modules the workers can import, advertised for
			// module= requirements (listed again at each start).
			if nmods, err := node.SaveModules(cmd.Context(), dir, cfg); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "fxnode: could not list the Python modules the workers import (they are listed again at start): %v\n", err)
			} else {
				fmt.Fprintf(out, "wrote %s: %d Python modules the workers can import\n", filepath.Join(dir, node.ModulesFile), nmods)
			}
			fmt.Fprintf(out, "note: public: true in it would let anyone with a key run code on this machine as %s\n", runAs(cfg))
			if owner == "" {
				return nil
			}
			signed, err := signClaim(dir, key.ID().String(), owner)
			if signed {
				fmt.Fprintf(out, "wrote %s: the owner's claim, signed with the key in $FX_HOME\n", filepath.Join(dir, node.ClaimFile))
				return nil
			}
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "fxnode: could not sign the owner's claim here: %v\n", err)
			}
			fmt.Fprintf(out, `the owner's key is not in $FX_HOME, so this endpoint's owner is unverified
and fx sends it no routed work until the owner claims it:
  the owner runs:    fx endpoint claim %s
  then, here:        fxnode claim --dir %s CLAIM
`, key.ID(), dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "node directory (required)")
	cmd.Flags().StringVar(&name, "name", "", "endpoint name (default: host name)")
	cmd.Flags().StringVar(&owner, "owner", "", "owner's user ID (fx id show); their claim is signed here when their key is in $FX_HOME")
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "multiaddr to listen on (repeatable)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "bootstrap peer multiaddr with /p2p/ID (repeatable)")
	cmd.Flags().BoolVar(&force, "force", false, "write config.yaml again even if it exists")
	cmd.MarkFlagRequired("dir")
	return cmd
}

// leaveNothingOnFailure returns what init defers: when *err is set, it
// removes dir if init made it, and otherwise the files init made in it.
func leaveNothingOnFailure(dir string, err *error) func() {
	_, statErr := os.Stat(dir)
	made := os.IsNotExist(statErr)
	var fresh []string
	for _, f := range []string{node.KeyFile, node.ConfigFile, node.ClaimFile, node.ModulesFile} {
		if _, e := os.Stat(filepath.Join(dir, f)); os.IsNotExist(e) {
			fresh = append(fresh, filepath.Join(dir, f))
		}
	}
	return func() {
		if *err == nil {
			return
		}
		if made {
			os.RemoveAll(dir)
			return
		}
		for _, f := range fresh {
			os.Remove(f)
		}
	}
}

// signClaim signs owner's claim on node id into dir when the user key in
// $FX_HOME is owner's.
func signClaim(dir, id, owner string) (bool, error) {
	h, err := client.UserHome()
	if err != nil {
		return false, err
	}
	nodeID, err := identity.ParseID(id)
	if err != nil {
		return false, err
	}
	claim, signed, err := h.SignClaim(nodeID, owner, time.Now(), client.DefaultClaimTTL)
	if !signed || err != nil {
		return false, err
	}
	return true, node.WriteClaim(dir, claim)
}

func newClaimCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "claim --dir DIR CLAIM",
		Short: "Install the owner's claim on this endpoint (from fx endpoint claim; - reads stdin)",
		Long: `Install the owner's signed claim on this endpoint, as fx endpoint claim NODE_ID
printed it ("-" reads it from stdin). It must be signed by the owner that
config.yaml names, for this node, and not expired. fxnode run publishes it
in the endpoint record, so that clients can verify the owner. Send a running
fxnode SIGHUP (or restart it) to publish it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text := args[0]
			if text == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return err
				}
				text = string(b)
			}
			c, err := node.InstallClaim(dir, text, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s owns %s until %s\n", filepath.Join(dir, node.ClaimFile),
				c.Owner, c.Node, c.ExpiresAt().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "node directory made by fxnode init (required)")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func newRunCmd() *cobra.Command {
	var (
		dir               string
		listen, bootstrap []string
	)
	cmd := &cobra.Command{
		Use:   "run --dir DIR",
		Short: "Run an endpoint: join the mesh, advertise, serve functions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unlock, err := lockDir(dir)
			if err != nil {
				return err
			}
			defer unlock()
			if _, err := os.Stat(filepath.Join(dir, node.ConfigFile)); err != nil {
				return fault.E(fault.NotFound, "", "no %s in %s: run fxnode init --dir %s first", node.ConfigFile, dir, dir)
			}
			// load reads config.yaml with the flags' addresses in place
			// of its own, at start and on each SIGHUP.
			load := func() (*node.Config, error) {
				cfg, err := node.LoadConfig(dir)
				if err != nil {
					return nil, err
				}
				if len(listen) > 0 {
					cfg.Listen = listen
				}
				if len(bootstrap) > 0 {
					cfg.Bootstrap = bootstrap
				}
				return cfg, nil
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			printPolicy(cmd.OutOrStdout(), cfg)
			return serve(cmd, dir, cfg, node.RoleEndpoint, load)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "node directory made by fxnode init (required)")
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "multiaddr to listen on, replacing config.yaml's (repeatable)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "bootstrap peer multiaddr, replacing config.yaml's (repeatable)")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func newBootstrapCmd() *cobra.Command {
	var (
		dir    string
		listen []string
	)
	cmd := &cobra.Command{
		Use:   "bootstrap --dir DIR",
		Short: "Run the operators' bootstrap node: the mesh's well-known point of contact",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unlock, err := lockDir(dir)
			if err != nil {
				return err
			}
			defer unlock()
			cfg, err := node.LoadConfig(dir)
			if err != nil {
				return err
			}
			if len(listen) > 0 {
				cfg.Listen = listen
			}
			if len(cfg.Listen) == 0 {
				cfg.Listen = []string{"/ip4/127.0.0.1/tcp/4001"}
			}
			return serve(cmd, dir, cfg, node.RoleBootstrap, nil)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "bootstrap directory; its key is made on first start (required)")
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "multiaddr to listen on (repeatable; default /ip4/127.0.0.1/tcp/4001)")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func newDevCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local mesh in one process: a bootstrap and an endpoint owned by you",
		Long: `Run the embedded default mesh on loopback: a bootstrap and one endpoint owned
by the current user (whose key in $FX_HOME is created if missing). It records
the bootstrap's address as bootstrap: in $FX_HOME/config.yaml (other keys
kept), where fx finds it with no export, prints it as a line to export too,
and runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := client.UserHome()
			if err != nil {
				return err
			}
			user, err := identity.LoadOrCreateKey(h.KeyPath())
			if err != nil {
				return err
			}
			if dir == "" {
				dir = filepath.Join(h.Dir, "dev")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			hw, sw := hostinfo.Detect(ctx, hostinfo.Options{})
			dev, err := node.StartDev(ctx, node.DevOptions{Dir: dir, Owner: user, Hardware: hw, Software: sw, Logger: logger(cmd)})
			if err != nil {
				return err
			}
			select {
			case <-dev.Endpoint.Joined():
			case <-ctx.Done():
			}
			out := cmd.OutOrStdout()
			if err := h.SetBootstrap(dev.Bootstrap.Addrs()); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "fxnode dev: warning: cannot record the mesh in %s: %v; export the line below\n", h.Dir, err)
			}
			fmt.Fprintf(out, "fxnode dev: endpoint %s owned by %s is up; fx finds it through %s\n", dev.Endpoint.ID(), user.ID(), filepath.Join(h.Dir, client.ConfigFile))
			fmt.Fprintf(out, "export FX_BOOTSTRAP=%s\n", dev.Bootstrap.Addrs()[0])
			<-ctx.Done()
			return dev.Close()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "where the dev nodes keep their state (default $FX_HOME/dev)")
	return cmd
}

// serve runs a node until SIGINT or SIGTERM. With load, SIGHUP reloads
// the config it returns (see reload).
func serve(cmd *cobra.Command, dir string, cfg *node.Config, role node.Role, load func() (*node.Config, error)) error {
	key, err := identity.LoadOrCreateKey(filepath.Join(dir, node.KeyFile))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	if load != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	log, err := node.NewLog(os.Stderr, cfg.LogFormat, logLevel(cmd), dir)
	if err != nil {
		return err
	}
	defer log.Close()
	n, err := node.Start(ctx, node.Options{Dir: dir, Key: key, Config: cfg, Role: role, Logger: log.Logger})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "fxnode %s %s listening on:\n", role, n.ID())
	for _, a := range n.Addrs() {
		fmt.Fprintln(out, a)
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			reload(out, log.Logger, n, load)
		}
	}
	done := make(chan error, 1)
	go func() { done <- n.Close() }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	case <-time.After(5 * time.Second):
		return errors.New("shutdown took longer than 5s")
	}
	return nil
}

func newWorkerCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "worker --block-dir DIR",
		Short: "Run a batch-scheduler block's worker agent (started by the block's job, not by hand)",
		Long: `Run the worker agent of a block (pilot job) that an endpoint submitted to its
batch scheduler: it reads the block's credential from DIR, connects to the
endpoint with it, and runs the tasks it is sent until the endpoint lets it go.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return node.RunWorker(ctx, dir, logger(cmd))
		},
	}
	cmd.Flags().StringVar(&dir, "block-dir", "", "the block's directory, made by its endpoint (required)")
	cmd.MarkFlagRequired("block-dir")
	return cmd
}

// reload puts the config that load reads in force on n (SIGHUP): the
// policy and limits change for the invocations that follow, running tasks
// go on, and the policy now in force is printed as at start. A config
// that does not load or validate changes nothing; settings that n cannot
// change while it runs are logged as needing a restart.
func reload(out io.Writer, log *slog.Logger, n *node.Node, load func() (*node.Config, error)) {
	cfg, err := load()
	var restart []string
	if err == nil {
		restart, err = n.Reload(cfg)
	}
	if err != nil {
		log.Error("config reload refused; the policy in force stays", "err", err)
		return
	}
	if len(restart) > 0 {
		log.Warn("config.yaml changes that need a restart to take effect", "settings", strings.Join(restart, ","))
	}
	in := n.Config()
	printPolicy(out, &in)
	log.Info("config reloaded: the policy above is in force")
}
