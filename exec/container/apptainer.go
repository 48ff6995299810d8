package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/fxmesh/fxmesh/fault"
)

// Apptainer is a Runtime for Apptainer, or SingularityCE, which takes the
// same commands. Each container is one "apptainer exec" process, in a
// process group of its own: it lives as long as its worker, which the
// executor keeps warm, and Remove kills its group. Apptainer's named
// instances were the other way, but they outlive the endpoint when it
// dies, need a second exec into the instance for the worker's pipe, and
// give nothing the warm worker does not already give.
//
// Images are SIF files (or sandbox directories): an absolute path, or a
// name such as "fxmesh/python:1", which means Images/fxmesh_python_1.sif
// and which Pull fetches from docker://NAME.
//
// What Apptainer cannot do as Docker does: the container's user is the
// endpoint's unless Spec.User is set, which needs Apptainer run as root
// (--security uid:U,gid:G); there is no sized tmpfs at /tmp (--containall
// gives a private one); labels are not kept; and exit status 137 does not
// say whether the out-of-memory killer sent the SIGKILL (States say
// OOMUnknown). Limits (--cpus, --memory, --pids-limit) need cgroups v2
// that Apptainer may use.
type Apptainer struct {
	// Program is "apptainer", "singularity", or a path.
	Program string
	// Images is the directory that image names resolve in; "" means
	// images are absolute paths only.
	Images string

	mu    sync.Mutex
	procs map[string]*osexec.Cmd // by container name, until Remove
}

var (
	_ Runtime = (*Apptainer)(nil)
	_ Puller  = (*Apptainer)(nil)
)

// NewApptainer returns the Apptainer runtime of program ("" means
// "apptainer"), with image names resolved in the directory images.
func NewApptainer(program, images string) *Apptainer {
	if program == "" {
		program = "apptainer"
	}
	return &Apptainer{Program: program, Images: images}
}

// Name returns the program's base name.
func (a *Apptainer) Name() string { return filepath.Base(a.Program) }

// Check runs "PROGRAM version".
func (a *Apptainer) Check(ctx context.Context) error {
	if _, err := osexec.LookPath(a.Program); err != nil {
		return fault.E(fault.Unavailable, "exec/container", "runtime %s: %v", a.Name(), err)
	}
	if out, err := osexec.CommandContext(ctx, a.Program, "version").CombinedOutput(); err != nil {
		return fault.E(fault.Unavailable, "exec/container", "runtime %s is not usable: %v: %s", a.Name(), err, headLine(out))
	}
	return nil
}

// Path returns the file image names, or a fault.Invalid error.
func (a *Apptainer) Path(image string) (string, error) {
	switch {
	case image == "" || strings.HasPrefix(image, "-"):
		return "", fault.E(fault.Invalid, "exec/container", "image name %q", image)
	case filepath.IsAbs(image):
		return filepath.Clean(image), nil
	case a.Images == "":
		return "", fault.E(fault.Invalid, "exec/container", "image %q: runtime %s takes absolute paths of images only (no image directory is set)", image, a.Name())
	case strings.Contains(image, ".."):
		return "", fault.E(fault.Invalid, "exec/container", "image name %q", image)
	}
	return filepath.Join(a.Images, strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(image)+".sif"), nil
}

// HasImage looks for the image's file.
func (a *Apptainer) HasImage(ctx context.Context, image string) error {
	p, err := a.Path(image)
	if err != nil {
		return err
	}
	switch _, err := os.Stat(p); {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fault.E(fault.NotFound, "exec/container", "image %q is not present on runtime %s (no %s)", image, a.Name(), p)
	default:
		return fault.E(fault.Unavailable, "exec/container", "runtime %s: image %q: %v", a.Name(), image, err)
	}
}

