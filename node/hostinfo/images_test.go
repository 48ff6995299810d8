package hostinfo

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/require"
	"github.com/fxmesh/fxmesh/routing"
)

func TestParseImages(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	long := "registry.example/" + strings.Repeat("x", routing.MaxImageBytes)
	var many strings.Builder
	for i := range routing.MaxImages + 10 {
		fmt.Fprintf(&many, "img%03d\t1\t<none>\n", i)
	}
	tests := []struct {
		name string
		out  string
		want []string
	}{
		{"none", "", nil},
		{"docker, imported images", "fxmesh-test/busybox\t1\t<none>\nfxmesh-test/python\t1\t<none>\n",
			[]string{"fxmesh-test/busybox:1", "fxmesh-test/python:1"}},
		{"untagged left out", "<none>\t<none>\t<none>\nbusybox\t<none>\t<none>\nbusybox\tlatest\t<none>\n", []string{"busybox:latest"}},
		{"digests after tags", "busybox\tlatest\t" + digest + "\nalpine\t3\t<none>\n",
			[]string{"alpine:3", "busybox:latest", "busybox@" + digest}},
		{"podman names, CRLF", "localhost/fxmesh-test/python\t1\t" + digest + "\r\ndocker.io/library/busybox\tlatest\t\r\n",
			[]string{"docker.io/library/busybox:latest", "localhost/fxmesh-test/python:1", "localhost/fxmesh-test/python@" + digest}},
		{"duplicates once", "a\t1\t<none>\na\t1\t<none>\n", []string{"a:1"}},
		{"too long or odd left out", long + "\t1\t<none>\nodd name\t1\t<none>\nok\t1\n", []string{"ok:1"}},
		{"garbage lines skipped", "no tabs here\n\t\t\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseImages([]byte(tc.out)); !slices.Equal(got, tc.want) {
				t.Fatalf("ParseImages = %q, want %q", got, tc.want)
			}
		})
	}
	got := ParseImages([]byte(many.String()))
	if len(got) != routing.MaxImages || got[0] != "img000:1" {
		t.Fatalf("%d images listed: %d kept, first %q; want %d", routing.MaxImages+10, len(got), got[0], routing.MaxImages)
	}
}

// TestImagesRuns: Images runs the runtime found on PATH with a deadline,
// and says when it is missing or fails. The host is fakeHost's (the seam
// every Detect test uses); TestImagesDocker asks the real Docker.
func TestImagesRuns(t *testing.T) {
	h := &fakeHost{t: t, paths: map[string]string{"docker": "/usr/bin/docker"},
		runs: map[string]fakeRun{"/usr/bin/docker": {out: "busybox\tlatest\t<none>\n"}}}
	got, err := Images(context.Background(), Options{LookPath: h.LookPath, Run: h.Run}, "docker")
	if err != nil || !slices.Equal(got, []string{"busybox:latest"}) {
		t.Fatalf("Images = %q, %v", got, err)
	}
	if want := "/usr/bin/docker images --format " + imagesFormat; len(h.ran) != 1 || h.ran[0] != want {
		t.Fatalf("ran %q, want %q", h.ran, want)
	}
	if _, err := Images(context.Background(), Options{LookPath: h.LookPath, Run: h.Run}, "podman"); err == nil || !strings.Contains(err.Error(), "podman is not on PATH") {
		t.Fatalf("podman missing: %v", err)
	}
	h.runs["/usr/bin/docker"] = fakeRun{err: errors.New("Cannot connect to the Docker daemon")}
	if _, err := Images(context.Background(), Options{LookPath: h.LookPath, Run: h.Run}, "docker"); err == nil || !strings.Contains(err.Error(), "Cannot connect") {
		t.Fatalf("docker failing: %v", err)
	}
}

// TestImagesDocker imports an image into the real Docker under a fresh
// name and finds it listed, then removes it and finds it gone.
func TestImagesDocker(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "version").Run(); err != nil {
		t.Skipf("docker does not answer: %v", err)
	}
	name := fmt.Sprintf("fxmesh-test/hostinfo-images:%d", time.Now().UnixNano())
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
	removed := false
	remove := func() {
		if !removed {
			removed = true
			if out, err := exec.Command("docker", "rmi", name).CombinedOutput(); err != nil {
				t.Errorf("docker rmi %s: %v: %s", name, err, out)
			}
		}
	}
	defer remove()
	got, err := Images(ctx, Options{}, "docker")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, name) && len(got) < routing.MaxImages {
		t.Fatalf("Images = %q, without %s, imported just now", got, name)
	}
	remove()
	if got, err = Images(ctx, Options{}, "docker"); err != nil || slices.Contains(got, name) {
		t.Fatalf("after docker rmi: Images = %q, %v", got, err)
	}
}

// FuzzParseImages: whatever a runtime prints, the names kept are ones a
// record may hold, at most routing.MaxImages, once each.
func FuzzParseImages(f *testing.F) {
	f.Add("fxmesh-test/busybox\t1\t<none>\n<none>\t<none>\t<none>\n")
	f.Add("busybox\tlatest\tsha256:00ff\r\nodd name\t1\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		got := ParseImages([]byte(out))
		if len(got) > routing.MaxImages {
			t.Fatalf("%d images", len(got))
		}
		seen := map[string]bool{}
		for _, im := range got {
			if seen[im] || len(im) > routing.MaxImageBytes || !require.ValidWord(im) {
				t.Fatalf("image %q kept (twice: %v)", im, seen[im])
			}
			seen[im] = true
		}
	})
}
