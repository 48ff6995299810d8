package node

import (
	"context"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// TestTenancyConfig: worker_uids, users and require_mapping are read from
// config.yaml, written back with their help, and refused with a clear
// error when wrong.
func TestTenancyConfig(t *testing.T) {
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	id := k.ID().String()
	tests := []struct {
		name, yaml string
		err        string // "" means valid
	}{
		{"all three", "worker_uids: 200000-265535\nusers:\n  " + id + ": alice\nrequire_mapping: true\n", ""},
		{"uids alone", "worker_uids: \"300000-300009\"\n", ""},
		{"uids with root", "worker_uids: 0-100\n", "worker_uids: exec/tenant: uid range: \"0-100\" includes root"},
		{"uids not a range", "worker_uids: lots\n", "not FIRST-LAST"},
		{"uids backwards", "worker_uids: 10-5\n", "ends before it starts"},
		{"user not an ID", "users:\n  bob: bob\n", "users: "},
		{"account not a name", "users:\n  " + id + ": \"a:b\"\n", "not an account name"},
		{"mapping required of no one", "require_mapping: true\n", "require_mapping is true but users maps no one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadConfig(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("LoadConfig = %v; want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := SaveConfig(dir, c); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			again, err := LoadConfig(dir)
			if err != nil || again.WorkerUIDs != c.WorkerUIDs || len(again.Users) != len(c.Users) || again.RequireMapping != c.RequireMapping {
				t.Fatalf("round trip: %+v, %v\n%s", again, err, b)
			}
			if c.WorkerUIDs != "" && !strings.Contains(string(b), "# Range of unprivileged uids") {
				t.Fatalf("worker_uids written without its help:\n%s", b)
			}
		})
	}
}

// TestIsolationOfConfig: the pool's isolation comes from the config:
// nothing without worker_uids or users, unless fxnode runs as root: then
// the default range; a user mapped to an account that does not exist is
// an error that names both.
func TestIsolationOfConfig(t *testing.T) {
	dir := t.TempDir()
	iso, err := (&Config{}).isolation(dir, false)
	if err != nil || iso.Dir != "" || !iso.UIDs.IsZero() || iso.Accounts != nil {
		t.Fatalf("isolation of an empty config: %+v, %v", iso, err)
	}
	iso, err = (&Config{}).isolation(dir, true)
	if err != nil || iso.Dir != filepath.Join(dir, WorkersDir) || iso.UIDs.String() != DefaultWorkerUIDs {
		t.Fatalf("isolation of an empty config as root: %+v, %v; want the uids %s", iso, err, DefaultWorkerUIDs)
	}
	iso, err = (&Config{WorkerUIDs: "300000-300009"}).isolation(dir, true)
	if err != nil || iso.UIDs.String() != "300000-300009" {
		t.Fatalf("isolation with worker_uids as root: %+v, %v", iso, err)
	}
	iso, err = (&Config{WorkerUIDs: "200000-200009", RequireMapping: true}).isolation(dir, false)
	if err != nil || iso.Dir != filepath.Join(dir, WorkersDir) || iso.UIDs.First != 200000 || iso.UIDs.Last != 200009 || !iso.RequireAccount {
		t.Fatalf("isolation with worker_uids: %+v, %v", iso, err)
	}
	_, err = (&Config{Users: map[string]string{"12D3KooWuser": "no-such-account-fx"}}).isolation(dir, false)
	if err == nil || !strings.Contains(err.Error(), "12D3KooWuser") || !strings.Contains(err.Error(), "no-such-account-fx") {
		t.Fatalf("a user mapped to no account: %v", err)
	}
	iso, err = (&Config{Users: map[string]string{"12D3KooWuser": "root"}}).isolation(dir, false)
	if err != nil || iso.Accounts["12D3KooWuser"].Home != "/root" {
		t.Fatalf("a user mapped to root's account: %+v, %v", iso, err)
	}
}

// TestContainersConfig: the containers: block is read from config.yaml,
// written back with its help, refused with a clear error when wrong, and
// mapped onto exec/container's Config with its safe defaults kept.
func TestContainersConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		err        string // "" means valid
	}{
		{"empty", "containers: {}\n", ""},
		{"everything", "containers:\n  runtime: docker\n  network: bridge\n  cpus: 2.5\n  memory: 1g\n  user: \"1000:1000\"\n" +
			"  mounts:\n    - {host: /srv/data, container: /data}\n    - {host: /scratch, writable: true}\n" +
			"  per_image: 3\n  idle_timeout: 30s\n  gpus: device=0\n", ""},
		{"runtime none", "containers:\n  runtime: none\n", ""},
		{"image user", "containers:\n  user: image\n", ""},
		{"unknown runtime", "containers:\n  runtime: lxc\n", `runtime "lxc": want docker, podman, none`},
		{"unknown network", "containers:\n  network: host\n", `network "host": want none or bridge`},
		{"memory not a size", "containers:\n  memory: lots\n", `memory: "lots": want a positive number`},
		{"memory zero", "containers:\n  memory: 0m\n", `memory: "0m"`},
		{"user not numbers", "containers:\n  user: alice\n", `user "alice": want uid:gid`},
		{"mount relative", "containers:\n  mounts:\n    - {host: data}\n", `mounts: "data" is not a clean absolute path`},
		{"mount of nothing", "containers:\n  mounts:\n    - {container: /data}\n", `mounts: "" is not a clean absolute path`},
		{"mount with a comma", "containers:\n  mounts:\n    - {host: \"/a,b\"}\n", `"/a,b" is not a clean absolute path without commas`},
		{"negative per_image", "containers:\n  per_image: -1\n", "per_image, idle_timeout and pull_timeout must not be negative"},
		{"gpus flag", "containers:\n  gpus: --privileged\n", `gpus "--privileged"`},
		{"pull", "containers:\n  pull: true\n  pull_timeout: 2m\n", ""},
		{"negative pull_timeout", "containers:\n  pull_timeout: -1s\n", "pull_timeout must not be negative"},
		{"unknown field", "containers:\n  pulls: true\n", "field pulls not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadConfig(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("LoadConfig = %v; want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := SaveConfig(dir, c); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			again, err := LoadConfig(dir)
			if err != nil || !reflect.DeepEqual(again.Containers, c.Containers) {
				t.Fatalf("round trip: %+v, %v\n%s", again, err, b)
			}
			if !strings.Contains(string(b), "# Functions with a container image: runtime") {
				t.Fatalf("containers written without its help:\n%s", b)
			}
		})
	}
}

