package schedcmd

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// CheckJob refuses, as invalid, a job that no job script can carry: no
// name or command, a relative directory, negative sizes, a walltime that
// walltime does not match, and values that could break a directive's line
// or word.
func CheckJob(op string, job pilot.Job, walltime *regexp.Regexp) error {
	switch {
	case job.Name == "":
		return fault.E(fault.Invalid, op, "no name")
	case !filepath.IsAbs(job.Dir):
		return fault.E(fault.Invalid, op, "directory %q is not an absolute path", job.Dir)
	case strings.TrimSpace(job.Command) == "":
		return fault.E(fault.Invalid, op, "no command")
	case job.Nodes < 0 || job.CPUsPerNode < 0:
		return fault.E(fault.Invalid, op, "%d nodes of %d CPUs", job.Nodes, job.CPUsPerNode)
	case job.Walltime != "" && !walltime.MatchString(job.Walltime):
		return fault.E(fault.Invalid, op, "walltime %q is not HH:MM:SS", job.Walltime)
	}
	for _, w := range []struct{ what, v string }{
		{"name", job.Name}, {"directory", job.Dir}, {"partition or queue", job.Partition},
		{"account", job.Account}, {"qos", job.QoS}, {"user", job.User},
	} {
		if err := CheckWord(op, w.what, w.v); err != nil {
			return err
		}
	}
	for _, o := range job.Options {
		if err := CheckLine(op, "scheduler option", o); err != nil {
			return err
		}
	}
	return nil
}

// Submit writes script into job.Dir as name and runs the submitting
// command (sbatch, qsub) with args and the script's path last, in
// job.Dir. With job.User, job.Dir and the files in it are handed to that
// account first, and the command runs as it. It returns what the command
// printed.
func (r *Runner) Submit(ctx context.Context, job pilot.Job, name, script, command string, args ...string) ([]byte, error) {
	var as *Account
	if job.User != "" {
		var err error
		if as, err = LookupAccount(r.Op, job.User); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(job.Dir, name)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		return nil, fault.E(fault.Invalid, r.Op+": job script", "%v", err)
	}
	if as != nil {
		if err := GiveDir(r.Op, job.Dir, as); err != nil {
			return nil, err
		}
	}
	res := r.Run(ctx, Cmd{Name: command, Args: append(args, path), Dir: job.Dir, As: as})
	return res.Stdout, res.Err
}
