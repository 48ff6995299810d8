package pilot_test

import (
	"testing"

	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/exec/slurm"
)

// The benchmarks' blocks also run as jobs of the Slurm cluster that
// scripts/slurm-up.sh brings up; without one, that half is skipped (failed
// where FXMESH_SLURM=required).
func init() {
	pilot.BenchSchedulers["slurm"] = func(tb testing.TB) pilot.Provider {
		exectest.NeedSlurm(tb)
		return &slurm.Provider{}
	}
}
