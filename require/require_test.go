package require

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

// sentinels are the reasons Parse refuses for.
var sentinels = []error{ErrNoOperator, ErrBadKey, ErrBadOperator, ErrBadValue}

// TestParseEveryKey takes each key through good and bad values: every key
// of KnownKeys, label:K and a bare label.
func TestParseEveryKey(t *testing.T) {
	tests := []struct {
		key  string
		good []string // values or whole requirements that parse
		bad  map[string]error
	}{
		{
			key:  KeyCPUs,
			good: []string{"cpus>=8", "cpus=0", "cpus<64", "cpus!=3", "cpus>1", "cpus<=16"},
			bad:  map[string]error{"cpus=many": ErrBadValue, "cpus>=1.5": ErrBadValue, "cpus>=4GiB": ErrBadValue, "cpus>=-1": ErrBadValue},
		},
		{
			key:  KeyMemory,
			good: []string{"memory>=64GiB", "memory<1.5tib", "memory>68719476736", "memory=512B", "memory<=2PB"},
			bad:  map[string]error{"memory>=lots": ErrBadValue, "memory>=64G": ErrBadValue, "memory>=1.5": ErrBadValue, "memory>=GiB": ErrBadValue},
		},
		{
			key:  KeyGPUMemory,
			good: []string{"gpu_memory>=80GB", "gpu_memory=143771MiB", "gpu_memory>0"},
			bad:  map[string]error{"gpu_memory>=big": ErrBadValue, "gpu_memory>=99999999PiB": ErrBadValue},
		},
		{
			key:  KeyGPUs,
			good: []string{"gpus>=1", "gpus=0", "gpus<2"},
			bad:  map[string]error{"gpus=many": ErrBadValue, "gpus>=one": ErrBadValue, "gpus>=": ErrBadValue},
		},
		{
			key:  KeyGPUModel,
			good: []string{"gpu_model=H200", "gpu_model!=A100", "gpu=h200"},
			bad:  map[string]error{"gpu_model>=100": ErrBadOperator, "gpu_model=H 200": ErrBadValue, "gpu<2": ErrBadOperator},
		},
		{
			key:  KeyArch,
			good: []string{"arch=amd64", "arch!=arm64", "arch=x86_64"},
			bad:  map[string]error{"arch>=5": ErrBadOperator, "arch==amd64": ErrBadValue, "arch!arm64": ErrBadOperator},
		},
		{
			key:  KeyOS,
			good: []string{"os=linux", "os!=darwin"},
			bad:  map[string]error{"os<3": ErrBadOperator, "os=linux gnu": ErrBadValue},
		},
		{
			key:  KeyPython,
			good: []string{"python>=3.10", "python=3", "python<3.13.1", "python!=3.9"},
			bad:  map[string]error{"python=abc": ErrBadValue, "python>=3.10a": ErrBadValue, "python>=3.": ErrBadValue, "python>=3GB": ErrBadValue},
		},
		{
			key:  KeyContainer,
			good: []string{"container=docker", "container!=podman"},
			bad:  map[string]error{"container>1": ErrBadOperator, "container=doc ker": ErrBadValue},
		},
		{
			key:  KeyScheduler,
			good: []string{"scheduler=slurm", "scheduler!=pbs"},
			bad:  map[string]error{"scheduler>=2": ErrBadOperator, "scheduler=": ErrBadValue},
		},
		{
			key:  KeyDataset,
			good: []string{"dataset=cryo-2026", "dataset!=tomo-raw", "dataset=a/b@v2+x"},
			bad:  map[string]error{"dataset<x": ErrBadOperator, "dataset=a b": ErrBadValue, "dataset=" + strings.Repeat("d", 129): ErrBadValue},
		},
		{
			key: KeyImage,
			good: []string{"image=fxmesh-test/python:1", "image=127.0.0.1:5000/x/y:tag", "image!=busybox",
				"image=name@sha256:" + strings.Repeat("0123456789abcdef", 4), "image=Registry.example/A_b/c-d.e:T+1"},
			bad: map[string]error{
				"image>=1": ErrBadOperator, "image<x": ErrBadOperator, "image=a b": ErrBadValue, "image=": ErrBadValue,
				"image=x:%": ErrBadValue, "image=" + strings.Repeat("i", 129): ErrBadValue,
			},
		},
		{
			key:  KeyModule,
			good: []string{"module=numpy", "module=numpy>=1.26", "module!=torch", "module=scikit-learn>=1.4.2", "module=Foo_Bar.baz", "module=a"},
			bad: map[string]error{
				"module>=1": ErrBadOperator, "module<x": ErrBadOperator, "module=": ErrBadValue,
				"module=numpy>=": ErrBadValue, "module=numpy>=1.2rc1": ErrBadValue, "module=numpy>1": ErrBadValue,
				"module=numpy==1.2": ErrBadValue, "module=-numpy": ErrBadValue, "module=num py": ErrBadValue,
				"module=numpy>=1.2>=3": ErrBadValue, "module=" + strings.Repeat("m", 101): ErrBadValue,
			},
		},
		{
			key:  "label:K",
			good: []string{"label:site=aps", "label:Team/Owner=lab-7", "label:tier>=2", "label:cost<2.5", "label:disk>=1TB", "label:" + strings.Repeat("K", 64) + "=v"},
			bad: map[string]error{
				"label:tier>=high": ErrBadValue, "label:=c": ErrBadKey, "label:a b=c": ErrBadKey,
				"label:" + strings.Repeat("K", 65) + "=v": ErrBadKey, "label:site=a b": ErrBadValue,
			},
		},
		{
			key:  "K (bare label)",
			good: []string{"site=aps", "site!=aps", "tier>=1", "a.b:c-d_e=f"},
			bad: map[string]error{
				"Site=aps": ErrBadKey, "site=a b": ErrBadValue, "tier>=high": ErrBadValue,
				strings.Repeat("k", 65) + "=1": ErrBadKey, "site": ErrNoOperator, "site<>x": ErrBadValue,
			},
		},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			for _, s := range tc.good {
				r, err := Parse(s)
				if err != nil {
					t.Errorf("Parse(%q): %v", s, err)
					continue
				}
				if r.String() != s {
					t.Errorf("Parse(%q).String() = %q", s, r.String())
				}
				covered[r.Key] = true
			}
			for s, want := range tc.bad {
				r, err := Parse(s)
				if !errors.Is(err, want) {
					t.Errorf("Parse(%q) = %+v, %v; want %v", s, r, err, want)
					continue
				}
				if k := fault.KindOf(err); k != fault.Invalid {
					t.Errorf("Parse(%q): kind %q, want invalid", s, k)
				}
				if !strings.Contains(err.Error(), strconv.Quote(s)) {
					t.Errorf("Parse(%q): message %q does not quote the requirement", s, err)
				}
			}
		})
	}
	for _, k := range KnownKeys() {
		if !covered[k] {
			t.Errorf("no good case of key %s", k)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Requirement
	}{
		{"count", "gpus>=1", Requirement{"gpus", OpGE, "1"}},
		{"bytes with binary unit", "memory>=64GiB", Requirement{"memory", OpGE, "64GiB"}},
		{"bytes with decimal unit", "gpu_memory>=80GB", Requirement{"gpu_memory", OpGE, "80GB"}},
		{"unit in lower case", "memory<1.5tib", Requirement{"memory", OpLT, "1.5tib"}},
		{"plain bytes", "memory>68719476736", Requirement{"memory", OpGT, "68719476736"}},
		{"version", "python>=3.10", Requirement{"python", OpGE, "3.10"}},
		{"version equal", "python=3.11", Requirement{"python", OpEq, "3.11"}},
		{"less or equal", "cpus<=16", Requirement{"cpus", OpLE, "16"}},
		{"not equal", "arch!=arm64", Requirement{"arch", OpNe, "arm64"}},
		{"dataset", "dataset=cryo-2026", Requirement{"dataset", OpEq, "cryo-2026"}},
		{"gpu model", "gpu_model=H200", Requirement{"gpu_model", OpEq, "H200"}},
		{"label form", "label:site=aps", Requirement{"label:site", OpEq, "aps"}},
		{"label key with capitals and slash", "label:Team/Owner=lab-7", Requirement{"label:Team/Owner", OpEq, "lab-7"}},
		{"label compared", "label:tier>=2", Requirement{"label:tier", OpGE, "2"}},
		{"bare label", "site=aps", Requirement{"site", OpEq, "aps"}},
		{"unknown key compared parses", "bogus>=3", Requirement{"bogus", OpGE, "3"}},
		{"colon key", "site:queue=gpu", Requirement{"site:queue", OpEq, "gpu"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
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

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
		msg  string // the whole message
	}{
		{"empty", "", ErrNoOperator, `require: requirement has no operator: "": want KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or KEY<N`},
		{"no operator", "gpus", ErrNoOperator, `require: requirement has no operator: "gpus": want KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or KEY<N`},
		{"no key", ">=1", ErrBadKey, `require: requirement key invalid: ">=1": key "": want 1 to 64 of [a-z0-9_.:-]`},
		{"capital key", "GPUs>=1", ErrBadKey, `require: requirement key invalid: "GPUs>=1": key "GPUs": want 1 to 64 of [a-z0-9_.:-]`},
		{"space in key", "gpu s>=1", ErrBadKey, `require: requirement key invalid: "gpu s>=1": key "gpu s": want 1 to 64 of [a-z0-9_.:-]`},
		{"long key", strings.Repeat("k", 65) + "=1", ErrBadKey, `want 1 to 64 of [a-z0-9_.:-]`},
		{"bad label key", "label:a b=c", ErrBadKey, `require: requirement key invalid: "label:a b=c": label key "a b": want 1 to 64 of [A-Za-z0-9_.:/-]`},
		{"empty label key", "label:=c", ErrBadKey, `label key "": want 1 to 64 of [A-Za-z0-9_.:/-]`},
		{"lone bang", "arch!arm64", ErrBadOperator, `require: requirement operator not allowed: "arch!arm64": ! must be followed by =`},
		{"comparison on a word key", "arch>=5", ErrBadOperator, `require: requirement operator not allowed: "arch>=5": arch takes only = and !=`},
		{"comparison on dataset", "dataset<x", ErrBadOperator, `require: requirement operator not allowed: "dataset<x": dataset takes only = and !=`},
		{"no value", "gpus>=", ErrBadValue, `require: requirement value invalid: "gpus>=": value must be 1 to 128 bytes`},
		{"long value", "site=" + strings.Repeat("v", 129), ErrBadValue, `value must be 1 to 128 bytes`},
		{"double equals", "arch==amd64", ErrBadValue, `require: requirement value invalid: "arch==amd64": value may hold only [A-Za-z0-9_.:+/@-]`},
		{"space in value", "site=a b", ErrBadValue, `value may hold only [A-Za-z0-9_.:+/@-]`},
		{"count by name", "gpus=many", ErrBadValue, `require: requirement value invalid: "gpus=many": gpus wants a whole number`},
		{"fractional count", "gpus>=1.5", ErrBadValue, `gpus wants a whole number`},
		{"count with unit", "cpus>=4GiB", ErrBadValue, `cpus wants a whole number`},
		{"negative", "cpus>=-1", ErrBadValue, `cpus wants a whole number`},
		{"reversed operator", "cpus=>4", ErrBadValue, `cpus wants a whole number`},
		{"bytes fraction without unit", "memory>=1.5", ErrBadValue, `require: requirement value invalid: "memory>=1.5": memory wants bytes: a whole number, or a number with a unit (KB MB GB TB, KiB MiB GiB TiB)`},
		{"unknown unit", "memory>=64G", ErrBadValue, `memory wants bytes`},
		{"bytes overflow", "memory>=99999999PiB", ErrBadValue, `memory wants bytes`},
		{"version by name", "python=abc", ErrBadValue, `require: requirement value invalid: "python=abc": python wants a dotted version such as 3.10`},
		{"version with letters", "python>=3.10a", ErrBadValue, `python wants a dotted version`},
		{"version with unit", "python>=3GB", ErrBadValue, `python wants a dotted version`},
		{"version trailing dot", "python>=3.", ErrBadValue, `python wants a dotted version`},
		{"label compared with word", "label:tier>=high", ErrBadValue, `require: requirement value invalid: "label:tier>=high": >= wants a number, a number with a unit, or a dotted version`},
		{"angle pair", "site<>x", ErrBadValue, `< wants a number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tc.in, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("message %q does not say %q", err, tc.msg)
			}
			if k := fault.KindOf(err); k != fault.Invalid {
				t.Fatalf("kind = %s, want invalid", k)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Fatalf("%v also wraps %v", err, s)
				}
			}
		})
	}
}

func TestParseAll(t *testing.T) {
	rs, err := ParseAll([]string{"gpus>=1", "dataset=cryo-2026"})
	if err != nil || len(rs) != 2 || rs[1].Key != KeyDataset {
		t.Fatalf("got %v, %v", rs, err)
	}
	if _, err := ParseAll([]string{"gpus>=1", "nope"}); !errors.Is(err, ErrNoOperator) {
		t.Fatalf("a bad second requirement: %v", err)
	}
	many := slices.Repeat([]string{"gpus>=1"}, MaxRequirements+1)
	if _, err := ParseAll(many); !errors.Is(err, ErrBadValue) || fault.KindOf(err) != fault.Invalid {
		t.Fatalf("too many requirements: %v", err)
	}
	if _, err := ParseAll(many[:MaxRequirements]); err != nil {
		t.Fatalf("as many as allowed: %v", err)
	}
	if rs, err := ParseAll(nil); err != nil || len(rs) != 0 {
		t.Fatalf("none: %v, %v", rs, err)
	}
}

func TestForm(t *testing.T) {
	tests := []struct {
		key   string
		form  Form
		label string // the label named, "" for none
	}{
		{"cpus", FormCount, ""},
		{"gpus", FormCount, ""},
		{"memory", FormBytes, ""},
		{"gpu_memory", FormBytes, ""},
		{"python", FormVersion, ""},
		{"arch", FormWord, ""},
		{"dataset", FormWord, ""},
		{"image", FormWord, ""},
		{"label:site", FormLabel, "site"},
		{"label:cpus", FormLabel, "cpus"},
		{"site", FormLabel, "site"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			r := Requirement{Key: tc.key, Op: OpEq, Value: "1"}
			f, err := r.Form()
			if err != nil || f != tc.form {
				t.Fatalf("Form() = %v, %v; want %v", f, err, tc.form)
			}
			k, ok := r.Label()
			if k != tc.label || ok != (tc.label != "") {
				t.Fatalf("Label() = %q, %v; want %q", k, ok, tc.label)
			}
		})
	}
	if _, err := (Requirement{Key: "Bad"}).Form(); err == nil {
		t.Fatal("Form of a bad key: no error")
	}
	if _, ok := (Requirement{Key: "label:"}).Label(); ok {
		t.Fatal("label: names a label")
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
		{"18446744073709551615", 1<<64 - 1},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseBytes(tc.in)
			if !ok || got != tc.want {
				t.Fatalf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, ok, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "GiB", "1.5", "64G", "-1", "1 GiB", "16384PiB", "18446744073709551616"} {
		if n, ok := ParseBytes(bad); ok {
			t.Errorf("ParseBytes(%q) = %d, want no parse", bad, n)
		}
	}
}

func TestVersions(t *testing.T) {
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
			a, ok1 := ParseVersion(tc.a)
			b, ok2 := ParseVersion(tc.b)
			if !ok1 || !ok2 {
				t.Fatal("does not parse")
			}
			if got := CompareVersions(a, b); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
	for in, want := range map[string]string{"3.13.0rc1": "3.13.0", "3.11.7+": "3.11.7", "3.": "3", "2": "2"} {
		v, ok := LeadingVersion(in)
		w, _ := ParseVersion(want)
		if !ok || !slices.Equal(v, w) {
			t.Errorf("LeadingVersion(%q) = %v, %v; want %v", in, v, ok, w)
		}
	}
	for _, bad := range []string{"", "rc1", ".3"} {
		if v, ok := LeadingVersion(bad); ok {
			t.Errorf("LeadingVersion(%q) = %v, want none", bad, v)
		}
	}
}

func TestNumberCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
		ok   bool
	}{
		{"2", "2", 0, true},
		{"2.5", "3", -1, true},
		{"1TB", "999GB", 1, true},
		{"1024", "1KiB", 0, true}, // a whole number counts bytes against a size
		{"1.5", "1KiB", 0, false}, // a version of two parts is no size
	}
	for _, tc := range tests {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			a, ok1 := ParseNumber(tc.a)
			b, ok2 := ParseNumber(tc.b)
			if !ok1 || !ok2 {
				t.Fatal("does not parse")
			}
			c, ok := a.Compare(b)
			if c != tc.want || ok != tc.ok {
				t.Fatalf("Compare = %d, %v; want %d, %v", c, ok, tc.want, tc.ok)
			}
		})
	}
	if _, ok := ParseNumber("high"); ok {
		t.Fatal("a word is a number")
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"x86_64": "amd64", "X86-64": "amd64", "x64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "riscv64": "riscv64"} {
		if got := NormalizeArch(in); got != want {
			t.Errorf("NormalizeArch(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"macOS": "darwin", "osx": "darwin", "Linux": "linux"} {
		if got := NormalizeOS(in); got != want {
			t.Errorf("NormalizeOS(%q) = %q, want %q", in, got, want)
		}
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		"busybox":                           "busybox:latest",
		"busybox:1.36":                      "busybox:1.36",
		"docker.io/library/busybox":         "busybox:latest",
		"docker.io/busybox:1":               "busybox:1",
		"index.docker.io/library/busybox:1": "busybox:1",
		"library/busybox":                   "busybox:latest",
		"docker.io/fxmesh-test/python:1":    "fxmesh-test/python:1",
		"localhost/fxmesh-test/python:1":    "fxmesh-test/python:1",
		"fxmesh-test/python:1":              "fxmesh-test/python:1",
		"127.0.0.1:5000/x/y":                "127.0.0.1:5000/x/y:latest",
		"127.0.0.1:5000/x/y:tag":            "127.0.0.1:5000/x/y:tag",
		"name@" + digest:                    "name@" + digest,
		"docker.io/library/name@" + digest:  "name@" + digest,
		"name:1@" + digest:                  "name:1@" + digest,
		"Reg.example/A:T":                   "Reg.example/A:T",
	} {
		if got := NormalizeImage(in); got != want {
			t.Errorf("NormalizeImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpCompares(t *testing.T) {
	for op, want := range map[Op]bool{OpEq: false, OpNe: false, OpGE: true, OpLE: true, OpGT: true, OpLT: true, "~": false} {
		if got := op.Compares(); got != want {
			t.Errorf("%q.Compares() = %v, want %v", op, got, want)
		}
	}
}

func TestParseModule(t *testing.T) {
	tests := []struct {
		name, in string
		want     Module
	}{
		{"name", "numpy", Module{Name: "numpy"}},
		{"normalised", "Scikit_Learn", Module{Name: "scikit-learn"}},
		{"runs of separators", "a._-b", Module{Name: "a-b"}},
		{"least version", "numpy>=1.26", Module{Name: "numpy", Min: []uint64{1, 26}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseModule(tc.in)
			if err != nil || got.Name != tc.want.Name || !slices.Equal(got.Min, tc.want.Min) {
				t.Fatalf("ParseModule(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "numpy>=", "numpy>=x", ">=1", "_x", "x_", "a b"} {
		if _, err := ParseModule(bad); err == nil {
			t.Errorf("ParseModule(%q) accepted", bad)
		}
	}
}

func TestModuleVersion(t *testing.T) {
	tests := []struct {
		in   string
		want []uint64
		ok   bool
	}{
		{"1.26.4", []uint64{1, 26, 4}, true},
		{"2.0.0rc1", []uint64{2, 0, 0}, true},
		{"1!2.0", []uint64{2, 0}, true},
		{"0.1.dev3+g1234", []uint64{0, 1}, true},
		{"v3.2", []uint64{3, 2}, true},
		{"unknown", nil, false},
		{"", nil, false},
	}
	for _, tc := range tests {
		got, ok := ModuleVersion(tc.in)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("ModuleVersion(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
