package routing

import (
	"bytes"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testPeer returns a peer ID made from seed, the same on every run.
func testPeer(t testing.TB, seed byte) peer.ID {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testCaller is the user the rank tests route for (seed 99). The sample
// endpoints are theirs.
func testCaller(t testing.TB) peer.ID { return testPeer(t, 99) }

// The sample endpoints: a GPU box, a CPU box, a data box. All are public and
// owned, verifiably, by testCaller.
func gpuBox(t testing.TB) *EndpointRecord {
	return &EndpointRecord{
		ID:   testPeer(t, 1).String(),
		Name: "gpu-box",
		Hardware: Hardware{CPUs: 64, MemoryBytes: 512 << 30, Arch: "x86_64", OS: "linux",
			GPUs: []GPU{{Model: "NVIDIA H200", MemoryBytes: 143771 << 20}, {Model: "NVIDIA H200", MemoryBytes: 143771 << 20}}},
		Software: Software{Python: []string{"3.11.7", "3.12.1"}, Containers: []string{"apptainer"}, Scheduler: "slurm", PullImages: true},
		Labels:   map[string]string{"site": "alcf", "tier": "2"},
		Public:   true,
		Owner:    testCaller(t).String(), OwnerVerified: true,
	}
}

func cpuBox(t testing.TB) *EndpointRecord {
	return &EndpointRecord{
		ID:       testPeer(t, 2).String(),
		Name:     "cpu-box",
		Hardware: Hardware{CPUs: 8, MemoryBytes: 32 << 30, Arch: "arm64", OS: "darwin"},
		Software: Software{Python: []string{"3.9.18"}, Containers: []string{"Docker", "podman"},
			Images: []string{"busybox:latest", "localhost/fxmesh-test/python:1"}},
		Labels: map[string]string{"site": "home"},
		Public: true,
		Owner:  testCaller(t).String(), OwnerVerified: true,
	}
}

func dataBox(t testing.TB) *EndpointRecord {
	return &EndpointRecord{
		ID:       testPeer(t, 3).String(),
		Name:     "data-box",
		Hardware: Hardware{CPUs: 32, MemoryBytes: 256 << 30, Arch: "amd64", OS: "linux"},
		Software: Software{Python: []string{"3.10.12"}, Scheduler: "pbs"},
		Labels:   map[string]string{"site": "aps", "cost": "2.5"},
		Datasets: []string{"cryo-2026", "tomo-raw"},
		Public:   true,
		Owner:    testCaller(t).String(), OwnerVerified: true,
	}
}

func mustReq(t testing.TB, s string) Requirement {
	t.Helper()
	r, err := ParseRequirement(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustReqs(t testing.TB, ss ...string) []Requirement {
	t.Helper()
	rs, err := ParseRequirements(ss)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
