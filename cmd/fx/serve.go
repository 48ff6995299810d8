package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/client/localapi"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var (
		socket, tcp string
		idleExit    time.Duration
		verbose     bool
	)
	cmd := &cobra.Command{
		Use:   "serve [--socket PATH] [--tcp 127.0.0.1:PORT] [--idle-exit DURATION]",
		Short: "Serve the local API (docs/local-api.md) on a unix socket in $FX_HOME",
		Long: `Keep one mesh client and serve the fx local API, HTTP and JSON, on the unix
socket $FX_HOME/fx.sock (mode 0600), to the user owning $FX_HOME only; with
--tcp, on a loopback address too, to requests carrying the token written to
$FX_HOME/serve.token. It exits 0 at once when another fx serve answers on the
socket, and with --idle-exit once nothing has used it for that long.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, boot, err := userHome(cmd)
			if err != nil {
				return err
			}
			key, err := h.UserKey()
			if err != nil {
				return err
			}
			if socket == "" {
				socket = localapi.SocketPath(h)
			}
			ln, err := localapi.Listen(socket)
			if errors.Is(err, localapi.ErrServing) {
				fmt.Fprintf(cmd.ErrOrStderr(), "fx: another fx serve answers on %s\n", socket)
				return nil
			}
			if err != nil {
				return err
			}
			defer os.Remove(socket)
			defer ln.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if verbose {
				log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			}
			dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			c, err := client.New(dctx, client.Options{Key: key, Bootstrap: boot, Home: h, Logger: log, RecordBehind: true})
			cancel()
			if err != nil {
				return err
			}
			defer c.Close()
			srv, err := localapi.New(localapi.Options{Client: c, Key: key, Home: h, Bootstrap: boot, Socket: socket, Logger: log})
			if err != nil {
				return err
			}
			defer srv.Close()
			errs := make(chan error, 2)
			go func() { errs <- srv.ServeUnix(ln) }()
			if tcp != "" {
				tln, err := listenTCP(srv, h, tcp)
				if err != nil {
					return err
				}
				defer tln.Close()
				go func() { errs <- srv.ServeTCP(tln) }()
				fmt.Fprintf(cmd.ErrOrStderr(), "fx: serving local API %s on %s too (token in %s)\n", localapi.Version, tln.Addr(), filepath.Join(h.Dir, "serve.token"))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "fx: serving local API %s on %s\n", localapi.Version, socket)
			var idle <-chan time.Time
			if idleExit > 0 {
				t := time.NewTicker(min(idleExit/4+time.Millisecond, 5*time.Second))
				defer t.Stop()
				idle = t.C
			}
			for {
				select {
				case <-ctx.Done():
					return nil
				case err := <-errs:
					return err
				case <-idle:
					if since := srv.IdleSince(); !since.IsZero() && time.Since(since) >= idleExit {
						fmt.Fprintf(cmd.ErrOrStderr(), "fx: idle for %s; exiting\n", idleExit)
						return nil
					}
				}
			}
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "unix socket to serve on (default $FX_HOME/fx.sock)")
	cmd.Flags().StringVar(&tcp, "tcp", "", "also serve on this loopback address, with a token (e.g. 127.0.0.1:0)")
	cmd.Flags().DurationVar(&idleExit, "idle-exit", 0, "exit once idle this long (0: never)")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "log to stderr")
	return cmd
}

// listenTCP listens on a loopback address and writes the token and the
// address the clients need into $FX_HOME.
func listenTCP(srv *localapi.Server, h client.Home, addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fault.E(fault.Invalid, "", "--tcp %s: only a loopback address (127.0.0.1, ::1)", addr)
	}
	tok, err := srv.NewToken()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, "", err)
	}
	if err := os.WriteFile(filepath.Join(h.Dir, "serve.token"), []byte(tok+"\n"), 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(h.Dir, "serve.addr"), []byte(ln.Addr().String()+"\n"), 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
