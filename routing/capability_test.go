package routing

import (
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func TestCapabilityKeys(t *testing.T) {
	tests := []struct {
		name string
		rec  *EndpointRecord
		want []string
	}{
		{"gpu box", gpuBox(t), []string{
			"arch=amd64", "container", "container=apptainer", "endpoint", "gpu", "gpu-model=nvidia h200",
			"label:site=alcf", "label:tier=2", "os=linux", "python=3.11", "python=3.12", "scheduler=slurm",
		}},
		{"cpu box", cpuBox(t), []string{
			"arch=arm64", "container", "container=docker", "container=podman", "endpoint", "label:site=home", "os=darwin", "python=3.9",
		}},
		{"data box", dataBox(t), []string{
			"arch=amd64", "dataset=cryo-2026", "dataset=tomo-raw", "endpoint", "label:cost=2.5", "label:site=aps",
			"os=linux", "python=3.10", "scheduler=pbs",
		}},
		{"empty record", &EndpointRecord{Software: Software{Python: []string{"3"}}}, []string{"endpoint"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CapabilityKeys(tc.rec); !slices.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestKeyFor(t *testing.T) {
	tests := []struct {
		req  string
		want string // "" for none
	}{
		{"dataset=cryo-2026", "dataset=cryo-2026"},
		{"label:site=aps", "label:site=aps"},
		{"site=aps", "label:site=aps"},
		{"container=Docker", "container=docker"},
		{"scheduler=SLURM", "scheduler=slurm"},
		{"arch=x86_64", "arch=amd64"},
		{"os=macos", "os=darwin"},
		{"python=3.11", "python=3.11"},
		{"python=3.11.7", "python=3.11"},
		{"python=3", ""},
		{"image=busybox", "container"},
		{"image=127.0.0.1:5000/x/y:tag", "container"},
		{"image!=busybox", ""},
		{"module=numpy", ""},
		{"python>=3.10", ""},
		{"gpu_model=H200", "gpu"},
		{"gpu=h200", "gpu"},
		{"gpus>=1", "gpu"},
		{"gpus>=4", "gpu"},
		{"gpus>0", "gpu"},
		{"gpus=2", "gpu"},
		{"gpus>=0", ""},
		{"gpus=0", ""},
		{"gpus<2", ""},
		{"gpu_memory>=80GB", "gpu"},
		{"gpu_memory>0", "gpu"},
		{"gpu_memory<=80GB", ""},
		{"cpus>=8", ""},
		{"memory>=64GiB", ""},
		{"dataset!=cryo-2026", ""},
		{"label:tier>=2", ""},
		{"bogus>=3", ""},
	}
	for _, tc := range tests {
		t.Run(tc.req, func(t *testing.T) {
			got, ok := KeyFor(mustReq(t, tc.req))
			if ok != (tc.want != "") || got != tc.want {
				t.Fatalf("KeyFor(%s) = %q, %v; want %q", tc.req, got, ok, tc.want)
			}
		})
	}
	if _, ok := KeyFor(Requirement{"gpus", ">=", "x"}); ok {
		t.Fatal("KeyFor of an unparsable requirement has a key")
	}
}

// TestKeyForCovers checks the promise of KeyFor: every endpoint that meets
// a requirement provides the requirement's key.
func TestKeyForCovers(t *testing.T) {
	recs := []*EndpointRecord{gpuBox(t), cpuBox(t), dataBox(t)}
	reqs := []string{
		"dataset=cryo-2026", "dataset=tomo-raw", "label:site=aps", "site=home", "container=docker",
		"container=apptainer", "scheduler=slurm", "scheduler=pbs", "arch=x86_64", "arch=aarch64", "os=macos",
		"os=linux", "python=3.11", "python=3.9.18", "python=3.10", "gpu_model=H200", "gpu=nvidia", "gpus>=1",
		"gpus>1", "gpus=2", "gpu_memory>=80GB", "gpu_memory>1",
		"image=busybox", "image=fxmesh-test/python:1", "image=other:1",
	}
	for _, s := range reqs {
		r := mustReq(t, s)
		key, ok := KeyFor(r)
		if !ok {
			t.Fatalf("%s has no key", s)
		}
		met := 0
		for _, rec := range recs {
			if ok, _ := r.Met(rec); ok {
				met++
				if !slices.Contains(CapabilityKeys(rec), key) {
					t.Errorf("%s meets %s but does not provide %s", rec.Name, s, key)
				}
			}
		}
		if met == 0 {
			t.Errorf("no sample endpoint meets %s: the check checks nothing", s)
		}
	}
}

func TestLookupKey(t *testing.T) {
	tests := []struct {
		name string
		reqs []string
		want string
	}{
		{"none", nil, KeyEndpoint},
		{"only numeric", []string{"cpus>=8", "memory>=1GB"}, KeyEndpoint},
		{"dataset beats gpu", []string{"gpus>=1", "dataset=cryo-2026"}, "dataset=cryo-2026"},
		{"label beats gpu", []string{"gpus>=1", "label:site=aps"}, "label:site=aps"},
		{"gpu beats python", []string{"python=3.11", "gpus>=1"}, "gpu"},
		{"scheduler beats arch", []string{"arch=amd64", "scheduler=slurm"}, "scheduler=slurm"},
		{"first dataset wins", []string{"dataset=b", "dataset=a"}, "dataset=b"},
		{"os last", []string{"os=linux", "cpus>=1"}, "os=linux"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := LookupKey(mustReqs(t, tc.reqs...)); got != tc.want {
				t.Fatalf("LookupKey = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKeyCID(t *testing.T) {
	sum := sha256.Sum256([]byte("fxmesh:cap:v1:gpu"))
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	want := cid.NewCidV1(cid.Raw, mh)
	got := KeyCID("gpu")
	if !got.Equals(want) {
		t.Fatalf("KeyCID(gpu) = %s, want %s", got, want)
	}
	if got.Version() != 1 || got.Type() != cid.Raw {
		t.Fatalf("KeyCID(gpu) is v%d codec %x", got.Version(), got.Type())
	}
	if KeyCID("gpu").Equals(KeyCID("endpoint")) {
		t.Fatal("two keys, one CID")
	}
	// Pinned: a change here changes what every node provides.
	if s := KeyCID("endpoint").String(); s != pinnedEndpointCID {
		t.Fatalf("KeyCID(endpoint) = %s, pinned %s", s, pinnedEndpointCID)
	}
}

const pinnedEndpointCID = "bafkreifhv6nebg5up3aiplmubtjxaqfv6dck3le23alqadydt6lb2atjpu"
