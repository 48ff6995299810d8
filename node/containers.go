package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/container"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/node/admission"
	"github.com/fxmesh/fxmesh/routing"
)

// The values of containers.runtime besides "" (detect).
const (
	RuntimeDocker = "docker"
	RuntimePodman = "podman"
	RuntimeNone   = "none"
)

// ContainersConfig is the containers: block of config.yaml: how functions
// registered with a container image run. Each zero value is a safe
// default, documented at its field. At most Config.Workers tasks run in
// containers at once (the CPU count by default), with at most twice that
// many containers, idle ones included.
type ContainersConfig struct {
	// Runtime is "docker", "podman" or "none"; "" detects: Docker if it
	// runs containers, else Podman, else none. With none, a function with
	// a container is refused at admission; it never runs on the host.
	Runtime string `yaml:"runtime,omitempty"`
	// Network is the containers' network, "none" or "bridge"; "" means
	// none.
	Network string `yaml:"network,omitempty"`
	// CPUs is each container's CPU limit in cores; 0 means 1, negative no
	// limit.
	CPUs float64 `yaml:"cpus,omitempty"`
	// Memory is each container's memory limit, swap included, as bytes
	// or with a suffix k, m, g (binary: 512m is 512 MiB); "" means 512m,
	// "unlimited" no limit.
	Memory string `yaml:"memory,omitempty"`
	// User is the uid:gid functions run as in containers; "" means
	// nobody (65534:65534), "image" the image's own user (often root).
	User string `yaml:"user,omitempty"`
	// Mounts are the only host paths containers see, each mounted in
	// every container, read-only unless writable. None by default.
	Mounts []MountConfig `yaml:"mounts,omitempty"`
	// PerImage bounds the warm containers of one image, user and kind; 0
	// means 2.
	PerImage int `yaml:"per_image,omitempty"`
	// IdleTimeout is how long a container may stay idle before it is
	// removed; 0 means 5 minutes.
	IdleTimeout time.Duration `yaml:"idle_timeout,omitempty"`
	// GPUs is what a container of a function that requires GPUs gets, as
	// Docker's --gpus takes it ("all", "device=0,1"); "" means "all" when
	// hardware lists GPUs, and "none" gives GPUs to no container.
	GPUs string `yaml:"gpus,omitempty"`
	// Pull says to pull an image that is not present, once, before its
	// first container; off by default, when a function whose image is
	// absent is refused at admission (not-found). The endpoint's record
	// says it pulls, so that routing may send it images it does not hold.
	Pull bool `yaml:"pull,omitempty"`
	// PullTimeout bounds one pull; 0 means 5 minutes.
	PullTimeout time.Duration `yaml:"pull_timeout,omitempty"`
}

// MountConfig is one host path containers see.
type MountConfig struct {
	// Host is an absolute host path.
	Host string `yaml:"host"`
	// Container is where it appears in containers; "" means Host.
	Container string `yaml:"container,omitempty"`
	// Writable mounts it read-write; it is read-only otherwise.
	Writable bool `yaml:"writable,omitempty"`
}

// validate checks the block's values for what they are, without looking
// at the host (New of exec/container checks the mounts' paths exist).
func (c *ContainersConfig) validate() error {
	var errs []error
	switch c.Runtime {
	case "", RuntimeDocker, RuntimePodman, RuntimeNone:
	default:
		errs = append(errs, fmt.Errorf("containers: runtime %q: want docker, podman, none, or nothing to detect", c.Runtime))
	}
	switch c.Network {
	case "", "none", "bridge":
	default:
		errs = append(errs, fmt.Errorf("containers: network %q: want none or bridge", c.Network))
	}
	if _, err := parseMemory(c.Memory); err != nil {
		errs = append(errs, fmt.Errorf("containers: memory: %w", err))
	}
	if c.User != "" && c.User != container.ImageUser && !isUIDGID(c.User) {
		errs = append(errs, fmt.Errorf("containers: user %q: want uid:gid (numbers) or image", c.User))
	}
	for _, m := range c.Mounts {
		paths := []string{m.Host}
		if m.Container != "" {
			paths = append(paths, m.Container)
		}
		for _, p := range paths {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsAny(p, ",\n") {
				errs = append(errs, fmt.Errorf("containers: mounts: %q is not a clean absolute path without commas", p))
			}
		}
	}
	if c.PerImage < 0 || c.IdleTimeout < 0 || c.PullTimeout < 0 {
		errs = append(errs, errors.New("containers: per_image, idle_timeout and pull_timeout must not be negative"))
	}
	if strings.HasPrefix(c.GPUs, "-") || strings.ContainsAny(c.GPUs, " \t\n") {
		errs = append(errs, fmt.Errorf("containers: gpus %q: want all, device=N[,M...] or none", c.GPUs))
	}
	return errors.Join(errs...)
}

