package sim

import (
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node"
	"github.com/fxmesh/fxmesh/routing"
)

// The images of scripts/build-test-images.sh, and the marker each holds at
// /fxmesh/marker (and the host does not).
const (
	pyImage     = "fxmesh-test/python:1"
	bbImage     = "fxmesh-test/busybox:1"
	imageMarker = "fxmesh test image\n"
)

// boxSource reads the image's marker, writes a file on a path it is
// given, and reports its host name, waiting when asked.
const boxSource = `
import os, socket, time

def marker():
    try:
        with open("/fxmesh/marker") as f:
            return f.read()
    except OSError as e:
        return type(e).__name__

def touch(path):
    with open(path, "w") as f:
        f.write("ran here")
    return "touched"

def host(flag, seconds):
    if flag:
        with open(flag, "w") as f:
            f.write("started")
    time.sleep(seconds)
    return socket.gethostname()
`

// newSharedFixture is a mesh whose endpoint runs containers on Docker,
// one per image, with a host directory, which it returns, mounted
// writable at /shared. It skips without the test images.
func newSharedFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	exectest.NeedDockerImages(t)
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o777); err != nil { // the function runs as nobody
		t.Fatal(err)
	}
	f := newFixture(t, func(cfg *node.Config) {
		cfg.Containers = node.ContainersConfig{Runtime: node.RuntimeDocker, PerImage: 1,
			Mounts: []node.MountConfig{{Host: shared, Container: "/shared", Writable: true}}}
	})
	return f, shared
}

