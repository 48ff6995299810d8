package container

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// startRegistry starts Debian's docker-registry on a free loopback port,
// with a config file and storage of the test's own, and returns its
// address once it listens. It stops with the test.
func startRegistry(t *testing.T, bin string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "config.yml")
	yml := fmt.Sprintf("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(bin, "serve", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// It says when it listens; the log goes on to the test's log.
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("docker-registry did not listen on %s within 30s", addr)
	}
	return addr
}

// countingCLI is a CLI runtime that counts its pulls.
type countingCLI struct {
	*CLI
	pulls atomic.Int32
}

func (c *countingCLI) Pull(ctx context.Context, image string) error {
	c.pulls.Add(1)
	return c.CLI.Pull(ctx, image)
}

// TestPull: with pull off an image only a registry has is not found; with
// it on, tasks that find it absent pull it once and run in it; an image the
// registry lacks, a registry that is not there, or one that never answers,
// is a specific error. On each runtime, from one registry.
func TestPull(t *testing.T) {
	bin, err := osexec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry (Debian's docker-registry package) is not installed: the pull test serves images from it on loopback")
	}
	needImages(t, Docker())
	addr := startRegistry(t, bin)
	image := fmt.Sprintf("%s/fxmesh-test/pulled:%d", addr, os.Getpid())
	docker := func(args ...string) {
		t.Helper()
		if out, err := osexec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v: %s", args[0], err, out)
		}
	}
	docker("tag", bbImage, image)
	t.Cleanup(func() { osexec.Command("docker", "rmi", image).Run() })
	docker("push", "--quiet", image)
	docker("rmi", image)
	forRuntimes(t, func(t *testing.T, rt *CLI) {
		if rt.Program == "podman" {
			// The test's registry speaks plain HTTP.
			c := *rt
			c.PullArgs = []string{"--tls-verify=false"}
			rt = &c
			t.Cleanup(func() { osexec.Command("podman", "rmi", image).Run() })
		}
		testPull(t, rt, addr, image)
	})
}

func testPull(t *testing.T, cli *CLI, addr, image string) {
	fn := shFn("marker", "cat /fxmesh/marker")
	fn.Container = image

	off := newExec(t, Config{Runtime: cli})
	defer off.Close()
	if _, err := off.Execute(context.Background(), exec.Task{Function: fn}); !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), image) {
		t.Fatalf("pull off: %v (kind %q), want not-found naming %s", err, fault.KindOf(err), image)
	}

	rt := &countingCLI{CLI: cli}
	on := newExec(t, Config{Runtime: rt, Pull: true, PullTimeout: time.Minute, Workers: 3, PerImage: 1})
	defer on.Close()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := on.Execute(context.Background(), exec.Task{Function: fn})
			if err != nil || r.Error != nil || r.Stdout != marker {
				t.Errorf("pull on: err %v, Result.Error %+v, Stdout %q", err, r.Error, r.Stdout)
			}
		}()
	}
	wg.Wait()
	if r := run(t, on, exec.Task{Function: fn}); r.Error != nil || r.Stdout != marker {
		t.Errorf("after the pull: Result.Error %+v, Stdout %q", r.Error, r.Stdout)
	}
	if n := rt.pulls.Load(); n != 1 {
		t.Errorf("%d pulls, want one", n)
	}

	absent := fn
	absent.Container = addr + "/fxmesh-test/absent:1"
	_, err := on.Execute(context.Background(), exec.Task{Function: absent})
	if !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), absent.Container) {
		t.Errorf("an image the registry lacks: %v (kind %q), want not-found naming it", err, fault.KindOf(err))
	}
	t.Logf("absent: %v", err)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	nowhere := fn
	nowhere.Container = closed + "/fxmesh-test/pulled:1"
	_, err = on.Execute(context.Background(), exec.Task{Function: nowhere})
	if !fault.Is(err, fault.Unavailable) || !strings.Contains(err.Error(), nowhere.Container) {
		t.Errorf("no registry: %v (kind %q), want unavailable naming the image", err, fault.KindOf(err))
	}
	t.Logf("no registry: %v", err)

	// A registry that accepts connections and never answers: the pull
	// ends at PullTimeout.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	short := newExec(t, Config{Runtime: cli, Pull: true, PullTimeout: 500 * time.Millisecond})
	defer short.Close()
	hang := fn
	hang.Container = mute.Addr().String() + "/fxmesh-test/pulled:1"
	start := time.Now()
	_, err = short.Execute(context.Background(), exec.Task{Function: hang})
	if !fault.Is(err, fault.Timeout) || !strings.Contains(err.Error(), "timed out after 500ms") {
		t.Errorf("a registry that never answers: %v (kind %q), want timeout", err, fault.KindOf(err))
	}
	t.Logf("mute registry: %v after %v", err, time.Since(start))
	if n := len(on.Containers()); n != 1 {
		t.Errorf("%d containers, want the one that ran", n)
	}
}

// TestPullConfig: pull needs a runtime that can pull.
func TestPullConfig(t *testing.T) {
	_, err := New(Config{Runtime: noPull{Docker()}, Pull: true})
	if _, lerr := osexec.LookPath("docker"); lerr != nil {
		t.Skip("docker is not installed")
	}
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "cannot pull") {
		t.Errorf("New: %v, want invalid: cannot pull", err)
	}
}

// noPull is a CLI runtime with its Pull hidden.
type noPull struct{ cli *CLI }

func (n noPull) Name() string                                          { return n.cli.Name() }
func (n noPull) Check(ctx context.Context) error                       { return n.cli.Check(ctx) }
func (n noPull) HasImage(ctx context.Context, image string) error      { return n.cli.HasImage(ctx, image) }
func (n noPull) Command(s Spec) *osexec.Cmd                            { return n.cli.Command(s) }
func (n noPull) State(ctx context.Context, name string) (State, error) { return n.cli.State(ctx, name) }
func (n noPull) Remove(ctx context.Context, names ...string) error {
	return n.cli.Remove(ctx, names...)
}
