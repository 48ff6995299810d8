// Package hostinfo detects the hardware and software of the host it runs on:
// CPUs and their model, memory, NVIDIA GPUs (through nvidia-smi), Python
// interpreters, container runtimes and the batch scheduler. fxnode init
// writes what it finds into the node's config file, where an operator may
// correct it, and the node advertises it in its endpoint record. Images
// lists the images a container runtime holds, which the node lists afresh
// each time it signs its record.
//
// Detection never fails: what cannot be found is left empty. Every contact
// with the system (PATH lookups, programs run, the procfs root) goes through
// Options, so tests can describe a whole host without touching the real one.
package hostinfo
