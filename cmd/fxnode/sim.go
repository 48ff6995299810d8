package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/sim/model"
	"github.com/spf13/cobra"
)

func newSimCmd() *cobra.Command {
	var (
		useModel, asJSON, verbose bool
		scenario, csvPath         string
		nodes                     int
		seed                      uint64
		syncInterval, refresh     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sim --model --scenario NAME --nodes N [--seed S] [--csv FILE] [--json]",
		Short: "Run the discrete-event model of a mesh (real nodes: make sim-scale)",
		Long: "Runs sim/model's model of a mesh of N full nodes through a scenario (steady, churn,\n" +
			"partition, bootstrap-loss) and prints the table, or the JSON object with --json.\n" +
			"The real-code simulation needs go test: make sim-scale SCENARIO=NAME NODES=N.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !useModel {
				return fault.E(fault.Invalid, "", "fxnode sim runs the model only (--model); real nodes run with make sim-scale")
			}
			cfg := model.Config{Scenario: scenario, Nodes: nodes, Seed: seed, Params: model.Production()}
			if syncInterval > 0 {
				cfg.Params.SyncInterval = syncInterval
			}
			if refresh > 0 {
				cfg.Params.RefreshPeriod = refresh
			}
			if verbose {
				cfg.Progress = cmd.ErrOrStderr()
			}
			if csvPath != "" {
				f, err := os.Create(csvPath)
				if err != nil {
					return fault.Wrap(fault.Invalid, "", err)
				}
				defer f.Close()
				fmt.Fprintln(f, "scenario,metric,value")
				cfg.CSV = f
			}
			res, err := model.Run(cfg)
			if err != nil {
				return fault.Wrap(fault.Invalid, "", err)
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			return model.WriteTable(cmd.OutOrStdout(), res)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&useModel, "model", false, "run the model (required)")
	f.StringVar(&scenario, "scenario", "steady", "steady, churn, partition or bootstrap-loss")
	f.IntVar(&nodes, "nodes", 1000, "full nodes (bootstraps and endpoints)")
	f.Uint64Var(&seed, "seed", 1, "seed of every random choice")
	f.StringVar(&csvPath, "csv", "", "write every sample to FILE (scenario,metric,value)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object instead of the table")
	f.DurationVar(&syncInterval, "sync-interval", 0, "what if: the catalog pull interval (default production's, 30s)")
	f.DurationVar(&refresh, "refresh", 0, "what if: the DHT's routing table refresh period (default production's, 10m)")
	f.BoolVarP(&verbose, "verbose", "v", false, "print the model's progress on stderr")
	return cmd
}
