package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
)

// Runtime is a container engine: what the executor needs of Docker, Podman
// and, later, Apptainer. Its methods are safe for concurrent use.
type Runtime interface {
	// Name names the runtime in messages ("docker").
	Name() string
	// Check reports whether the runtime can run containers: a
	// fault.Unavailable error naming the runtime when it cannot.
	Check(ctx context.Context) error
	// HasImage reports whether image is present locally: nil if so, a
	// fault.NotFound error naming it if not, fault.Unavailable if the
	// runtime cannot tell.
	HasImage(ctx context.Context, image string) error
	// Command returns the command that runs the container s describes in
	// the foreground, with the container's main process's stdin and stdout
	// as the command's own (the pipe the worker speaks on) and its stderr
	// as the command's stderr. Ending the command need not end the
	// container: Remove does.
	Command(s Spec) *osexec.Cmd
	// State says how the container named name ended: its exit code, and
	// whether the kernel's out-of-memory killer ended it.
	State(ctx context.Context, name string) (State, error)
	// Remove kills and removes the named containers; names that do not
	// exist are not an error.
	Remove(ctx context.Context, names ...string) error
}

// Puller is a Runtime that can fetch images from a registry.
type Puller interface {
	// Pull fetches image so that HasImage finds it: fault.NotFound if
	// the registry has no such image, fault.Unavailable if the pull
	// fails otherwise, ctx's error if ctx ends first.
	Pull(ctx context.Context, image string) error
}

// Spec is one container to run.
type Spec struct {
	Name    string            // the container's name, unique on the runtime
	Image   string            // the image, present locally
	Command []string          // what runs in it, the worker, in place of the image's entrypoint
	User    string            // uid:gid; "" is the image's user
	Network string            // "none", "bridge" or a network's name
	CPUs    float64           // CPU limit in cores; 0 is none
	Memory  int64             // memory limit in bytes (swap included); 0 is none
	PIDs    int               // process limit; 0 is none
	TmpSize int64             // size of the tmpfs at /tmp; 0 mounts none
	Mounts  []Mount           // host paths mounted in it
	GPUs    string            // Docker's --gpus value ("all", "device=0,1"); "" is none
	Labels  map[string]string // labels, to find the executor's containers
}

// Mount is a host path visible in a container.
type Mount struct {
	Host      string // an absolute path on the host
	Container string // where it appears; "" is Host
	Writable  bool   // read-write; read-only otherwise
}

// State is how a container ended.
type State struct {
	ExitCode  int
	OOMKilled bool
	// OOMUnknown says that the runtime does not report the
	// out-of-memory killer (Podman 4.3 does not): OOMKilled false then
	// means nothing.
	OOMUnknown bool
}

// CLI is a Runtime driven through its command-line program: Docker, or
// Podman, which takes the same commands. Create one with Docker or Podman.
type CLI struct {
	// Program is the CLI to run: "docker", "podman", or a path.
	Program string
	// RunArgs are added to every run command before the image, for
	// what a runtime needs on this machine (Podman's ulimits).
	RunArgs []string
	// RemoveArgs are added to every rm command (Podman's "--time 0":
	// its rm -f otherwise waits 10 s for a SIGTERM that a worker running
	// as PID 1 ignores).
	RemoveArgs []string
	// PullArgs are added to every pull command (for a test's plain-HTTP
	// registry on loopback, Podman's "--tls-verify=false"; Docker allows
	// plain HTTP to 127.0.0.0/8 by itself).
	PullArgs []string
	// NoOOMReport says that the runtime's inspect never reports the
	// out-of-memory killer, whatever killed the container (Podman 4.3).
	NoOOMReport bool
}

var (
	_ Runtime = (*CLI)(nil)
	_ Puller  = (*CLI)(nil)
)

// Docker returns the Docker runtime, through the docker CLI.
func Docker() *CLI { return &CLI{Program: "docker"} }

// Podman returns the Podman runtime, through the podman CLI. Its containers
// get explicit nofile and nproc limits: rootful Podman on machines that cap
// those below its defaults fails to start containers without them. Its
// removals kill at once, as Docker's do. Its inspect says OOMKilled false
// even of a container the out-of-memory killer ended, so its states say
// OOMUnknown.
func Podman() *CLI {
	return &CLI{Program: "podman",
		RunArgs:     podmanUlimits,
		RemoveArgs:  []string{"--time", "0"},
		NoOOMReport: true}
}

// podmanUlimits are the limits Podman's containers need set explicitly
// (rlimit types 7 and 6 are otherwise refused: "operation not permitted").
var podmanUlimits = []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// Name returns the program's base name.
func (c *CLI) Name() string {
	if i := strings.LastIndexByte(c.Program, '/'); i >= 0 {
		return c.Program[i+1:]
	}
	return c.Program
}

// Check runs "PROGRAM version", which needs the engine as well as the CLI.
func (c *CLI) Check(ctx context.Context) error {
	if _, err := osexec.LookPath(c.Program); err != nil {
		return fault.E(fault.Unavailable, "exec/container", "runtime %s: %v", c.Name(), err)
	}
	if _, err := c.output(ctx, "version"); err != nil {
		return fault.E(fault.Unavailable, "exec/container", "runtime %s is not usable: %v", c.Name(), err)
	}
	return nil
}