// Pull runs "PROGRAM pull PATH docker://IMAGE" for an image name.
func (a *Apptainer) Pull(ctx context.Context, image string) error {
	p, err := a.Path(image)
	if err != nil {
		return err
	}
	if filepath.IsAbs(image) {
		return fault.E(fault.NotFound, "exec/container", "image %q is a path: runtime %s pulls names only", image, a.Name())
	}
	out, err := osexec.CommandContext(ctx, a.Program, "pull", "--", p, "docker://"+image).CombinedOutput()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case notFound(out):
		return fault.E(fault.NotFound, "exec/container", "pull image %q on runtime %s: the registry has no such image: %s", image, a.Name(), headLine(out))
	}
	return fault.E(fault.Unavailable, "exec/container", "pull image %q on runtime %s: %v: %s", image, a.Name(), err, headLine(out))
}

// Command returns "PROGRAM exec ... -- IMAGE COMMAND...", in a process
// group of its own, and remembers it by s.Name for State and Remove. An
// image whose path is invalid yields a command that fails at once.
func (a *Apptainer) Command(s Spec) *osexec.Cmd {
	cmd := osexec.Command(a.Program, a.execArgs(s)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	a.mu.Lock()
	if a.procs == nil {
		a.procs = make(map[string]*osexec.Cmd)
	}
	a.procs[s.Name] = cmd
	a.mu.Unlock()
	return cmd
}

// execArgs returns the arguments of the exec command for s, each option
// as one --name=value word.
func (a *Apptainer) execArgs(s Spec) []string {
	args := []string{"exec", "--containall", "--cleanenv", "--no-home", "--no-privs"}
	if s.User != "" {
		uid, gid, _ := strings.Cut(s.User, ":")
		sec := "uid:" + uid
		if gid != "" {
			sec += ",gid:" + gid
		}
		args = append(args, "--security="+sec)
	}
	if s.Network != "" {
		args = append(args, "--net", "--network="+s.Network)
	}
	if s.CPUs > 0 {
		args = append(args, "--cpus="+strconv.FormatFloat(s.CPUs, 'f', -1, 64))
	}
	if s.Memory > 0 {
		m := strconv.FormatInt(s.Memory, 10)
		args = append(args, "--memory="+m, "--memory-swap="+m)
	}
	if s.PIDs > 0 {
		args = append(args, "--pids-limit="+strconv.Itoa(s.PIDs))
	}
	for _, m := range s.Mounts {
		dst := m.Container
		if dst == "" {
			dst = m.Host
		}
		mode := "ro"
		if m.Writable {
			mode = "rw"
		}
		args = append(args, "--bind="+m.Host+":"+dst+":"+mode)
	}
	if s.GPUs != "" {
		args = append(args, "--nv")
		if dev, ok := strings.CutPrefix(s.GPUs, "device="); ok {
			args = append(args, "--env=CUDA_VISIBLE_DEVICES="+dev)
		}
	}
	p, err := a.Path(s.Image)
	if err != nil {
		p = s.Image // HasImage has refused it already; exec refuses it too
	}
	args = append(args, "--", p)
	return append(args, s.Command...)
}

// State says how the named container's process ended: its exit status,
// 128 plus the signal's number if a signal ended it.
func (a *Apptainer) State(ctx context.Context, name string) (State, error) {
	a.mu.Lock()
	cmd := a.procs[name]
	a.mu.Unlock()
	if cmd == nil {
		return State{}, fmt.Errorf("exec/container: runtime %s: no container %s", a.Name(), name)
	}
	ps := cmd.ProcessState
	if ps == nil {
		return State{}, fmt.Errorf("exec/container: runtime %s: container %s has not ended", a.Name(), name)
	}
	code := ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return State{ExitCode: code, OOMUnknown: true}, nil
}

// Remove kills the process groups of the named containers and forgets
// them.
func (a *Apptainer) Remove(ctx context.Context, names ...string) error {
	var errs []error
	for _, name := range names {
		a.mu.Lock()
		cmd := a.procs[name]
		delete(a.procs, name)
		a.mu.Unlock()
		if cmd == nil || cmd.Process == nil {
			continue
		}
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("exec/container: kill container %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// headLine returns the first line of out, at most 512 bytes.
func headLine(out []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}
