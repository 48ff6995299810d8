package hostinfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/routing"
)

// DefaultTimeout bounds each program Detect runs when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Options says how Detect reaches the system. The zero value means the real
// host: every field is optional.
type Options struct {
	// LookPath finds an executable by name on PATH, like os/exec.LookPath,
	// which it defaults to. Any error means "not installed".
	LookPath func(file string) (string, error)
	// Run runs the program name (a path from LookPath, its links resolved
	// for a Python interpreter) with args and returns its standard output.
	// The default runs it with os/exec, with no standard input and its
	// standard error kept for the error message.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// ProcRoot is where procfs is mounted; "" means "/proc". Detect reads
	// ProcRoot/cpuinfo and ProcRoot/meminfo.
	ProcRoot string
	// Timeout bounds each program run (nvidia-smi, lscpu, each Python);
	// zero or less means DefaultTimeout.
	Timeout time.Duration
	// Logger receives a line for each thing that was there but could not be
	// used (a failing nvidia-smi, a broken interpreter); nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	if o.Run == nil {
		o.Run = runCommand
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Detect describes the host. It never fails: what is missing or cannot be
// read is left empty (lists are empty, never nil, so a config file written
// from them shows where to add entries). Programs are run one at a time,
// each under opts.Timeout; cancelling ctx makes the remaining ones fail fast.
//
// Hardware: CPUs is runtime.NumCPU (the CPUs this process may use); CPUModel
// comes from the "model name" of /proc/cpuinfo, else from lscpu's "Model
// name"; MemoryBytes is MemTotal of /proc/meminfo; Arch and OS are GOARCH and
// GOOS; GPUs are those nvidia-smi lists, if it is on PATH.
//
// Software: the Python interpreters found on PATH as python3, python and
// python3.8 to python3.14, each resolved to its real executable (a pyenv or
// asdf shim, recognised by "/shims/" in its path, is asked for
// sys.executable), without duplicates, in that order; the container runtimes
// docker, podman, apptainer and singularity found on PATH (not run); and the
// scheduler: "slurm" if sbatch is on PATH, else "pbs" if qsub is.
func Detect(ctx context.Context, opts Options) (routing.Hardware, routing.Software) {
	d := detector{Options: opts.withDefaults()}
	hw := routing.Hardware{
		CPUs:        runtime.NumCPU(),
		CPUModel:    d.cpuModel(ctx),
		MemoryBytes: d.memory(),
		Arch:        runtime.GOARCH,
		OS:          runtime.GOOS,
		GPUs:        d.gpus(ctx),
	}
	sw := routing.Software{
		Containers: d.containers(),
		Scheduler:  d.scheduler(),
	}
	sw.Python, sw.PythonPaths = d.pythons(ctx)
	return hw, sw
}

// detector is one Detect call.
type detector struct {
	Options
}

// lookPath reports where file is on PATH, or "" if it is not there.
func (d detector) lookPath(file string) string {
	p, err := d.LookPath(file)
	if err != nil || p == "" {
		return ""
	}
	return p
}

// run runs name under the timeout.
func (d detector) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	return d.Run(ctx, name, args...)
}

func (d detector) readProc(name string) []byte {
	b, err := os.ReadFile(filepath.Join(d.ProcRoot, name))
	if err != nil {
		d.Logger.Debug("hostinfo: read procfs", "file", name, "err", err)
		return nil
	}
	return b
}

func (d detector) cpuModel(ctx context.Context) string {
	if m := parseCPUModel(d.readProc("cpuinfo")); m != "" {
		return m
	}
	// /proc/cpuinfo of arm64 names no model; lscpu decodes it.
	lscpu := d.lookPath("lscpu")
	if lscpu == "" {
		return ""
	}
	out, err := d.run(ctx, lscpu)
	if err != nil {
		d.Logger.Warn("hostinfo: lscpu", "path", lscpu, "err", err)
		return ""
	}
	return parseCPUModel(out)
}

func (d detector) memory() uint64 {
	n, _ := parseMemTotal(d.readProc("meminfo"))
	return n
}

func (d detector) gpus(ctx context.Context) []routing.GPU {
	smi := d.lookPath("nvidia-smi")
	if smi == "" {
		return []routing.GPU{}
	}
	out, err := d.run(ctx, smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits")
	if err != nil {
		d.Logger.Warn("hostinfo: nvidia-smi", "path", smi, "err", err)
		return []routing.GPU{}
	}
	gpus, err := ParseNvidiaSMI(out)
	if err != nil {
		d.Logger.Warn("hostinfo: nvidia-smi", "path", smi, "err", err)
		return []routing.GPU{}
	}
	if gpus == nil {
		gpus = []routing.GPU{}
	}
	return gpus
}

func (d detector) containers() []string {
	found := []string{}
	for _, name := range []string{"docker", "podman", "apptainer", "singularity"} {
		if d.lookPath(name) != "" {
			found = append(found, name)
		}
	}
	return found
}

func (d detector) scheduler() string {
	switch {
	case d.lookPath("sbatch") != "":
		return "slurm"
	case d.lookPath("qsub") != "":
		return "pbs"
	default:
		return ""
	}
}

// runCommand is the default Options.Run.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	// A child that keeps the pipes open must not hold Detect past its timeout.
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if msg, _, _ := strings.Cut(string(bytes.TrimSpace(ee.Stderr)), "\n"); msg != "" {
				return out, fmt.Errorf("hostinfo: run %s: %w: %s", name, err, msg)
			}
		}
		return out, fmt.Errorf("hostinfo: run %s: %w", name, err)
	}
	return out, nil
}
