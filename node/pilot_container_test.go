package node

import (
	"fmt"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
)

// The image of scripts/build-test-images.sh that the block tests run in,
// and the marker it holds at /fxmesh/marker (the host does not).
const (
	blockImage  = "fxmesh-test/python:1"
	imageMarker = "fxmesh test image\n"
)

// markerSource returns the image's marker, or the error of reading it.
const markerSource = `
def marker():
    try:
        with open("/fxmesh/marker") as f:
            return f.read()
    except OSError as e:
        return type(e).__name__
`

// containerPilotFixture is an endpoint of local blocks and Docker, with
// the function "marker" in blockImage.
func containerPilotFixture(t *testing.T, edit func(*Config)) *boundsFixture {
	t.Helper()
	exectest.NeedDockerImages(t)
	f := pilotFixture(t, func(c *Config) {
		c.Batch.MaxBlocks, c.Batch.WorkersPerNode, c.Batch.MaxIdleTime = 1, 1, time.Minute
		c.Containers = ContainersConfig{Runtime: RuntimeDocker, PerImage: 1}
		if edit != nil {
			edit(c)
		}
	})
	env, err := catalog.NewPublish(f.owner, nil, catalog.Function{Name: "marker", Kind: catalog.KindPython, Source: markerSource, Entry: "marker", Container: blockImage},
		catalog.Access{Public: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client.PublishUpdate(f.ctx, env); err != nil {
		t.Fatal(err)
	}
	if f.fns["marker"], err = f.client.ResolveFunction(f.ctx, f.owner.ID().String()+"/marker"); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPilotContainer (issue 12): a function with a container image runs
// in a block whose node has a runtime (the local provider's blocks run on
// this host, where Docker runs), inside the container: it reads the
// image's marker, and the block's agent answered it.
func TestPilotContainer(t *testing.T) {
	f := containerPilotFixture(t, nil)
	if s := f.ep.ep.pilot.Summary(); s.Served != 0 {
		t.Fatalf("blocks served %d tasks before any call", s.Served)
	}
	r := f.call(t, "marker", "[]", 0)
	if r.Error != nil || string(r.Value) != fmt.Sprintf("%q", imageMarker) {
		t.Fatalf("marker = %s (error %+v), want the image's %q", r.Value, r.Error, imageMarker)
	}
	if s := f.ep.ep.pilot.Summary(); s.Served != 1 || s.Running != 1 {
		t.Fatalf("blocks after the container call: %+v; want one running block that served it", s)
	}
}

// TestPilotContainerNoRuntime (issue 12): where the blocks' node has no
// container runtime (worker_init points DOCKER_HOST at no daemon), a
// function with a container image is not sent to the blocks: it runs on
// the endpoint's own container executor, in the container still, and the
// blocks serve nothing.
func TestPilotContainerNoRuntime(t *testing.T) {
	const nowhere = "unix:///nonexistent/docker.sock"
	f := containerPilotFixture(t, func(c *Config) { c.Batch.WorkerInit = "export DOCKER_HOST=" + nowhere })
	for i := range 2 { // the second after the block said it has no runtime
		r := f.call(t, "marker", "[]", 0)
		if r.Error != nil || string(r.Value) != fmt.Sprintf("%q", imageMarker) {
			t.Fatalf("call %d: marker = %s (error %+v), want the image's %q", i, r.Value, r.Error, imageMarker)
		}
	}
	if s := f.ep.ep.pilot.Summary(); s.Served != 0 {
		t.Fatalf("blocks without a runtime served %d container tasks", s.Served)
	}
	if r := f.call(t, "env", `["DOCKER_HOST"]`, 0); r.Error != nil || string(r.Value) != fmt.Sprintf("%q", nowhere) {
		t.Fatalf("the block's DOCKER_HOST = %s (error %+v)", r.Value, r.Error)
	}
}
