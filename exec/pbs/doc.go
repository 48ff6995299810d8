// Package pbs is the pilot.Provider for PBS Professional (and OpenPBS): it
// submits a block's job script with qsub, follows it with qstat -x -f -F
// json (finished jobs included), and deletes it with qdel.
//
// Every job_state maps to a pilot.State: Q, H, W, T, S and U are pending,
// R and B running, E completing, M (moved to another server) unknown, and
// F and X (finished) by Exit_status as the PBS Professional Reference
// Guide lists them: 0 completed, JOB_EXEC_KILL_WALLTIME (-29) timeout,
// the other resource kills and exec failures failed, a lost mother
// superior or sister (-20, -14) a node failure, a rerun or checkpoint
// (-11, -12, -15) preempted, above 256 (killed by signal N-256, as qdel
// does to a running job: 271 is SIGTERM) and no status at all (deleted
// before it ran) cancelled, and a script's own 1-255 failed.
//
// Cancel uses plain qdel, not qdel -W force: forcing purges the job from
// the server without its MoM killing its processes, which could leave a
// block's workers running on a node; a job stuck on a dead node is for its
// operator to force.
//
// No PBS server can run where fxmesh is tested: the parsers are tested
// against outputs written from the PBS Professional documentation
// (testdata/README.md says which), and the Provider end to end against a
// stand-in qsub, qstat and qdel (testdata/fakebin, a fake).
package pbs
