// Package pilot runs tasks on batch schedulers through blocks: pilot jobs
// that start fxmesh's worker agent on compute nodes, which connects back to
// its endpoint and runs tasks there. This file set holds the contract of a
// scheduler provider (Provider, Job, State); the providers are
// sub-packages (exec/slurm, exec/pbs) and a local one that runs a block as
// a process of the endpoint's host.
//
// Like the rest of exec, pilot knows nothing of libp2p: the node hands it
// the agents' connections.
package pilot
