// Package schedcmd runs a batch scheduler's commands (sbatch, squeue,
// qsub, qstat…) for the providers exec/slurm and exec/pbs: each with a
// timeout, optionally as another local account, its output bounded, and
// its standard error, verbatim, in the error it returns. It also checks
// what a job script's directives would carry, writes the script, and hands
// a block's directory to the account a job runs as before submitting it.
package schedcmd
