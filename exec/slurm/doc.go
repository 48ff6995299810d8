// Package slurm is the pilot.Provider for Slurm: it submits a block's job
// script with sbatch, follows it with squeue (and sacct, where accounting
// works, for jobs squeue has forgotten), and cancels it with scancel.
//
// Every command runs with a timeout, and what Slurm prints on its standard
// error reaches the caller verbatim in the error ("sbatch: error: invalid
// partition specified: nope"). Every state squeue prints, long
// ("PENDING") or short ("PD"), maps to a pilot.State; a job squeue no
// longer lists is pilot.Unknown.
//
// With Job.User, a job is submitted as that local account (fxnode running
// as root, users mapped to accounts): sbatch runs with the account's uid,
// gid, groups and HOME, so the site's accounting and limits apply, and the
// block's directory is handed to the account.
//
// Its tests run against a real cluster: scripts/slurm-up.sh brings one up
// on this machine. Without one they skip, unless FXMESH_SLURM=required (as
// in CI), where they fail.
package slurm
