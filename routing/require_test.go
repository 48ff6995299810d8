package routing

import (
	"errors"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

func TestParseRequirement(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Requirement
	}{
		{"count", "gpus>=1", Requirement{"gpus", ">=", "1"}},
		{"bytes with binary unit", "memory>=64GiB", Requirement{"memory", ">=", "64GiB"}},
		{"bytes with decimal unit", "gpu_memory>=80GB", Requirement{"gpu_memory", ">=", "80GB"}},
		{"unit in lower case", "memory<1.5tib", Requirement{"memory", "<", "1.5tib"}},
		{"plain bytes", "memory>68719476736", Requirement{"memory", ">", "68719476736"}},
		{"version", "python>=3.10", Requirement{"python", ">=", "3.10"}},
		{"version equal", "python=3.11", Requirement{"python", "=", "3.11"}},
		{"less or equal", "cpus<=16", Requirement{"cpus", "<=", "16"}},
		{"not equal", "arch!=arm64", Requirement{"arch", "!=", "arm64"}},
		{"dataset", "dataset=cryo-2026", Requirement{"dataset", "=", "cryo-2026"}},
		{"gpu model", "gpu_model=H200", Requirement{"gpu_model", "=", "H200"}},
		{"label form", "label:site=aps", Requirement{"label:site", "=", "aps"}},
		{"label key with capitals and slash", "label:Team/Owner=lab-7", Requirement{"label:Team/Owner", "=", "lab-7"}},
		{"label compared", "label:tier>=2", Requirement{"label:tier", ">=", "2"}},
		{"bare label", "site=aps", Requirement{"site", "=", "aps"}},
		{"unknown key compared parses", "bogus>=3", Requirement{"bogus", ">=", "3"}},
		{"value with symbols", "container=docker", Requirement{"container", "=", "docker"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequirement(tc.in)
			if err != nil {
				t.Fatalf("ParseRequirement(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			if got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func TestParseRequirementErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
		msg  string // a part of the message
	}{
		{"empty", "", ErrNoOperator, "want KEY=VALUE"},
		{"no operator", "gpus", ErrNoOperator, "want KEY=VALUE"},
		{"no key", ">=1", ErrBadKey, `key ""`},
		{"capital key", "GPUs>=1", ErrBadKey, `key "GPUs"`},
		{"space in key", "gpu s>=1", ErrBadKey, `key "gpu s"`},
		{"long key", strings.Repeat("k", 65) + "=1", ErrBadKey, "1 to 64"},
		{"bad label key", "label:a b=c", ErrBadKey, `label key "a b"`},
		{"empty label key", "label:=c", ErrBadKey, `label key ""`},
		{"lone bang", "arch!arm64", ErrBadOperator, "! must be followed by ="},
		{"comparison on a string key", "arch>=3", ErrBadOperator, "arch takes only = and !="},
		{"comparison on dataset", "dataset<x", ErrBadOperator, "dataset takes only"},
		{"no value", "gpus>=", ErrBadValue, "1 to 128 bytes"},
		{"long value", "site=" + strings.Repeat("v", 129), ErrBadValue, "1 to 128 bytes"},
		{"double equals", "arch==amd64", ErrBadValue, "may hold only"},
		{"space in value", "site=a b", ErrBadValue, "may hold only"},
		{"fractional count", "gpus>=1.5", ErrBadValue, "gpus wants a whole number"},
		{"count with unit", "cpus>=4GiB", ErrBadValue, "cpus wants a whole number"},
		{"count by name", "cpus=many", ErrBadValue, "cpus wants a whole number"},
		{"bytes without unit fraction", "memory>=1.5", ErrBadValue, "memory wants bytes"},
		{"unknown unit", "memory>=64G", ErrBadValue, "memory wants bytes"},
		{"bytes overflow", "memory>=99999999PiB", ErrBadValue, "memory wants bytes"},
		{"negative", "cpus>=-1", ErrBadValue, "cpus wants a whole number"},
		{"version with letters", "python>=3.10a", ErrBadValue, "python wants a dotted version"},
		{"version with unit", "python>=3GB", ErrBadValue, "python wants a dotted version"},
		{"version trailing dot", "python>=3.", ErrBadValue, "python wants a dotted version"},
		{"label compared with word", "label:tier>=high", ErrBadValue, ">= wants a number"},
		{"reversed operator", "cpus=>4", ErrBadValue, "cpus wants a whole number"},
		{"angle pair", "site<>x", ErrBadValue, "< wants a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequirement(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseRequirement(%q) = %v, want %v", tc.in, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("message %q does not say %q", err, tc.msg)
			}
			if k := fault.KindOf(err); k != fault.Invalid {
				t.Fatalf("kind = %s, want invalid", k)
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

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"0", 0},
		{"512", 512},
		{"512B", 512},
		{"1KB", 1000},
		{"1kb", 1000},
		{"2KiB", 2048},
		{"64GiB", 64 << 30},
		{"64gib", 64 << 30},
		{"80GB", 80_000_000_000},
		{"1.5TiB", 3 << 39},
		{"1TB", 1_000_000_000_000},
		{"143771MiB", 143771 << 20},
		{"0.5KiB", 512},
		{"1.0001KB", 1000}, // a fractional byte is dropped
		{"2PB", 2_000_000_000_000_000},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseBytes(tc.in)
			if !ok || got != tc.want {
				t.Fatalf("parseBytes(%q) = %d, %v; want %d", tc.in, got, ok, tc.want)
			}
		})
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
	tests := []struct {
		name string
		req  string
		rec  *EndpointRecord
		want bool
		why  string // a part of the reason, when not met
	}{
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

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"3.10", "3.9", 1},
		{"3.9", "3.10", -1},
		{"3.10", "3.10.0", 0},
		{"3", "3.0.1", -1},
		{"10", "9", 1},
	}
	for _, tc := range tests {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			a, _ := parseVersion(tc.a)
			b, _ := parseVersion(tc.b)
			if got := compareVersions(a, b); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}
