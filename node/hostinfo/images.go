package hostinfo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fxmesh/fxmesh/require"
	"github.com/fxmesh/fxmesh/routing"
)

// imagesFormat is the Go template "docker images" and "podman images"
// print each image with: repository, tag and digest, tab-separated.
const imagesFormat = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}"

// Images lists the images container runtime (a program on PATH: "docker",
// "podman") holds, by running "RUNTIME images --format ..." under
// opts.Timeout, as an endpoint record lists them: REPOSITORY:TAG for each
// tagged image, sorted, then REPOSITORY@DIGEST for each with a digest,
// sorted, without duplicates, at most routing.MaxImages in all. Untagged
// images (<none>) and names that a record cannot hold (over
// routing.MaxImageBytes, or with characters outside a requirement's word)
// are left out. It fails when the runtime is not on PATH or its command
// fails.
func Images(ctx context.Context, opts Options, runtime string) ([]string, error) {
	d := detector{Options: opts.withDefaults()}
	path := d.lookPath(runtime)
	if path == "" {
		return nil, fmt.Errorf("hostinfo: list images: %s is not on PATH", runtime)
	}
	out, err := d.run(ctx, path, "images", "--format", imagesFormat)
	if err != nil {
		return nil, fmt.Errorf("hostinfo: list images: %w", err)
	}
	return ParseImages(out), nil
}

// ParseImages reads the lines Images asks the runtime for (REPOSITORY,
// TAG and DIGEST, tab-separated) into the names Images returns. Lines it
// cannot read are skipped.
func ParseImages(out []byte) []string {
	var tagged, digested []string
	keep := func(list *[]string, name string) {
		if len(name) <= routing.MaxImageBytes && require.ValidWord(name) {
			*list = append(*list, name)
		}
	}
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), "\t")
		if len(f) < 2 || f[0] == "" || f[0] == "<none>" {
			continue
		}
		if tag := f[1]; tag != "" && tag != "<none>" {
			keep(&tagged, f[0]+":"+tag)
		}
		if len(f) > 2 && f[2] != "" && f[2] != "<none>" {
			keep(&digested, f[0]+"@"+f[2])
		}
	}
	slices.Sort(tagged)
	slices.Sort(digested)
	var names []string
	seen := map[string]bool{}
	for _, im := range append(tagged, digested...) {
		if !seen[im] && len(names) < routing.MaxImages {
			seen[im] = true
			names = append(names, im)
		}
	}
	return names
}
