// Package container runs Python and shell functions inside their
// functions' container images (exec.Function.Container): it implements
// exec.Executor and exec.Statser for kinds exec.KindPython and
// exec.KindShell.
//
// # Workers from the endpoint
//
// Nothing of fxmesh needs to be in an image. The worker program is this
// package's own, passed on the container's command line in place of the
// image's entrypoint: worker.py, run as
// "python3 -u -B -c WORKER", needs a Python 3.8 or later interpreter and
// its standard library; worker.sh, run as "/bin/sh -c WORKER", needs a
// POSIX sh and mkdir, rm, cp, cat and wc. Each speaks its protocol
// (protocol.go) on the container's stdin and stdout, which it moves to
// private descriptors before any user code runs. Shell functions are
// command templates, parsed and expanded exactly as exec/shell does; the
// words reach the container's argv unread by any shell.
//
// # Warm containers
//
// Containers are grouped by image, tenant, kind and whether they get GPUs.
// A group holds at most Config.PerImage containers, started at the first
// task that finds none idle and kept running between tasks, so a warm call
// costs one round trip on the pipe. A container idle for
// Config.IdleTimeout is removed, and so is the idle container unused the
// longest when Config.MaxContainers are running. Config.Workers bounds the
// tasks that run at once. A container only ever serves one tenant (the
// empty tenant, the endpoint's own work, is a tenant of its own), and one
// task at a time.
//
// # What goes wrong
//
//   - the function raises or exits non-zero: fault.User, as in exec/python
//     and exec/shell; the container lives on;
//   - the task runs past its timeout, or the caller's context ends: the
//     container is removed (its processes with it) and the task fails with
//     fault.Timeout, or Execute returns the context's error;
//   - the container exits or is killed while it runs a task, the
//     out-of-memory killer included: that task fails with fault.System,
//     saying how the container ended, and the container is replaced by the
//     next task that needs one;
//   - the image is not present: Execute returns fault.NotFound naming the
//     image before anything is queued, unless Config.Pull is on (it is off
//     by default); then the first task to find it absent pulls it, and the
//     tasks that want it meanwhile wait for that one pull. A pull that
//     fails is fault.NotFound when the registry has no such image,
//     fault.Timeout past Config.PullTimeout, and fault.Unavailable
//     otherwise; the next task tries again;
//   - the runtime is missing or its engine is down: New returns
//     fault.Unavailable naming the runtime.
//
// # Safe defaults
//
// Containers run with no network (Config.Network "none"), as nobody
// (65534:65534), with all capabilities dropped and no-new-privileges, one
// CPU, 512 MiB of memory and swap together, 256 processes and a 64 MiB
// tmpfs at /tmp. No host path is mounted unless Config.Mounts names it,
// and each mount must lie under Config.AllowedHostPaths; mounts are
// read-only unless marked writable. A function for which Config.NeedsGPU
// is true gets Config.GPUs (Docker's --gpus).
//
// # Runtimes
//
// Runtime is the engine: Docker and Podman through their command-line
// programs (CLI), and Apptainer or SingularityCE (Apptainer), one
// "apptainer exec" process per container, its images SIF files. Podman takes Docker's commands with
// three differences, which Podman() carries: its containers need explicit
// nofile and nproc ulimits where the machine caps them, its rm -f needs
// "--time 0" to kill at once, and it does not report the out-of-memory
// killer (a container killed under a memory limit is then said to have
// perhaps run out of memory). The tests run the conformance suite and the
// key behaviours under both, skipping a runtime that is not usable here.
// Apptainer is not packaged for the build machine: its commands are tested
// against testdata/apptainer-standin.sh, a stand-in (not Apptainer) that
// records its argv and runs the worker on the host; real runs need a
// machine with Apptainer. The CLI rather than Docker's Go
// client module: the CLI is what both Docker and Podman share (Podman
// speaks Docker's commands, not all of its API), it keeps exec free of a
// large dependency tree, and it leaves the engine's socket, credentials
// and contexts to the CLI's own configuration. The price is a process per
// container start and removal, not per call: warm calls never touch the
// CLI.
package container
