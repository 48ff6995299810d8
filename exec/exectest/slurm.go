package exectest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// NeedSlurm skips t where no Slurm cluster answers sinfo, or fails it when
// FXMESH_SLURM=required (CI, after scripts/slurm-up.sh), so that a broken
// cluster never passes for a missing one.
func NeedSlurm(t testing.TB) {
	t.Helper()
	// sinfo retries for a minute where it finds no configuration.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sinfo", "-h", "-o", "%T").CombinedOutput()
	if err == nil && len(strings.TrimSpace(string(out))) > 0 {
		return
	}
	msg := fmt.Sprintf("no Slurm cluster answers sinfo (%v: %s); scripts/slurm-up.sh brings one up", err, strings.TrimSpace(string(out)))
	if os.Getenv("FXMESH_SLURM") == "required" {
		t.Fatal(msg + ", and FXMESH_SLURM=required")
	}
	t.Skip(msg)
}
