package main

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"

	"github.com/fxmesh/fxmesh/node"
)

// printPolicy writes who may use the endpoint and under what limits, as
// config.yaml sets them, so that an operator sees at start what is in
// force; public: true gets a warning.
func printPolicy(w io.Writer, cfg *node.Config) {
	owner := cfg.Owner
	if owner == "" {
		owner = "(none)"
	}
	allowed := "only the owner"
	if len(cfg.Allowed) > 0 {
		allowed = "the owner and " + strings.Join(cfg.Allowed, ", ")
	}
	if cfg.Public {
		allowed = "anyone (public: true)"
	}
	functions := "any function its caller may run"
	if len(cfg.Functions) > 0 {
		functions = "only " + strings.Join(cfg.Functions, ", ")
	}
	orDefault := func(v int, def string) string {
		if v <= 0 {
			return def
		}
		return fmt.Sprint(v)
	}
	maxTimeout := "none"
	if cfg.MaxTimeout > 0 {
		maxTimeout = cfg.MaxTimeout.String()
	}
	fmt.Fprintf(w, "policy: owner %s\npolicy: callers: %s\npolicy: functions: %s\n", owner, allowed, functions)
	fmt.Fprintf(w, "policy: limits: workers %s, max_queue %s, max_input_bytes %s, max_output_bytes %s, max_timeout %s\n",
		orDefault(cfg.Workers, "default"), orDefault(cfg.MaxQueue, "default (100000)"),
		orDefault(cfg.MaxInputBytes, "default (10 MiB)"), orDefault(cfg.MaxOutputBytes, "default (10 MiB)"), maxTimeout)
	if cfg.Public {
		fmt.Fprintf(w, "warning: public: true lets anyone with a key run code on this machine as %s\n", runAs(cfg))
	}
}

// runAs says whose account public code runs under.
func runAs(cfg *node.Config) string {
	if cfg.WorkerUIDs != "" {
		return "uids " + cfg.WorkerUIDs + " (worker_uids)"
	}
	name := fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return "the fxnode user (" + name + ")"
}
