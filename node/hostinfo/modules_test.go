package hostinfo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

func TestParseModules(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []routing.Module
		dropped int
	}{
		{"empty", "", nil, 0},
		{"sorted and normalised", "requests\t2.31.0\nScikit_Learn\t1.4.2\nnumpy\t1.26.4\n",
			[]routing.Module{{Name: "numpy", Version: "1.26.4"}, {Name: "requests", Version: "2.31.0"}, {Name: "scikit-learn", Version: "1.4.2"}}, 0},
		{"first of a name wins", "numpy\t2.0.0\nNumPy\t1.26.4\n", []routing.Module{{Name: "numpy", Version: "2.0.0"}}, 0},
		{"bad names skipped", "\t1\nnum py\t1\n-x\t1\nok\t1\r\n", []routing.Module{{Name: "ok", Version: "1"}}, 0},
		{"odd version kept as none", "a\t1 2\nb\t" + strings.Repeat("9", routing.MaxModuleVersion+1) + "\nc\n",
			[]routing.Module{{Name: "a"}, {Name: "b"}, {Name: "c"}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, dropped := ParseModules([]byte(tc.out))
			if !slices.Equal(got, tc.want) || dropped != tc.dropped {
				t.Fatalf("ParseModules = %v, %d dropped; want %v, %d", got, dropped, tc.want, tc.dropped)
			}
		})
	}
	var sb strings.Builder
	for i := range routing.MaxModules + 10 {
		fmt.Fprintf(&sb, "m%05d\t1.0\n", i)
	}
	got, dropped := ParseModules([]byte(sb.String()))
	if len(got) != routing.MaxModules || dropped != 10 || got[len(got)-1].Name != fmt.Sprintf("m%05d", routing.MaxModules-1) {
		t.Fatalf("over the count: kept %d, dropped %d", len(got), dropped)
	}
}

// fakeDistribution writes a distribution's metadata, as pip installs it,
// into site: NAME-VERSION.dist-info/METADATA.
func fakeDistribution(t *testing.T, site, name, version string) {
	t.Helper()
	dir := filepath.Join(site, name+"-"+version+".dist-info")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)
	if err := os.WriteFile(filepath.Join(dir, "METADATA"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestModulesRealPython runs the probe with the host's python3: a
// distribution in a directory on PYTHONPATH is listed, with its version,
// and one that is not on it is not.
func TestModulesRealPython(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	site := t.TempDir()
	fakeDistribution(t, site, "fxmesh_fake_dist", "1.2.3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	without, _, err := Modules(ctx, Options{Timeout: 30 * time.Second}, python, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := routing.FindModule(without, "fxmesh-fake-dist"); ok {
		t.Fatalf("listed without PYTHONPATH: %v", without)
	}
	t.Setenv("PYTHONPATH", site)
	with, _, err := Modules(ctx, Options{Timeout: 30 * time.Second}, python, true)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := routing.FindModule(with, "fxmesh_fake_dist"); !ok || m.Version != "1.2.3" {
		t.Fatalf("Modules with PYTHONPATH=%s: %v", site, with)
	}
}

// FuzzParseModules: whatever an interpreter prints, the modules kept are a
// list a signed record may hold.
func FuzzParseModules(f *testing.F) {
	f.Add("numpy\t1.26.4\nScikit_Learn\t1.4.2\nnumpy\t2\n")
	f.Add("\t\n-x\t1\nodd name\t1 2\r\n")
	f.Add("")
	k, err := identity.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, out string) {
		got, _ := ParseModules([]byte(out))
		rec := &routing.EndpointRecord{ID: k.ID().String(), Seq: 1, Updated: 1, Expires: 2, Software: routing.Software{Modules: got}}
		if _, err := routing.SignRecord(k, rec); err != nil {
			t.Fatalf("%d modules a record cannot hold: %v", len(got), err)
		}
	})
}
