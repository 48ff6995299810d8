package routing

import (
	"errors"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/require"
)

// TestParseRequirementIsRequires shows that routing parses by package
// require's grammar: what require accepts, routing accepts alike, and what it
// refuses, routing refuses with the very same error and message (which is
// what catalog validation carries too).
func TestParseRequirementIsRequires(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error // nil when it parses
	}{
		{"count", "gpus>=1", nil},
		{"bytes", "memory>=64GiB", nil},
		{"version", "python>=3.10", nil},
		{"word", "arch!=arm64", nil},
		{"label", "label:tier>=2", nil},
		{"bare label", "site=aps", nil},
		{"no operator", "gpus", ErrNoOperator},
		{"bad key", "GPUs>=1", ErrBadKey},
		{"comparison on a word key", "arch>=5", ErrBadOperator},
		{"count by name", "gpus=many", ErrBadValue},
		{"version by name", "python=abc", ErrBadValue},
		{"unknown unit", "memory>=64G", ErrBadValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequirement(tc.in)
			want, werr := require.Parse(tc.in)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("ParseRequirement(%q) = %v, want %v", tc.in, err, tc.want)
			}
			if err != nil {
				if werr == nil || err.Error() != werr.Error() {
					t.Fatalf("routing says %q, require says %v", err, werr)
				}
				if k := fault.KindOf(err); k != fault.Invalid {
					t.Fatalf("kind = %s, want invalid", k)
				}
				return
			}
			if require.Requirement(got) != want || got.String() != tc.in {
				t.Fatalf("got %#v (%s), require parses %#v", got, got, want)
			}
		})
	}
}

