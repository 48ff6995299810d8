package exectest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	imagesOnce sync.Once
	imagesErr  error
)

// NeedDockerImages skips t unless Docker runs containers here, and builds
// the test images with the repository's scripts/build-test-images.sh,
// once per test binary, where they are absent.
func NeedDockerImages(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: container tests need it")
	}
	imagesOnce.Do(func() {
		if out, err := exec.Command("docker", "version").CombinedOutput(); err != nil {
			imagesErr = fmt.Errorf("docker is not usable: %v: %s", err, out)
			return
		}
		script, err := repoFile("scripts/build-test-images.sh")
		if err != nil {
			imagesErr = err
			return
		}
		if out, err := exec.Command(script).CombinedOutput(); err != nil {
			imagesErr = fmt.Errorf("the test images are absent and scripts/build-test-images.sh failed (run it by hand): %v\n%s", err, out)
		}
	})
	if imagesErr != nil {
		t.Skip(imagesErr)
	}
}

// repoFile is the path of name in the repository that holds the test's
// working directory: the first directory up from it with a go.mod.
func repoFile(name string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, name), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("exectest: no go.mod above the test's directory to find %s in", name)
		}
		dir = up
	}
}