// isUIDGID reports whether s is "uid:gid" in numbers.
func isUIDGID(s string) bool {
	u, g, ok := strings.Cut(s, ":")
	_, err1 := strconv.ParseUint(u, 10, 32)
	_, err2 := strconv.ParseUint(g, 10, 32)
	return ok && err1 == nil && err2 == nil
}

// parseMemory reads containers.memory: 0 for "" (the default), -1 for
// "unlimited", else bytes.
func parseMemory(s string) (int64, error) {
	switch s {
	case "":
		return 0, nil
	case "unlimited":
		return -1, nil
	}
	num, mul := s, int64(1)
	switch strings.ToLower(s[len(s)-1:]) {
	case "k":
		mul = 1 << 10
	case "m":
		mul = 1 << 20
	case "g":
		mul = 1 << 30
	}
	if mul > 1 {
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mul {
		return 0, fmt.Errorf("%q: want a positive number of bytes, optionally with k, m or g, or unlimited", s)
	}
	return n * mul, nil
}

// executorConfig maps the block onto exec/container's Config, for rt and
// an endpoint whose hardware is hw. needsGPU says which functions get the
// GPUs.
func (c *ContainersConfig) executorConfig(rt container.Runtime, hw routing.Hardware, lim exec.Limits, workers int, needsGPU func(exec.Function) bool, log *slog.Logger) container.Config {
	mem, _ := parseMemory(c.Memory) // validated
	cfg := container.Config{
		Runtime: rt, Workers: workers, PerImage: c.PerImage, IdleTimeout: c.IdleTimeout,
		Limits: lim, User: c.User, Network: c.Network, CPUs: c.CPUs, Memory: mem,
		NeedsGPU: needsGPU, Logger: log, Pull: c.Pull, PullTimeout: c.PullTimeout,
	}
	for _, m := range c.Mounts {
		cfg.Mounts = append(cfg.Mounts, container.Mount{Host: m.Host, Container: m.Container, Writable: m.Writable})
		cfg.AllowedHostPaths = append(cfg.AllowedHostPaths, m.Host)
	}
	switch {
	case c.GPUs == "none":
	case c.GPUs != "":
		cfg.GPUs = c.GPUs
	case len(hw.GPUs) > 0:
		cfg.GPUs = "all"
	}
	return cfg
}

// runtimeCheckTimeout bounds the check of each runtime at start.
const runtimeCheckTimeout = 30 * time.Second

// containerRuntime picks the runtime the block asks for: the one named, or
// the first of Docker and Podman that runs containers. nil means none; an
// error, that the runtime named cannot run containers.
func (c *ContainersConfig) containerRuntime(ctx context.Context, log *slog.Logger) (container.Runtime, error) {
	check := func(rt container.Runtime) error {
		ctx, cancel := context.WithTimeout(ctx, runtimeCheckTimeout)
		defer cancel()
		return rt.Check(ctx)
	}
	switch c.Runtime {
	case RuntimeNone:
		log.Info("container runtime", "runtime", RuntimeNone, "chosen", "configured", "note", "functions with a container image are refused")
		return nil, nil
	case RuntimeDocker, RuntimePodman:
		rt := container.Docker()
		if c.Runtime == RuntimePodman {
			rt = container.Podman()
		}
		if err := check(rt); err != nil {
			return nil, fmt.Errorf("node: containers.runtime is %s: %w", c.Runtime, err)
		}
		log.Info("container runtime", "runtime", c.Runtime, "chosen", "configured")
		return rt, nil
	}
	for _, rt := range []*container.CLI{container.Docker(), container.Podman()} {
		err := check(rt)
		if err == nil {
			log.Info("container runtime", "runtime", rt.Name(), "chosen", "detected")
			return rt, nil
		}
		log.Debug("container runtime not usable", "runtime", rt.Name(), "err", err)
	}
	log.Info("container runtime", "runtime", RuntimeNone, "chosen", "detected: neither docker nor podman runs containers", "note", "functions with a container image are refused")
	return nil, nil
}

// needsGPU reports whether reqs ask for at least one GPU: whether one of
// them, on the key gpus, is not met by an endpoint without GPUs.
func needsGPU(reqs []routing.Requirement) bool {
	var none routing.EndpointRecord
	for _, r := range reqs {
		if r.Key == routing.KeyGPUs {
			if ok, _ := r.Met(&none); !ok {
				return true
			}
		}
	}
	return false
}

// images is the endpoint's container runtime as admission reads it: which
// images are present, asked of the runtime and remembered, present ones
// for imagePresentTTL, absent ones for imageAbsentTTL, so that a burst of
// calls costs one inspection. The zero value has no runtime.
type images struct {
	rt   container.Runtime // nil: none
	pull bool              // the executor pulls absent images
	ctx  context.Context   // the node's: its end cuts a check short
	now  func() time.Time
	mu   sync.Mutex            // guards m
	m    map[string]imageCheck // by image
}

type imageCheck struct {
	err error // of HasImage
	at  time.Time
}

var _ admission.Containers = (*images)(nil)

const (
	imagePresentTTL   = time.Minute
	imageAbsentTTL    = 2 * time.Second
	imageCheckTimeout = 10 * time.Second
	imageCacheSize    = 1024
)

// Runtime names the runtime, "" if none.
func (im *images) Runtime() string {
	if im.rt == nil {
		return ""
	}
	return im.rt.Name()
}

// Pulls reports whether the executor pulls an image that is absent.
func (im *images) Pulls() bool { return im.rt != nil && im.pull }

// HasImage reports whether image is present on the runtime.
func (im *images) HasImage(image string) error {
	if im.rt == nil {
		return fault.E(fault.Unavailable, "", "no container runtime")
	}
	now := im.now()
	im.mu.Lock()
	c, ok := im.m[image]
	im.mu.Unlock()
	if ok && (c.err == nil && now.Sub(c.at) < imagePresentTTL || c.err != nil && now.Sub(c.at) < imageAbsentTTL) {
		return c.err
	}
	ctx, cancel := context.WithTimeout(im.ctx, imageCheckTimeout)
	defer cancel()
	err := im.rt.HasImage(ctx, image)
	if err != nil && fault.KindOf(err) != fault.NotFound {
		return err // not an answer: ask again next time
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.m == nil || len(im.m) >= imageCacheSize {
		im.m = make(map[string]imageCheck)
	}
	im.m[image] = imageCheck{err: err, at: now}
	return err
}

// gpuFunctions holds the IDs of the functions admitted with a requirement
// of GPUs, theirs or their invocation's: the container executor gives
// those the endpoint's GPUs. The zero value is empty and ready.
type gpuFunctions struct {
	mu  sync.Mutex          // guards ids
	ids map[string]struct{} // by exec.Function.ID
}

// note records an admitted task's function if it or its invocation
// requires GPUs.
func (g *gpuFunctions) note(adm *admission.Admitted) {
	if adm.Function.Exec.Container == "" {
		return
	}
	need := needsGPU(adm.Function.Require)
	if !need && len(adm.Invocation.Require) > 0 {
		reqs, err := routing.ParseRequirements(adm.Invocation.Require) // parsed by admission already
		need = err == nil && needsGPU(reqs)
	}
	if !need {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ids == nil || len(g.ids) >= functionCacheSize {
		g.ids = make(map[string]struct{})
	}
	g.ids[adm.Function.Exec.ID] = struct{}{}
}

// needs reports whether fn was admitted with a requirement of GPUs.
func (g *gpuFunctions) needs(fn exec.Function) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.ids[fn.ID]
	return ok
}