// HasImage runs "PROGRAM image inspect IMAGE".
func (c *CLI) HasImage(ctx context.Context, image string) error {
	if image == "" || strings.HasPrefix(image, "-") {
		return fault.E(fault.Invalid, "exec/container", "image name %q", image)
	}
	_, err := c.output(ctx, "image", "inspect", "--format", "{{.Id}}", "--", image)
	var x *osexec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &x):
		return fault.E(fault.NotFound, "exec/container", "image %q is not present on runtime %s", image, c.Name())
	}
	return fault.E(fault.Unavailable, "exec/container", "runtime %s: inspect image %q: %v", c.Name(), image, err)
}

// Pull runs "PROGRAM pull IMAGE".
func (c *CLI) Pull(ctx context.Context, image string) error {
	if image == "" || strings.HasPrefix(image, "-") {
		return fault.E(fault.Invalid, "exec/container", "image name %q", image)
	}
	args := append(append([]string{"pull", "--quiet"}, c.PullArgs...), "--", image)
	out, err := c.output(ctx, args...)
	var x *osexec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &x) && notFound(out):
		return fault.E(fault.NotFound, "exec/container", "pull image %q on runtime %s: the registry has no such image: %v", image, c.Name(), err)
	}
	return fault.E(fault.Unavailable, "exec/container", "pull image %q on runtime %s: %v", image, c.Name(), err)
}

// notFound says whether a pull's stderr says that the image does not
// exist, in the words of Docker's and Podman's registries.
func notFound(stderr []byte) bool {
	s := bytes.ToLower(stderr)
	for _, w := range []string{"manifest unknown", "not found", "does not exist", "name unknown"} {
		if bytes.Contains(s, []byte(w)) {
			return true
		}
	}
	return false
}

// Command returns "PROGRAM run -i ... IMAGE COMMAND...". It runs in the
// system's temporary directory, not in the caller's: Podman 4.3 leaves an
// empty file named oom in its working directory when the kernel kills a
// container for memory.
func (c *CLI) Command(s Spec) *osexec.Cmd {
	cmd := osexec.Command(c.Program, c.runArgs(s)...)
	cmd.Dir = os.TempDir()
	return cmd
}

// runArgs returns the arguments of the run command for s.
func (c *CLI) runArgs(s Spec) []string {
	a := []string{"run", "-i", "--name", s.Name, "--log-driver", "none",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges"}
	if s.User != "" {
		a = append(a, "--user", s.User)
	}
	if s.Network != "" {
		a = append(a, "--network", s.Network)
	}
	if s.CPUs > 0 {
		a = append(a, "--cpus", strconv.FormatFloat(s.CPUs, 'f', -1, 64))
	}
	if s.Memory > 0 {
		m := strconv.FormatInt(s.Memory, 10)
		a = append(a, "--memory", m, "--memory-swap", m)
	}
	if s.PIDs > 0 {
		a = append(a, "--pids-limit", strconv.Itoa(s.PIDs))
	}
	if s.TmpSize > 0 {
		a = append(a, "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777,size="+strconv.FormatInt(s.TmpSize, 10))
	}
	for _, m := range s.Mounts {
		dst := m.Container
		if dst == "" {
			dst = m.Host
		}
		opt := "type=bind,source=" + m.Host + ",target=" + dst
		if !m.Writable {
			opt += ",readonly"
		}
		a = append(a, "--mount", opt)
	}
	if s.GPUs != "" {
		a = append(a, "--gpus", s.GPUs)
	}
	for _, k := range sortedKeys(s.Labels) {
		a = append(a, "--label", k+"="+s.Labels[k])
	}
	a = append(a, c.RunArgs...)
	// The worker replaces the image's entrypoint, whatever it is.
	if len(s.Command) > 0 {
		a = append(a, "--entrypoint", s.Command[0], "--", s.Image)
		return append(a, s.Command[1:]...)
	}
	return append(a, "--", s.Image)
}

// State runs "PROGRAM inspect".
func (c *CLI) State(ctx context.Context, name string) (State, error) {
	out, err := c.output(ctx, "inspect", "--type", "container", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", "--", name)
	if err != nil {
		return State{}, fmt.Errorf("exec/container: inspect container %s: %w", name, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return State{}, fmt.Errorf("exec/container: inspect container %s: unexpected %q", name, out)
	}
	code, err := strconv.Atoi(f[0])
	if err != nil {
		return State{}, fmt.Errorf("exec/container: inspect container %s: unexpected %q", name, out)
	}
	return State{ExitCode: code, OOMKilled: f[1] == "true", OOMUnknown: c.NoOOMReport && f[1] != "true"}, nil
}

// Remove runs "PROGRAM rm -f NAME...".
func (c *CLI) Remove(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	args := append(append([]string{"rm", "-f"}, c.RemoveArgs...), "--")
	out, err := c.output(ctx, append(args, names...)...)
	if err != nil && !bytes.Contains(bytes.ToLower(out), []byte("no such container")) {
		return fmt.Errorf("exec/container: remove containers: %w", err)
	}
	return nil
}

// Labelled runs "PROGRAM ps -aq --filter label=KEY=VALUE": the IDs of the
// containers, running or not, that carry the label.
func (c *CLI) Labelled(ctx context.Context, key, value string) ([]string, error) {
	out, err := c.output(ctx, "ps", "-aq", "--filter", "label="+key+"="+value)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// output runs the CLI with args and returns its stdout, or an error with
// its stderr.
func (c *CLI) output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := osexec.CommandContext(ctx, c.Program, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 512 {
			msg = msg[:512]
		}
		return stderr.Bytes(), fmt.Errorf("%s %s: %w: %s", c.Name(), args[0], err, msg)
	}
	return out, nil
}

// sortedKeys returns m's keys in order, so that commands are reproducible.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