// registerFunction publishes fn, public, as f.owner's and returns it
// resolved.
func (f *fixture) registerFunction(fn catalog.Function) *client.ResolvedFunction {
	f.t.Helper()
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	if _, err := u.Register(f.ctx, fn, catalog.Access{Public: true}); err != nil {
		f.t.Fatal(err)
	}
	res, err := u.Resolve(f.ctx, fn.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// boxed is entry of boxSource as name, in image (on the host when "").
func boxed(name, entry, image string) catalog.Function {
	return catalog.Function{Name: name, Kind: catalog.KindPython, Source: boxSource, Entry: entry, Container: image}
}

// value runs fn with args and returns its value, failing t on any error.
func (f *fixture) value(fn *client.ResolvedFunction, args string) string {
	f.t.Helper()
	res, err := f.run(f.client, fn, args, "", 0)
	if err != nil {
		f.t.Fatalf("%s: %v", fn.Function.Name, err)
	}
	if res.Error != nil {
		f.t.Fatalf("%s: %+v", fn.Function.Name, res.Error)
	}
	var v string
	if err := json.Unmarshal(res.Value, &v); err != nil {
		return string(res.Value)
	}
	return v
}

// TestContainerFunctions (issue 11): a Python function registered with a
// container image runs in it (it reads the image's marker) while the same
// source without one runs on the host (no marker); a shell function with
// a container runs in the busybox image.
func TestContainerFunctions(t *testing.T) {
	exectest.NeedDockerImages(t)
	f := newFixture(t, func(cfg *node.Config) { cfg.Containers.Runtime = node.RuntimeDocker })
	inBox := f.registerFunction(boxed("marker-boxed", "marker", pyImage))
	onHost := f.registerFunction(boxed("marker-host", "marker", ""))
	if got := f.value(inBox, `[]`); got != imageMarker {
		t.Errorf("python function in %s read %q at /fxmesh/marker, want the image's marker", pyImage, got)
	}
	if got := f.value(onHost, `[]`); got == imageMarker {
		t.Errorf("python function without a container read the image's marker: it ran in a container")
	}
	sh := f.registerFunction(catalog.Function{Name: "marker-sh", Kind: catalog.KindShell, Command: "cat /fxmesh/marker", Container: bbImage})
	res, err := f.run(f.client, sh, `[]`, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil || res.ExitCode != 0 || res.Stdout != imageMarker {
		t.Errorf("shell function in %s: stdout %q, exit %d, error %+v; want the marker", bbImage, res.Stdout, res.ExitCode, res.Error)
	}
}

// TestContainerUsersApart (issue 11): through a real endpoint, a user's
// second call finds the container its first one left warm, and another
// user calling the same function never gets that container.
func TestContainerUsersApart(t *testing.T) {
	exectest.NeedDockerImages(t)
	f := newFixture(t, func(cfg *node.Config) {
		cfg.Public = true
		cfg.Containers = node.ContainersConfig{Runtime: node.RuntimeDocker, PerImage: 1}
	})
	fn := f.registerFunction(boxed("host", "host", pyImage))
	first := f.value(fn, `["", 0]`)
	if again := f.value(fn, `["", 0]`); again != first {
		t.Errorf("the owner's second call ran in container %s, not the warm %s", again, first)
	}
	bobKey, _ := identity.GenerateKey()
	bob, err := f.mesh.Client(f.ctx, bobKey)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	res, err := f.run(bob, fn, `["", 0]`, "", 0)
	if err != nil || res.Error != nil {
		t.Fatalf("bob's call: %v %+v", err, res)
	}
	var theirs string
	if err := json.Unmarshal(res.Value, &theirs); err != nil || theirs == "" {
		t.Fatalf("bob's call returned %s", res.Value)
	}
	if theirs == first {
		t.Fatalf("bob's call ran in the owner's container %s", first)
	}
	// Closing the endpoint removes every container it started.
	if err := f.ep.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{first, theirs} {
		out, err := osexec.Command("docker", "ps", "-aq", "--filter", "id="+id).Output()
		if err != nil {
			t.Fatal(err)
		}
		if len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("container %s is left behind after the endpoint closed", id)
		}
	}
}

// TestContainerRefusedWithoutRuntime (issue 11): on an endpoint whose
// containers.runtime is none, a function with a container image is
// refused at admission with its specific error, and never runs on the
// host: it would write a file there.
func TestContainerRefusedWithoutRuntime(t *testing.T) {
	f := newFixture(t, func(cfg *node.Config) { cfg.Containers.Runtime = node.RuntimeNone })
	proof := filepath.Join(exectest.SharedDir(t), "ran-on-host") // the host function writes it as its worker uid
	args, _ := json.Marshal([]string{proof})
	for _, fn := range []catalog.Function{
		boxed("touch-boxed", "touch", pyImage),
		{Name: "touch-sh", Kind: catalog.KindShell, Command: "touch {path}", Container: bbImage},
	} {
		rf := f.registerFunction(fn)
		in := string(args)
		if fn.Kind == catalog.KindShell {
			in = `{"path": "` + proof + `"}`
		}
		var err error
		if fn.Kind == catalog.KindShell {
			_, err = f.run(f.client, rf, "", in, 0)
		} else {
			_, err = f.run(f.client, rf, in, "", 0)
		}
		if fault.KindOf(err) != fault.Unavailable || !strings.Contains(err.Error(), "no container runtime") || !strings.Contains(err.Error(), "never run on the host") {
			t.Errorf("%s: err = %v (kind %s), want unavailable: no container runtime", fn.Name, err, fault.KindOf(err))
		}
		if _, serr := os.Stat(proof); serr == nil {
			t.Fatalf("%s ran on the host: it wrote %s", fn.Name, proof)
		}
	}
	// The same function without a container runs, and writes the file:
	// the proof above can fail.
	host := f.registerFunction(boxed("touch-host", "touch", ""))
	if got := f.value(host, string(args)); got != "touched" {
		t.Fatalf("touch on the host = %q", got)
	}
	if _, err := os.Stat(proof); err != nil {
		t.Fatalf("the host function did not write its file: %v", err)
	}
}

// TestContainerImageAbsent (issue 11, acceptance 6): a function whose
// image is not present is refused with not-found before anything is
// queued; a task never exists for it.
func TestContainerImageAbsent(t *testing.T) {
	exectest.NeedDockerImages(t)
	f := newFixture(t, func(cfg *node.Config) { cfg.Containers.Runtime = node.RuntimeDocker })
	fn := f.registerFunction(boxed("absent", "marker", "fxmesh-test/absent:0"))
	sub, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: fn, Inputs: []invoke.Input{{}}, Wait: true})
	if fault.KindOf(err) != fault.NotFound || !strings.Contains(err.Error(), `image "fxmesh-test/absent:0" is not present on runtime docker`) {
		t.Fatalf("err = %v (kind %s), want not-found naming the image", err, fault.KindOf(err))
	}
	if sub != nil {
		t.Fatalf("the invocation was acknowledged as task %+v: a task was queued", sub)
	}
}

