package hostinfo

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/routing"
)

// fakeRun is what a program prints, or how it fails, on the fake host.
type fakeRun struct {
	out string
	err error
}

// fakeHost is a host described by the PATH lookups and program runs it
// answers; Detect goes through its LookPath and Run.
type fakeHost struct {
	t     *testing.T
	paths map[string]string  // name → where LookPath finds it
	runs  map[string]fakeRun // path → its output
	ran   []string           // each run, "path arg..."; Detect runs one at a time
}

func (h *fakeHost) LookPath(name string) (string, error) {
	if p, ok := h.paths[name]; ok {
		return p, nil
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

func (h *fakeHost) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	h.ran = append(h.ran, strings.Join(append([]string{name}, args...), " "))
	if _, ok := ctx.Deadline(); !ok {
		h.t.Errorf("run %s without a deadline", name)
	}
	r, ok := h.runs[name]
	if !ok {
		h.t.Errorf("run of %s, which the test did not expect", name)
		return nil, errors.New("unexpected")
	}
	return []byte(r.out), r.err
}

// testLogger routes logs to t.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// writeFile writes content at dir/rel, making its directories.
func writeFile(t *testing.T, dir, rel, content string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// symlink makes dir/rel a link to target.
func symlink(t *testing.T, dir, rel, target string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	return p
}

const probe = "-c " + pythonProbe

func TestDetect(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake hosts use symbolic links")
	}
	// hostCase builds a fake host under dir and says what Detect should
	// make of it and which programs it should run.
	type hostCase struct {
		name  string
		build func(t *testing.T, dir string) (host *fakeHost, proc map[string]string, hw routing.Hardware, sw routing.Software, ran []string)
	}
	base := routing.Hardware{CPUs: runtime.NumCPU(), Arch: runtime.GOARCH, OS: runtime.GOOS}
	tests := []hostCase{
		{
			name: "gpu host with pyenv, slurm and containers",
			build: func(t *testing.T, dir string) (*fakeHost, map[string]string, routing.Hardware, routing.Software, []string) {
				py312 := writeFile(t, dir, "opt/python3.12/bin/python3.12", "#!fake")
				py3 := symlink(t, dir, "bin/python3", "../opt/python3.12/bin/python3.12")
				py311 := writeFile(t, dir, "pyenv/versions/3.11.7/bin/python3.11", "#!fake")
				symlink(t, dir, "pyenv/versions/3.11.7/bin/python3", "python3.11")
				pyenv311 := filepath.Join(dir, "pyenv/versions/3.11.7/bin/python3")
				shimPython := writeFile(t, dir, "pyenv/shims/python", "#!/bin/sh")
				shim38 := writeFile(t, dir, "pyenv/shims/python3.8", "#!/bin/sh")
				shim311 := writeFile(t, dir, "pyenv/shims/python3.11", "#!/bin/sh")
				py310 := writeFile(t, dir, "bin/python3.10", "#!fake")
				py313 := filepath.Join(dir, "usr/bin/python3.13") // cannot be resolved: kept as it is
				smi := filepath.Join(dir, "bin/nvidia-smi")
				host := &fakeHost{
					t: t,
					paths: map[string]string{
						"python3":     py3,
						"python":      shimPython,
						"python3.8":   shim38,
						"python3.10":  py310,
						"python3.11":  shim311,
						"python3.12":  py312, // the same interpreter as python3
						"python3.13":  py313,
						"nvidia-smi":  smi,
						"lscpu":       filepath.Join(dir, "bin/lscpu"), // not needed: cpuinfo names the model
						"docker":      filepath.Join(dir, "bin/docker"),
						"apptainer":   filepath.Join(dir, "bin/apptainer"),
						"sbatch":      filepath.Join(dir, "bin/sbatch"),
						"qsub":        filepath.Join(dir, "bin/qsub"),
						"python2.7":   filepath.Join(dir, "bin/python2.7"), // not looked for
						"singularity": "",                                  // LookPath without a path: not found
					},
					runs: map[string]fakeRun{
						smi:        {out: string(readTestdata(t, "query-name-memory.csv"))},
						py312:      {out: py312 + "\n3.12.1\n"},
						shimPython: {out: pyenv311 + "\n3.11.7\n"},
						shim38:     {err: errors.New("exit status 127: pyenv: python3.8: command not found")},
						py310:      {out: "Segmentation fault\n"},
						shim311:    {out: pyenv311 + "\n3.11.7\n"},
						py313:      {out: py313 + "\n3.13.0\n"},
					},
				}
				proc := map[string]string{"cpuinfo": x86Cpuinfo, "meminfo": realMeminfo(t)}
				hw := base
				hw.CPUModel = "Intel(R) Xeon(R) Processor"
				hw.MemoryBytes = 131981020 * 1024
				hw.GPUs = []routing.GPU{{Model: "NVIDIA H200", MemoryBytes: 143771 * mib}}
				sw := routing.Software{
					Python:      []string{"3.12.1", "3.11.7", "3.13.0"},
					PythonPaths: []string{py312, py311, py313},
					Containers:  []string{"docker", "apptainer"},
					Scheduler:   "slurm",
				}
				ran := []string{
					smi + " --query-gpu=name,memory.total --format=csv,noheader,nounits",
					py312 + " " + probe,
					shimPython + " " + probe,
					shim38 + " " + probe,
					py310 + " " + probe,
					shim311 + " " + probe,
					py313 + " " + probe,
				}
				return host, proc, hw, sw, ran
			},
		},
		{
			name: "bare host",
			build: func(t *testing.T, dir string) (*fakeHost, map[string]string, routing.Hardware, routing.Software, []string) {
				hw := base
				hw.GPUs = []routing.GPU{}
				sw := routing.Software{Python: []string{}, PythonPaths: []string{}, Containers: []string{}}
				return &fakeHost{t: t}, nil, hw, sw, nil
			},
		},
		{
			name: "arm64 host with lscpu, pbs and a failing nvidia-smi",
			build: func(t *testing.T, dir string) (*fakeHost, map[string]string, routing.Hardware, routing.Software, []string) {
				lscpu := filepath.Join(dir, "bin/lscpu")
				smi := filepath.Join(dir, "bin/nvidia-smi")
				py3 := writeFile(t, dir, "usr/bin/python3.9", "#!fake")
				host := &fakeHost{
					t: t,
					paths: map[string]string{
						"lscpu":       lscpu,
						"nvidia-smi":  smi,
						"python3":     py3,
						"podman":      filepath.Join(dir, "bin/podman"),
						"singularity": filepath.Join(dir, "bin/singularity"),
						"qsub":        filepath.Join(dir, "bin/qsub"),
					},
					runs: map[string]fakeRun{
						lscpu: {out: "Architecture:  aarch64\nVendor ID:     ARM\nModel name:    Neoverse-N1\nCPU(s):        4\n"},
						smi:   {out: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", err: errors.New("exit status 9")},
						py3:   {out: py3 + "\n3.9.2\n"},
					},
				}
				proc := map[string]string{"cpuinfo": arm64Cpuinfo, "meminfo": "MemTotal:        8039808 kB\nMemFree:         7000000 kB\n"}
				hw := base
				hw.CPUModel = "Neoverse-N1"
				hw.MemoryBytes = 8039808 * 1024
				hw.GPUs = []routing.GPU{}
				sw := routing.Software{
					Python:      []string{"3.9.2"},
					PythonPaths: []string{py3},
					Containers:  []string{"podman", "singularity"},
					Scheduler:   "pbs",
				}
				ran := []string{lscpu, smi + " --query-gpu=name,memory.total --format=csv,noheader,nounits", py3 + " " + probe}
				return host, proc, hw, sw, ran
			},
		},
		{
			name: "broken tools",
			build: func(t *testing.T, dir string) (*fakeHost, map[string]string, routing.Hardware, routing.Software, []string) {
				lscpu := filepath.Join(dir, "bin/lscpu")
				smi := filepath.Join(dir, "bin/nvidia-smi")
				shim := writeFile(t, dir, "asdf/shims/python3", "#!/bin/sh")
				host := &fakeHost{
					t:     t,
					paths: map[string]string{"lscpu": lscpu, "nvidia-smi": smi, "python3": shim},
					runs: map[string]fakeRun{
						lscpu: {err: errors.New("signal: killed")},
						smi:   {out: "NVIDIA GH200 480GB, [N/A]\n"},
						shim:  {out: shim + "\n3.12.1\n"}, // claims to be itself
					},
				}
				proc := map[string]string{"cpuinfo": "garbage", "meminfo": "MemTotal: lots\n"}
				hw := base
				hw.GPUs = []routing.GPU{}
				sw := routing.Software{Python: []string{}, PythonPaths: []string{}, Containers: []string{}}
				ran := []string{lscpu, smi + " --query-gpu=name,memory.total --format=csv,noheader,nounits", shim + " " + probe}
				return host, proc, hw, sw, ran
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			host, proc, wantHW, wantSW, wantRan := tc.build(t, dir)
			procRoot := filepath.Join(dir, "proc")
			if err := os.MkdirAll(procRoot, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, content := range proc {
				writeFile(t, procRoot, name, content)
			}
			hw, sw := Detect(context.Background(), Options{
				LookPath: host.LookPath,
				Run:      host.Run,
				ProcRoot: procRoot,
				Logger:   testLogger(t),
			})
			if !reflect.DeepEqual(hw, wantHW) {
				t.Errorf("hardware:\n got %+v\nwant %+v", hw, wantHW)
			}
			if !reflect.DeepEqual(sw, wantSW) {
				t.Errorf("software:\n got %+v\nwant %+v", sw, wantSW)
			}
			if !slices.Equal(host.ran, wantRan) {
				t.Errorf("ran:\n got %q\nwant %q", host.ran, wantRan)
			}
		})
	}
}

// TestDetectRealHost runs Detect on the machine running the test.
func TestDetectRealHost(t *testing.T) {
	ctx := t.Context()
	hw, sw := Detect(ctx, Options{Logger: testLogger(t)})
	t.Logf("hardware: %+v", hw)
	t.Logf("software: %+v", sw)

	if hw.CPUs != runtime.NumCPU() {
		t.Errorf("CPUs = %d, want %d", hw.CPUs, runtime.NumCPU())
	}
	if hw.Arch != runtime.GOARCH || hw.OS != runtime.GOOS {
		t.Errorf("arch, os = %s, %s; want %s, %s", hw.Arch, hw.OS, runtime.GOARCH, runtime.GOOS)
	}
	if runtime.GOOS == "linux" && hw.MemoryBytes == 0 {
		t.Error("MemoryBytes = 0 on linux")
	}
	if _, err := exec.LookPath("nvidia-smi"); err == nil {
		if len(hw.GPUs) == 0 {
			t.Error("nvidia-smi is on PATH but no GPU was found")
		}
		for _, g := range hw.GPUs {
			if g.Model == "" || g.MemoryBytes == 0 {
				t.Errorf("GPU %+v lacks a model or memory", g)
			}
		}
	}

	if len(sw.Python) != len(sw.PythonPaths) {
		t.Fatalf("%d Python versions for %d paths", len(sw.Python), len(sw.PythonPaths))
	}
	for i, p := range sw.PythonPaths {
		if isShim(p) || !filepath.IsAbs(p) {
			t.Errorf("PythonPaths[%d] = %s, want the absolute path of a real interpreter", i, p)
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			t.Errorf("PythonPaths[%d] = %s: not a file: %v", i, p, err)
		}
		if !isVersion(sw.Python[i]) {
			t.Errorf("Python[%d] = %q, want N.N.N", i, sw.Python[i])
		}
	}
	if sorted := slices.Sorted(slices.Values(sw.PythonPaths)); len(slices.Compact(sorted)) != len(sw.PythonPaths) {
		t.Errorf("PythonPaths has duplicates: %q", sw.PythonPaths)
	}

	python3, err := exec.LookPath("python3")
	if err != nil {
		t.Log("no python3 on PATH; skipping its check")
		return
	}
	// python3 comes first; ask it directly which interpreter it is.
	out, err := exec.CommandContext(ctx, python3, "-c", pythonProbe).Output()
	if err != nil {
		t.Fatalf("python3 -c: %v", err)
	}
	exe, version, err := parsePythonProbe(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.PythonPaths) == 0 || sw.PythonPaths[0] != want || sw.Python[0] != version {
		t.Fatalf("python3 (%s) is %s %s, want it first in %q %q", python3, want, version, sw.PythonPaths, sw.Python)
	}
}
