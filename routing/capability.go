package routing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/require"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Capability keys name what an endpoint offers, so that a client can find
// candidates in the DHT before it reads their records: each endpoint
// provides KeyCID(k) for every k of CapabilityKeys(its record), and a
// client looks up the providers of KeyCID(LookupKey(requirements)). The
// keys are:
//
//   - endpoint: every endpoint;
//   - gpu: an endpoint with at least one GPU;
//   - gpu-model=<model, lowercased>: for each GPU model ("gpu-model=nvidia h200");
//   - arch=<arch>, os=<os>: lowercased, aliases mapped as requirements map
//     them (x86_64 is amd64, aarch64 arm64, macos darwin);
//   - python=<major.minor>: for each Python interpreter;
//   - container: an endpoint with at least one container runtime;
//   - container=<runtime>, scheduler=<name>: lowercased;
//   - dataset=<name>: for each dataset held, exactly;
//   - label:<k>=<v>: for each label, exactly.
//
// A key only narrows the search: the candidates found must still meet every
// requirement (Rank checks them against the records).
const KeyEndpoint = "endpoint"

// capPrefix is hashed in front of every capability key, so that the
// provider keys of fxmesh meet nothing else in a shared DHT.
const capPrefix = "fxmesh:cap:v1:"

// CapabilityKeys returns the capability keys of rec, sorted and without
// duplicates. rec must not be nil.
func CapabilityKeys(rec *EndpointRecord) []string {
	keys := []string{KeyEndpoint}
	add := func(k, v string) {
		if v != "" {
			keys = append(keys, k+"="+v)
		}
	}
	hw, sw := &rec.Hardware, &rec.Software
	if len(hw.GPUs) > 0 {
		keys = append(keys, KeyGPU)
	}
	for _, g := range hw.GPUs {
		add("gpu-model", strings.ToLower(g.Model))
	}
	add(KeyArch, require.NormalizeArch(hw.Arch))
	add(KeyOS, require.NormalizeOS(hw.OS))
	for _, p := range sw.Python {
		add(KeyPython, majorMinor(p))
	}
	if len(sw.Containers) > 0 {
		keys = append(keys, KeyContainer)
	}
	for _, c := range sw.Containers {
		add(KeyContainer, strings.ToLower(c))
	}
	add(KeyScheduler, strings.ToLower(sw.Scheduler))
	for _, d := range rec.Datasets {
		add(KeyDataset, d)
	}
	for k, v := range rec.Labels {
		keys = append(keys, KeyLabelPrefix+k+"="+v)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// majorMinor returns "3.11" for "3.11.7", and "" for a version without two
// parts.
func majorMinor(s string) string {
	v, ok := require.LeadingVersion(s)
	if !ok || len(v) < 2 {
		return ""
	}
	return strconv.FormatUint(v[0], 10) + "." + strconv.FormatUint(v[1], 10)
}

// KeyFor returns the capability key whose providers include every endpoint
// that meets req, when there is one narrower than KeyEndpoint:
//
//   - dataset=X: dataset=X; label:K=V, and K=V for a key that is a label:
//     label:K=V;
//   - container=, scheduler=, arch=, os=: the same key, normalised as in
//     CapabilityKeys;
//   - python=3.11 (or 3.11.7): python=3.11; python=3 has none;
//   - image=X: container (only an endpoint with a runtime can run an
//     image; held images have no keys, for there may be hundreds);
//   - gpu= and gpu_model= (substring matches, so no model key fits them),
//     gpus>=N and gpus=N with N >= 1, gpus>N, and gpu_memory>=N, gpu_memory=N
//     with N >= 1 or gpu_memory>N: gpu.
//
// Every other requirement (!=, the other comparisons, cpus, memory,
// module=) has none, and ok is false. Python modules have no keys: an
// endpoint may list hundreds, and providing a key for each would fill the
// DHT; module= is checked against the records of the candidates found by
// the other requirements' keys.
func KeyFor(req Requirement) (key string, ok bool) {
	if _, err := req.form(); err != nil {
		return "", false
	}
	if req.Op == OpEq {
		switch req.Key {
		case KeyDataset:
			return KeyDataset + "=" + req.Value, true
		case KeyContainer, KeyScheduler:
			return req.Key + "=" + strings.ToLower(req.Value), true
		case KeyArch:
			return KeyArch + "=" + require.NormalizeArch(req.Value), true
		case KeyOS:
			return KeyOS + "=" + require.NormalizeOS(req.Value), true
		case KeyPython:
			if v, ok := require.ParseVersion(req.Value); ok && len(v) >= 2 {
				return fmt.Sprintf("%s=%d.%d", KeyPython, v[0], v[1]), true
			}
			return "", false
		case KeyGPU, KeyGPUModel:
			return KeyGPU, true
		case KeyImage:
			return KeyContainer, true
		}
		if k, ok := require.Requirement(req).Label(); ok {
			return KeyLabelPrefix + k + "=" + req.Value, true
		}
	}
	var n uint64
	switch req.Key {
	case KeyGPUs:
		v, ok := require.ParseCount(req.Value)
		if !ok {
			return "", false
		}
		n = v
	case KeyGPUMemory:
		v, ok := require.ParseBytes(req.Value)
		if !ok {
			return "", false
		}
		n = v
	default:
		return "", false
	}
	// An endpoint without GPUs has 0 of both; one that meets req has more.
	if req.Op == OpGT || (req.Op == OpGE || req.Op == OpEq) && n >= 1 {
		return KeyGPU, true
	}
	return "", false
}

// lookupOrder ranks capability keys by how few endpoints are likely to
// provide them, by the part before "=".
var lookupOrder = []string{KeyDataset, KeyLabelPrefix, KeyGPU, KeyScheduler, KeyContainer, KeyPython, KeyArch, KeyOS}

// LookupKey returns the capability key to find candidates for reqs by: of
// the keys KeyFor gives, the one likely to be provided by the fewest
// endpoints (dataset, then label, gpu, scheduler, container, python, arch,
// os; the first requirement wins a tie), or KeyEndpoint when none has a key.
func LookupKey(reqs []Requirement) string {
	best, bestRank := KeyEndpoint, len(lookupOrder)
	for _, r := range reqs {
		k, ok := KeyFor(r)
		if !ok {
			continue
		}
		cat, _, _ := strings.Cut(k, "=")
		if strings.HasPrefix(k, KeyLabelPrefix) {
			cat = KeyLabelPrefix
		}
		if i := slices.Index(lookupOrder, cat); i >= 0 && i < bestRank {
			best, bestRank = k, i
		}
	}
	return best
}

// KeyCID returns the DHT provider key of capability key: a CIDv1 with the
// raw codec over the SHA2-256 of "fxmesh:cap:v1:" followed by key.
func KeyCID(key string) cid.Cid {
	h, err := multihash.Sum([]byte(capPrefix+key), multihash.SHA2_256, -1)
	if err != nil {
		panic(fmt.Sprintf("routing: sha2-256 multihash: %v", err)) // sha2-256 is always registered
	}
	return cid.NewCidV1(cid.Raw, h)
}
