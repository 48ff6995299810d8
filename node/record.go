package node

import (
	"context"
	"slices"
	"time"

	"github.com/fxmesh/fxmesh/node/hostinfo"
	"github.com/fxmesh/fxmesh/require"
	"github.com/fxmesh/fxmesh/routing"
)

// ContainerInfo is what an endpoint can run container images with, as its
// record says it (routing.Software's Containers, Images and PullImages).
type ContainerInfo struct {
	// Runtimes names the container runtimes that run functions here
	// ("docker"); none means functions with a container are refused.
	Runtimes []string
	// Images are the images they hold, as the runtime names them
	// ("fxmesh-test/python:1", "localhost/x/y:1").
	Images []string
	// PullImages says an absent image would be pulled, not refused.
	PullImages bool
}

// ContainerProbe says what the endpoint can run containers with now. The
// node asks it each time it signs its record (at start, then at each
// refresh, every third of the record's lifetime), under a timeout of
// containerProbeTimeout. When it fails, the record keeps the images it
// listed before, for the same runtimes.
type ContainerProbe func(ctx context.Context) (ContainerInfo, error)

// containerProbeTimeout bounds one ContainerProbe call.
const containerProbeTimeout = 10 * time.Second

// runtimeContainers is the ContainerProbe of an endpoint that has none
// of its own (Options.Containers): the runtime its containers: block chose,
// if any, the images "RUNTIME images" lists, and whether its containers:
// block lets it pull the images it does not hold.
func (n *Node) runtimeContainers(ctx context.Context) (ContainerInfo, error) {
	if n.ep == nil || n.ep.images.rt == nil {
		return ContainerInfo{}, nil
	}
	name := n.ep.images.rt.Name()
	images, err := hostinfo.Images(ctx, hostinfo.Options{Timeout: containerProbeTimeout}, name)
	return ContainerInfo{Runtimes: []string{name}, Images: images, PullImages: n.ep.images.Pulls()}, err
}

// containerSoftware fills the container fields of sw, the software of the
// record being made, from the probe; last is the record made before (nil
// at first). It is called without n.mu held: the probe runs programs.
func (n *Node) containerSoftware(sw *routing.Software, last *routing.EndpointRecord) {
	probe := n.containers
	if probe == nil {
		probe = n.runtimeContainers
	}
	ctx, cancel := context.WithTimeout(n.ctx, containerProbeTimeout)
	defer cancel()
	info, err := probe(ctx)
	if err != nil && last != nil && slices.Equal(last.Software.Containers, info.Runtimes) {
		n.log.Warn("list container images; the record keeps the last list", "err", err)
		info.Images = last.Software.Images
	} else if err != nil {
		n.log.Warn("list container images", "err", err)
	}
	sw.Containers, sw.Images, sw.PullImages = nil, nil, false
	if len(info.Runtimes) == 0 {
		return // no runtime: no images run here
	}
	sw.Containers = slices.Compact(slices.Sorted(slices.Values(info.Runtimes)))
	sw.PullImages = info.PullImages
	sw.Images = boundImages(info.Images)
}

// boundImages keeps of images, in their order, the first routing.MaxImages
// that a record may hold (words of at most routing.MaxImageBytes), once
// each.
func boundImages(images []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, im := range images {
		if len(out) < routing.MaxImages && !seen[im] && len(im) <= routing.MaxImageBytes && require.ValidWord(im) {
			seen[im] = true
			out = append(out, im)
		}
	}
	return out
}