// TestContainersExecutorConfig: the block maps onto exec/container's
// Config: zero values stay zero (the executor's safe defaults), mounts
// are their own allowlist, and GPUs are all the endpoint's when its
// hardware lists some, unless the operator says otherwise.
func TestContainersExecutorConfig(t *testing.T) {
	gpu := routing.Hardware{GPUs: []routing.GPU{{Model: "H200"}}}
	c := ContainersConfig{}
	cfg := c.executorConfig(nil, routing.Hardware{}, exec.Limits{}, 0, nil, nil)
	if cfg.Network != "" || cfg.User != "" || cfg.CPUs != 0 || cfg.Memory != 0 || cfg.Mounts != nil || cfg.GPUs != "" {
		t.Errorf("zero block maps to %+v, want zero fields (the executor's defaults)", cfg)
	}
	if got := c.executorConfig(nil, gpu, exec.Limits{}, 0, nil, nil).GPUs; got != "all" {
		t.Errorf("gpus with detected GPUs = %q, want all", got)
	}
	c = ContainersConfig{Memory: "unlimited", GPUs: "none", Mounts: []MountConfig{{Host: "/srv/data", Container: "/data"}}}
	cfg = c.executorConfig(nil, gpu, exec.Limits{}, 0, nil, nil)
	if cfg.Memory != -1 || cfg.GPUs != "" || len(cfg.Mounts) != 1 || cfg.Mounts[0].Container != "/data" || !reflect.DeepEqual(cfg.AllowedHostPaths, []string{"/srv/data"}) {
		t.Errorf("block %+v maps to %+v", c, cfg)
	}
	if got := (&ContainersConfig{Memory: "256m"}).executorConfig(nil, gpu, exec.Limits{}, 0, nil, nil).Memory; got != 256<<20 {
		t.Errorf("memory 256m = %d bytes", got)
	}
	if got := (&ContainersConfig{GPUs: "device=1"}).executorConfig(nil, gpu, exec.Limits{}, 0, nil, nil).GPUs; got != "device=1" {
		t.Errorf("gpus device=1 maps to %q", got)
	}
	if cfg := (&ContainersConfig{Pull: true, PullTimeout: time.Minute}).executorConfig(nil, gpu, exec.Limits{}, 0, nil, nil); !cfg.Pull || cfg.PullTimeout != time.Minute {
		t.Errorf("pull with a timeout of 1m maps to pull %v, timeout %v", cfg.Pull, cfg.PullTimeout)
	}
}

// TestNeedsGPU: a requirement on gpus that an endpoint without GPUs does
// not meet asks for GPUs; others do not.
func TestNeedsGPU(t *testing.T) {
	for reqs, want := range map[string]bool{
		"gpus>=1": true, "gpus>0": true, "gpus=2": true, "gpus>=0": false, "gpus=0": false, "gpus<1": false,
		"cpus>=2": false, "": false, "cpus>=1,gpus>=1": true,
	} {
		var ss []string
		if reqs != "" {
			ss = strings.Split(reqs, ",")
		}
		rs, err := routing.ParseRequirements(ss)
		if err != nil {
			t.Fatal(err)
		}
		if got := needsGPU(rs); got != want {
			t.Errorf("needsGPU(%s) = %v, want %v", reqs, got, want)
		}
	}
}

// TestContainerRuntime: containers.runtime none chooses none; a runtime
// named but not usable is an error that names it; detection finds none
// where neither docker nor podman is on PATH, and docker where it runs.
func TestContainerRuntime(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dockerWorks := osexec.Command("docker", "version").Run() == nil
	if rt, err := (&ContainersConfig{Runtime: RuntimeNone}).containerRuntime(ctx, log); rt != nil || err != nil {
		t.Errorf("runtime none: %v, %v; want none", rt, err)
	}
	if dockerWorks {
		rt, err := (&ContainersConfig{}).containerRuntime(ctx, log)
		if err != nil || rt == nil || rt.Name() != RuntimeDocker {
			t.Errorf("detected where docker works: %v, %v; want docker", rt, err)
		}
	}
	t.Setenv("PATH", t.TempDir()) // neither docker nor podman
	if rt, err := (&ContainersConfig{}).containerRuntime(ctx, log); rt != nil || err != nil {
		t.Errorf("detected without docker or podman: %v, %v; want none", rt, err)
	}
	for _, name := range []string{RuntimeDocker, RuntimePodman} {
		_, err := (&ContainersConfig{Runtime: name}).containerRuntime(ctx, log)
		if err == nil || !strings.Contains(err.Error(), "containers.runtime is "+name) || fault.KindOf(err) != fault.Unavailable {
			t.Errorf("runtime %s named, not on PATH: %v; want unavailable naming it", name, err)
		}
	}
}
