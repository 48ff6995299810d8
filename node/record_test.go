package node

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// startRecordNode starts a lone endpoint (no bootstrap) whose record tests
// read; probe is Options.Containers.
func startRecordNode(t *testing.T, cfg *Config, probe ContainerProbe) *Node {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Workers = 1
	n, err := Start(context.Background(), Options{Dir: t.TempDir(), Key: k, Config: cfg, Logger: testLogger(t), Containers: probe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// publishedSoftware decodes the node's current record's software.
func publishedSoftware(t *testing.T, n *Node) routing.Software {
	t.Helper()
	rec, err := routing.DecodeRecord(n.currentRecord(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return rec.Software
}

// fakeProbe answers what it is set to. It stands for the container
// runtime, which TestRecordDockerImages asks for real.
type fakeProbe struct {
	mu   sync.Mutex // guards info, err
	info ContainerInfo
	err  error
}

func (p *fakeProbe) set(info ContainerInfo, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info, p.err = info, err
}

func (p *fakeProbe) probe(ctx context.Context) (ContainerInfo, error) {
	if _, ok := ctx.Deadline(); !ok {
		return ContainerInfo{}, errors.New("probe asked without a deadline")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info, p.err
}

// TestRecordContainers: the record's runtimes, images and pulling are the
// probe's, bounded, asked afresh each time the record is signed (as each
// refresh does); a failing probe keeps the images listed before; the
// config's software never supplies them.
func TestRecordContainers(t *testing.T) {
	p := &fakeProbe{}
	p.set(ContainerInfo{Runtimes: []string{"docker"}, Images: []string{"b:1", "a:1", "odd name", "b:1", strings.Repeat("x", routing.MaxImageBytes+1)}, PullImages: true}, nil)
	cfg := &Config{Software: routing.Software{Python: []string{"3.11.7"}, Containers: []string{"apptainer"}}}
	n := startRecordNode(t, cfg, p.probe)
	sw := publishedSoftware(t, n)
	if !slices.Equal(sw.Containers, []string{"docker"}) || !slices.Equal(sw.Images, []string{"b:1", "a:1"}) || !sw.PullImages {
		t.Fatalf("published %+v; want runtime docker, images [b:1 a:1], pulling", sw)
	}
	// The workers' interpreter leads the list (TestWorkerFirst); the
	// config's versions follow.
	if !slices.Contains(sw.Python, "3.11.7") {
		t.Fatalf("python %q: the config's other software is lost", sw.Python)
	}
	n.mu.Lock()
	worker := n.workerPython.version
	n.mu.Unlock()
	if worker == "" || sw.Python[0] != worker {
		t.Errorf("python %q: want the workers' interpreter (%q) first", sw.Python, worker)
	}

	p.set(ContainerInfo{Runtimes: []string{"docker"}, Images: []string{"c:2"}}, nil)
	if err := n.signRecord(); err != nil {
		t.Fatal(err)
	}
	if sw = publishedSoftware(t, n); !slices.Equal(sw.Images, []string{"c:2"}) || sw.PullImages {
		t.Fatalf("after a refresh: %+v; want images [c:2], no pulling", sw)
	}

	p.set(ContainerInfo{Runtimes: []string{"docker"}}, errors.New("docker images: daemon busy"))
	if err := n.signRecord(); err != nil {
		t.Fatal(err)
	}
	if sw = publishedSoftware(t, n); !slices.Equal(sw.Containers, []string{"docker"}) || !slices.Equal(sw.Images, []string{"c:2"}) {
		t.Fatalf("after a failed listing: %+v; want the last images [c:2]", sw)
	}

	many := make([]string, routing.MaxImages+5)
	for i := range many {
		many[i] = fmt.Sprintf("img%03d:1", i)
	}
	p.set(ContainerInfo{Runtimes: []string{"docker"}, Images: many}, nil)
	if err := n.signRecord(); err != nil {
		t.Fatal(err)
	}
	if sw = publishedSoftware(t, n); len(sw.Images) != routing.MaxImages {
		t.Fatalf("%d images listed, %d published; want %d", len(many), len(sw.Images), routing.MaxImages)
	}

	// Images without a runtime run nowhere: the record lists neither.
	p.set(ContainerInfo{Images: []string{"a:1"}, PullImages: true}, nil)
	if err := n.signRecord(); err != nil {
		t.Fatal(err)
	}
	if sw = publishedSoftware(t, n); len(sw.Containers) != 0 || len(sw.Images) != 0 || sw.PullImages {
		t.Fatalf("without a runtime: %+v; want no containers", sw)
	}
}

// TestRecordNoRuntime: an endpoint whose containers: block says none lists
// no runtime, whatever its config's software says.
func TestRecordNoRuntime(t *testing.T) {
	cfg := &Config{Software: routing.Software{Containers: []string{"docker", "podman"}}, Containers: ContainersConfig{Runtime: RuntimeNone}}
	n := startRecordNode(t, cfg, nil)
	if sw := publishedSoftware(t, n); len(sw.Containers) != 0 || len(sw.Images) != 0 || sw.PullImages {
		t.Fatalf("published %+v; want no container runtime", sw)
	}
}

// TestRecordDockerImages: with the real Docker as its runtime, the record
// lists docker and its images, and an image imported after the start
// appears in the next record.
func TestRecordDockerImages(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "version").Run(); err != nil {
		t.Skipf("docker does not answer: %v", err)
	}
	n := startRecordNode(t, &Config{Containers: ContainersConfig{Runtime: RuntimeDocker}}, nil)
	if sw := publishedSoftware(t, n); !slices.Equal(sw.Containers, []string{"docker"}) || sw.PullImages {
		t.Fatalf("published %+v; want runtime docker, no pulling", sw)
	}
	name := fmt.Sprintf("fxmesh-test/node-record:%d", time.Now().UnixNano())
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	_ = tw.WriteHeader(&tar.Header{Name: "marker", Mode: 0o644, Size: 2})
	_, _ = tw.Write([]byte("x\n"))
	_ = tw.Close()
	imp := exec.CommandContext(ctx, "docker", "import", "-", name)
	imp.Stdin = &tarball
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rmi", name).CombinedOutput(); err != nil {
			t.Errorf("docker rmi %s: %v: %s", name, err, out)
		}
	})
	if err := n.signRecord(); err != nil {
		t.Fatal(err)
	}
	sw := publishedSoftware(t, n)
	if !slices.Contains(sw.Images, name) && len(sw.Images) < routing.MaxImages {
		t.Fatalf("after importing %s: images %q", name, sw.Images)
	}
}

// TestRecordModulesAndAllowlist: the record lists the Python modules that
// the pool's interpreter imports, listed at start (a distribution on the
// PYTHONPATH the workers inherit included) and saved in
// python-modules.json, and the function allowlist; an allowlist too long
// for a record is advertised as unlisted.
func TestRecordModulesAndAllowlist(t *testing.T) {
	site := exectest.SharedDir(t)
	dist := filepath.Join(site, "fxmesh_node_fake-0.4.dist-info")
	if err := os.Mkdir(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, "METADATA"), []byte("Metadata-Version: 2.1\nName: FXMesh_Node_Fake\nVersion: 0.4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", site)
	allow := []string{"bafyfn", "12D3KooWowner/add"}
	n := startRecordNode(t, &Config{Functions: allow}, nil)
	rec, err := routing.DecodeRecord(n.currentRecord(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := routing.FindModule(rec.Software.Modules, "fxmesh-node-fake"); !ok || m.Version != "0.4" {
		t.Fatalf("record lists %d modules, without fxmesh-node-fake 0.4: %v", len(rec.Software.Modules), rec.Software.Modules)
	}
	if !slices.Equal(rec.Functions, allow) || rec.FunctionsUnlisted {
		t.Fatalf("record's allowlist %q (unlisted %v), want %q", rec.Functions, rec.FunctionsUnlisted, allow)
	}
	saved, err := readModules(n.dir)
	if err != nil || !slices.Equal(saved, rec.Software.Modules) {
		t.Fatalf("python-modules.json holds %d modules (%v), the record %d", len(saved), err, len(rec.Software.Modules))
	}

	long := make([]string, routing.MaxFunctionEntries+1)
	for i := range long {
		long[i] = fmt.Sprintf("fn%d", i)
	}
	if listed, unlisted := advertisedFunctions(long); listed != nil || !unlisted {
		t.Fatalf("allowlist of %d entries advertised as %d, unlisted %v", len(long), len(listed), unlisted)
	}
	if listed, unlisted := advertisedFunctions([]string{"has space"}); listed != nil || !unlisted {
		t.Fatalf("allowlist with an entry a record cannot hold advertised as %q, unlisted %v", listed, unlisted)
	}
	if listed, unlisted := advertisedFunctions(nil); listed != nil || unlisted {
		t.Fatalf("no allowlist advertised as %q, unlisted %v", listed, unlisted)
	}
}

// TestRefreshModulesFallsBack: when the interpreter cannot list its
// modules, the record keeps those python-modules.json holds (fxnode init
// wrote them, or the last start); a list that works replaces the file's.
func TestRefreshModulesFallsBack(t *testing.T) {
	dir := t.TempDir()
	saved := []routing.Module{{Name: "from-init", Version: "1.0"}}
	if err := writeModules(dir, saved); err != nil {
		t.Fatal(err)
	}
	n := &Node{ctx: context.Background(), dir: dir, log: testLogger(t)}
	n.refreshModules(filepath.Join(dir, "no-such-python"), false)
	if !slices.Equal(n.modules, saved) {
		t.Fatalf("after a failed listing the record has %v, want the file's %v", n.modules, saved)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	n.refreshModules(python, false)
	if _, ok := routing.FindModule(n.modules, "from-init"); ok || n.modules == nil {
		t.Fatalf("after a listing that worked the record has %v", n.modules)
	}
	if got, err := readModules(dir); err != nil || !slices.Equal(got, n.modules) {
		t.Fatalf("python-modules.json holds %v (%v), the record %v", got, err, n.modules)
	}
}

// TestWorkerFirst: the workers' interpreter leads software.python, once,
// whether it was detected or not (the fallback), and the config's lists
// are left as they were.
func TestWorkerFirst(t *testing.T) {
	versions, paths := []string{"3.12.1", "3.11.2"}, []string{"/root/.pyenv/versions/3.12.1/bin/python3.12", "/usr/bin/python3.11"}
	for _, c := range []struct {
		name, version, path string
		wantV, wantP        []string
	}{
		{"detected second", "3.11.2", "/usr/bin/python3.11", []string{"3.11.2", "3.12.1"}, []string{"/usr/bin/python3.11", "/root/.pyenv/versions/3.12.1/bin/python3.12"}},
		{"detected first", "3.12.1", "/root/.pyenv/versions/3.12.1/bin/python3.12", versions, paths},
		{"not detected", "3.10.4", "/opt/py/bin/python3.10", []string{"3.10.4", "3.12.1", "3.11.2"}, append([]string{"/opt/py/bin/python3.10"}, paths...)},
		{"unknown", "", "", versions, paths},
	} {
		gotV, gotP := workerFirst(versions, paths, c.version, c.path)
		if !slices.Equal(gotV, c.wantV) || !slices.Equal(gotP, c.wantP) {
			t.Errorf("%s: %v %v, want %v %v", c.name, gotV, gotP, c.wantV, c.wantP)
		}
	}
	if gotV, gotP := workerFirst([]string{"3.12.1"}, nil, "3.11.2", "/usr/bin/python3.11"); !slices.Equal(gotV, []string{"3.11.2", "3.12.1"}) || gotP != nil {
		t.Errorf("without paths: %v %v, want the version first and no paths", gotV, gotP)
	}
	if versions[0] != "3.12.1" || paths[0] != "/root/.pyenv/versions/3.12.1/bin/python3.12" {
		t.Errorf("workerFirst changed the slices it was given: %v %v", versions, paths)
	}
}