func TestParseRequirements(t *testing.T) {
	rs, err := ParseRequirements([]string{"gpus>=1", "dataset=cryo-2026"})
	if err != nil || len(rs) != 2 || rs[1].Key != "dataset" {
		t.Fatalf("got %v, %v", rs, err)
	}
	if _, err := ParseRequirements([]string{"gpus>=1", "nope"}); !errors.Is(err, ErrNoOperator) {
		t.Fatalf("a bad second requirement: %v", err)
	}
	if _, err := ParseRequirements(make([]string, MaxRequirements+1)); !errors.Is(err, ErrBadValue) {
		t.Fatalf("too many requirements: %v", err)
	}
	if rs, err := ParseRequirements(nil); err != nil || len(rs) != 0 {
		t.Fatalf("none: %v, %v", rs, err)
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{64 << 30, "64 GiB"},
		{143771 << 20, "140.4 GiB"},
		{3 << 40, "3 TiB"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := FormatBytes(tc.in); got != tc.want {
				t.Fatalf("FormatBytes(%d) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMet(t *testing.T) {
	gpu, cpu, data := gpuBox(t), cpuBox(t), dataBox(t)
	noPython := cpuBox(t)
	noPython.Software.Python = nil
	rcPython := cpuBox(t)
	rcPython.Software.Python = []string{"3.13.0rc1"}
	// Images listed without a runtime (a record no node makes) run nowhere.
	noRuntime := cpuBox(t)
	noRuntime.Software.Containers = nil
	manyImages := cpuBox(t)
	manyImages.Software.Images = []string{"a:1", "b:1", "c:1", "d:1", "e:1", "f:1"}
	withModules := cpuBox(t)
	withModules.Software.Modules = []Module{{Name: "numpy", Version: "1.26.4"}, {Name: "pillow", Version: "10.0.0rc1"},
		{Name: "scikit-learn", Version: "1.4.2"}, {Name: "weird", Version: ""}}
	tests := []struct {
		name string
		req  string
		rec  *EndpointRecord
		want bool
		why  string // a part of the reason, when not met
	}{
		{"module listed", "module=numpy", withModules, true, ""},
		{"module normalised", "module=Scikit_Learn", withModules, true, ""},
		{"module new enough", "module=numpy>=1.26", withModules, true, ""},
		{"module newer than wanted at more precision", "module=numpy>=1.20.0", withModules, true, ""},
		{"module too old", "module=numpy>=2", withModules, false, "needs module=numpy>=2, has numpy 1.26.4"},
		{"module pre-release counts as its release", "module=pillow>=10", withModules, true, ""},
		{"module without version", "module=weird>=1", withModules, false, "has weird of no version"},
		{"module absent", "module=torch", withModules, false, "needs module=torch, has no Python module torch"},
		{"module on endpoint listing none", "module=numpy", cpu, false, "needs module=numpy, lists no Python modules"},
		{"module not wanted, absent", "module!=torch", withModules, true, ""},
		{"module not wanted, present", "module!=numpy", withModules, false, "needs module!=numpy, has numpy 1.26.4"},
		{"gpus on gpu box", "gpus>=1", gpu, true, ""},
		{"gpus on cpu box", "gpus>=1", cpu, false, "needs gpus>=1, has 0 GPUs"},
		{"gpus exactly", "gpus=2", gpu, true, ""},
		{"gpus below", "gpus<2", gpu, false, "needs gpus<2, has 2 GPUs"},
		{"no gpus wanted", "gpus=0", cpu, true, ""},
		{"cpus enough", "cpus>=32", data, true, ""},
		{"cpus short", "cpus>=32", cpu, false, "needs cpus>=32, has 8 CPUs"},
		{"cpus greater", "cpus>64", gpu, false, "needs cpus>64, has 64 CPUs"},
		{"memory enough", "memory>=64GiB", gpu, true, ""},
		{"memory boundary", "memory>=32GiB", cpu, true, ""},
		{"memory just short", "memory>32GiB", cpu, false, "needs memory>32GiB, has 32 GiB"},
		{"memory decimal unit", "memory>=34GB", cpu, true, ""}, // 32 GiB is 34.36 GB
		{"gpu memory H200", "gpu_memory>=80GB", gpu, true, ""},
		{"gpu memory H200 exact", "gpu_memory=143771MiB", gpu, true, ""},
		{"gpu memory too much", "gpu_memory>=141GiB", gpu, false, "needs gpu_memory>=141GiB, has 140.4 GiB on its largest GPU"},
		{"gpu memory without gpu", "gpu_memory>=1GB", cpu, false, "needs gpu_memory>=1GB, has no GPU"},
		{"gpu model substring", "gpu_model=H200", gpu, true, ""},
		{"gpu model any case", "gpu=h200", gpu, true, ""},
		{"gpu model other", "gpu_model=A100", gpu, false, "needs gpu_model=A100, has [NVIDIA H200 NVIDIA H200]"},
		{"gpu model without gpu", "gpu_model=H200", cpu, false, "needs gpu_model=H200, has no GPU"},
		{"gpu model not", "gpu_model!=A100", gpu, true, ""},
		{"arch alias on record", "arch=amd64", gpu, true, ""},
		{"arch alias in requirement", "arch=aarch64", cpu, true, ""},
		{"arch x86_64 both ways", "arch=x86_64", data, true, ""},
		{"arch other", "arch=arm64", gpu, false, "needs arch=arm64, has x86_64"},
		{"arch not", "arch!=arm64", cpu, false, "needs arch!=arm64, has arm64"},
		{"os", "os=linux", gpu, true, ""},
		{"os alias", "os=macos", cpu, true, ""},
		{"os other", "os=linux", cpu, false, "needs os=linux, has darwin"},
		{"python at least, newer", "python>=3.10", gpu, true, ""},
		{"python at least, 3.9 is older than 3.10", "python>=3.10", cpu, false, "needs python>=3.10, has [3.9.18]"},
		{"python any interpreter", "python>=3.12", gpu, true, ""},
		{"python at most includes patch", "python<=3.11", gpu, true, ""},
		{"python below", "python<3.11", gpu, false, "needs python<3.11, has [3.11.7 3.12.1]"},
		{"python equal is a prefix", "python=3.11", gpu, true, ""},
		{"python equal major", "python=3", cpu, true, ""},
		{"python equal full", "python=3.11.7", gpu, true, ""},
		{"python equal other patch", "python=3.11.6", gpu, false, "needs python=3.11.6, has [3.11.7 3.12.1]"},
		{"python not", "python!=3.9", cpu, false, "needs python!=3.9, has [3.9.18]"},
		{"python rc", "python>=3.13", rcPython, true, ""},
		{"python missing", "python>=3", noPython, false, "needs python>=3, has no python"},
		{"container", "container=apptainer", gpu, true, ""},
		{"container any case", "container=docker", cpu, true, ""},
		{"container missing", "container=docker", gpu, false, "needs container=docker, has [apptainer]"},
		{"container none", "container=docker", data, false, "needs container=docker, has no container runtime"},
		{"image held", "image=localhost/fxmesh-test/python:1", cpu, true, ""},
		{"image held, Podman's localhost/ dropped", "image=fxmesh-test/python:1", cpu, true, ""},
		{"image held, default tag and registry", "image=docker.io/library/busybox", cpu, true, ""},
		{"image held, other tag", "image=busybox:1.36", cpu, false, "needs image=busybox:1.36, holds [busybox:latest localhost/fxmesh-test/python:1], does not pull"},
		{"image not held, no pulling", "image=127.0.0.1:5000/x/y:tag", cpu, false, "does not pull"},
		{"image pulled", "image=127.0.0.1:5000/x/y:tag", gpu, true, ""},
		{"image by digest pulled", "image=name@sha256:00ff", gpu, true, ""},
		{"image without runtime", "image=busybox", data, false, "needs image=busybox, has no container runtime"},
		{"image listed without runtime", "image=busybox", noRuntime, false, "has no container runtime"},
		{"image reason bounded", "image=z:1", manyImages, false, "holds [a:1 b:1 c:1 d:1 and 2 more], does not pull"},
		{"image not, held", "image!=busybox", cpu, false, "needs image!=busybox, holds"},
		{"image not, absent", "image!=other:1", cpu, true, ""},
		{"image not, no runtime", "image!=busybox", data, true, ""},
		{"scheduler", "scheduler=slurm", gpu, true, ""},
		{"scheduler other", "scheduler=slurm", data, false, "needs scheduler=slurm, has pbs"},
		{"scheduler none", "scheduler=pbs", cpu, false, "needs scheduler=pbs, has no scheduler"},
		{"dataset held", "dataset=cryo-2026", data, true, ""},
		{"dataset not held", "dataset=cryo-2026", gpu, false, "needs dataset=cryo-2026, holds no datasets"},
		{"dataset other", "dataset=cryo-2025", data, false, "needs dataset=cryo-2025, holds [cryo-2026 tomo-raw]"},
		{"dataset not wanted here", "dataset!=cryo-2026", gpu, true, ""},
		{"label", "label:site=aps", data, true, ""},
		{"label other value", "label:site=aps", gpu, false, "needs label:site=aps, has site=alcf"},
		{"label missing", "label:rack=r1", gpu, false, "needs label:rack=r1, has no label rack"},
		{"label not, missing", "label:rack!=r1", gpu, true, ""},
		{"label compared", "label:tier>=2", gpu, true, ""},
		{"label compared, short", "label:tier>2", gpu, false, "needs label:tier>2, has tier=2"},
		{"label compared, not a number", "label:site>=2", gpu, false, "needs label:site>=2, has site=alcf, not a number"},
		{"label compared, missing", "label:rack>=2", gpu, false, "needs label:rack>=2, has no label rack"},
		{"label compared with cost", "label:cost<3", data, true, ""},
		{"bare key is a label", "site=aps", data, true, ""},
		{"bare key is a label, unmet", "site=aps", cpu, false, "needs site=aps, has site=home"},
		{"bare key not", "site!=aps", cpu, true, ""},
		{"unknown key compared", "bogus>=3", gpu, false, "needs bogus>=3, has no field bogus to compare (known keys: arch, container, cpus"},
		{"unknown key compared mentions label form", "tier>=1", gpu, false, "write label:tier to compare a label"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := mustReq(t, tc.req).Met(tc.rec)
			if got != tc.want {
				t.Fatalf("Met(%s) on %s = %v (%s), want %v", tc.req, tc.rec.Name, got, why, tc.want)
			}
			if tc.want && why != "" {
				t.Fatalf("met, with a reason: %q", why)
			}
			if !tc.want && !strings.Contains(why, tc.why) {
				t.Fatalf("reason %q, want it to say %q", why, tc.why)
			}
		})
	}
}

// TestImageRequirement: the requirement a container function implies is
// image=IMAGE as written, even for an image no requirement could name,
// which only an endpoint that pulls can then run.
func TestImageRequirement(t *testing.T) {
	r := ImageRequirement("fxmesh-test/python:1")
	if r != mustReq(t, "image=fxmesh-test/python:1") {
		t.Fatalf("ImageRequirement = %+v", r)
	}
	if ok, why := r.Met(cpuBox(t)); !ok {
		t.Fatalf("not met on an endpoint holding it: %s", why)
	}
	long := ImageRequirement("registry.example/" + strings.Repeat("p/", 100) + "x:1")
	if ok, _ := long.Met(cpuBox(t)); ok {
		t.Fatal("an image not held met where images are not pulled")
	}
	if ok, why := long.Met(gpuBox(t)); !ok {
		t.Fatalf("a long image not met where images are pulled: %s", why)
	}
	if ok, _ := long.Met(dataBox(t)); ok {
		t.Fatal("met without a runtime")
	}
}

func TestMetOddInputs(t *testing.T) {
	tests := []struct {
		name string
		req  Requirement
		rec  *EndpointRecord
		why  string
	}{
		{"nil record", Requirement{"gpus", ">=", "1"}, nil, "needs gpus>=1, has no endpoint record"},
		{"zero requirement", Requirement{}, gpuBox(t), "needs , is not a valid requirement"},
		{"bad count", Requirement{"gpus", ">=", "x"}, gpuBox(t), "needs gpus>=x, wants a whole number"},
		{"bad bytes", Requirement{"memory", ">=", "x"}, gpuBox(t), "needs memory>=x, wants bytes"},
		{"bad version", Requirement{"python", ">=", "x"}, gpuBox(t), "needs python>=x, wants a dotted version"},
		{"bad op on string key", Requirement{"arch", ">=", "amd64"}, gpuBox(t), "needs arch>=amd64, cannot compare arch with >="},
		{"unknown op", Requirement{"gpus", "~", "1"}, gpuBox(t), "needs gpus~1, has 2 GPUs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := tc.req.Met(tc.rec)
			if ok || !strings.HasPrefix(why, tc.why) {
				t.Fatalf("Met = %v, %q; want false, %q", ok, why, tc.why)
			}
		})
	}
}