// TestContainerKilledMidTask (issue 11, acceptance 6): killing a
// function's container while it runs fails that task with kind system
// within a heartbeat, and the next call succeeds on a fresh container.
// The function marks that it started in a directory mounted from the host
// (containers.mounts), which the test waits for.
func TestContainerKilledMidTask(t *testing.T) {
	f, shared := newSharedFixture(t)
	fn := f.registerFunction(boxed("host", "host", pyImage))
	first := f.value(fn, `["", 0]`)
	ids := func() []string {
		out, err := osexec.Command("docker", "ps", "-q", "--no-trunc", "--filter", "label=org.fxmesh.tenant="+f.owner.ID().String()).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	if c := ids(); len(c) != 1 || !strings.HasPrefix(c[0], first) {
		t.Fatalf("containers of the owner %v, want the one the first call ran in (%s)", c, first)
	}
	type outcome struct {
		res *invoke.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := f.run(f.client, fn, `["/shared/started", 60]`, "", 0)
		done <- outcome{res, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(shared, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	killed := time.Now()
	if out, err := osexec.Command("docker", "kill", first).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v: %s", err, out)
	}
	var o outcome
	select {
	case o = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the task still runs 20s after its container was killed")
	}
	took := time.Since(killed)
	t.Logf("failed %v after the kill: %v %+v", took, o.err, o.res)
	if o.err != nil || o.res == nil || o.res.Error == nil || o.res.Error.Kind != string(fault.System) {
		t.Fatalf("killed task: result %+v, err %v; want a result failed with kind system", o.res, o.err)
	}
	if took > routing.DefaultHeartbeatInterval {
		t.Errorf("the task failed %v after the kill, more than a heartbeat (%v)", took, routing.DefaultHeartbeatInterval)
	}
	if second := f.value(fn, `["", 0]`); second == first {
		t.Errorf("the next call ran in %s, the killed container", second)
	}
}

// TestContainerPullAdmits: with containers.pull, an absent image no longer
// refuses the function at admission; the endpoint's record says it pulls,
// and the task itself fails, naming the image, when the pull does (here
// from a registry address on loopback where nothing listens).
func TestContainerPullAdmits(t *testing.T) {
	exectest.NeedDockerImages(t)
	f := newFixture(t, func(cfg *node.Config) {
		cfg.Containers = node.ContainersConfig{Runtime: node.RuntimeDocker, Pull: true, PullTimeout: time.Minute}
	})
	info, err := f.client.Endpoint(f.ctx, f.ep.ID())
	if err != nil {
		t.Fatal(err)
	}
	if sw := info.Record.Software; !sw.PullImages || !slices.Contains(sw.Containers, "docker") {
		t.Fatalf("the endpoint's record says %+v, want runtime docker, pulling", sw)
	}
	const image = "127.0.0.1:1/fxmesh-test/absent:0"
	fn := f.registerFunction(boxed("pulled", "marker", image))
	var res *invoke.Result
	sub, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: fn, Inputs: []invoke.Input{{}}, Wait: true,
		OnResult: func(r invoke.Result) { res = &r }})
	if sub == nil {
		t.Fatalf("refused before a task was queued: %v (kind %s)", err, fault.KindOf(err))
	}
	why := ""
	switch {
	case err != nil:
		why = err.Error()
	case sub.Status != nil && sub.Status.Error != nil:
		why = sub.Status.Error.Message
	case res != nil && res.Error != nil:
		why = res.Error.Message
	default:
		t.Fatalf("the task of an image that cannot be pulled succeeded: %+v", sub)
	}
	if !strings.Contains(why, image) || !strings.Contains(why, "pull") {
		t.Fatalf("the task failed with %q, want the failed pull of %s", why, image)
	}
	t.Logf("the task failed: %s", why)
}
