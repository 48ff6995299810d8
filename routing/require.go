package routing

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/require"
)

// Requirement operators: those of package require.
const (
	OpEq = require.OpEq // KEY=VALUE
	OpNe = require.OpNe // KEY!=VALUE
	OpGE = require.OpGE // KEY>=N
	OpLE = require.OpLE // KEY<=N
	OpGT = require.OpGT // KEY>N
	OpLT = require.OpLT // KEY<N
)

// Requirement keys: those of package require, whose doc gives their
// grammar. Against an EndpointRecord they mean:
//
//   - cpus: the number of CPUs (Hardware.CPUs).
//   - memory: the memory in bytes (Hardware.MemoryBytes).
//   - gpus: the number of GPUs.
//   - gpu_memory: the memory of the largest GPU, in bytes. An endpoint
//     without GPUs has 0.
//   - gpu, gpu_model: = matches when the model of any GPU contains the value,
//     ignoring case ("gpu_model=H200" matches "NVIDIA H200"); != when none does.
//   - arch: the architecture, ignoring case and aliases
//     (require.NormalizeArch: x86_64 and x86-64 mean amd64, aarch64 arm64).
//   - os: the operating system, ignoring case and aliases
//     (require.NormalizeOS: macos and osx mean darwin).
//   - python: a Python version, met when ANY of the endpoint's interpreters
//     meets it. The endpoint's version is compared at the precision the
//     requirement is written in, part by part and numerically: python>=3.10
//     is met by 3.10.2 and not by 3.9.18 (3.10 > 3.9); python<=3.11 and
//     python=3.11 are met by 3.11.7; python=3 by any 3.x.
//   - container: a container runtime the endpoint has (docker, podman,
//     apptainer), ignoring case.
//   - scheduler: the endpoint's batch scheduler (slurm, pbs), ignoring case.
//   - dataset: the name of a dataset the endpoint holds, exactly.
//   - image: a container image the endpoint can run: = is met when it has
//     a container runtime (Software.Containers) and either holds the image
//     (Software.Images, compared as require.NormalizeImage writes both:
//     busybox is docker.io/library/busybox:latest) or may pull images
//     (Software.PullImages); != when it cannot. An endpoint without a
//     runtime meets image=X for no X, whatever images it lists.
//   - module: a Python distribution the endpoint's workers can import
//     (Software.Modules): module=NAME is met when the endpoint lists NAME,
//     both names compared as require.NormalizeModule writes them
//     (Scikit_Learn is scikit-learn); module=NAME>=VERSION when, besides,
//     the release numbers of its version (require.ModuleVersion: 2.0.0rc1
//     counts as 2.0.0) are at least VERSION; module!=X when module=X is
//     not met. An endpoint that lists no modules meets module=X for no X.
//   - label:K: the endpoint's label K, exactly. With >=, <=, > or < the label
//     and the value are compared as numbers (require.Number: units allowed,
//     or dotted versions); a missing or non-numeric label does not meet the
//     comparison.
//
// Any other key K is a label: K=V means label:K=V, and K!=V label:K!=V. An
// unknown key with >=, <=, > or < is never met: labels are compared
// numerically only when written label:K.
const (
	KeyCPUs        = require.KeyCPUs
	KeyMemory      = require.KeyMemory
	KeyGPUs        = require.KeyGPUs
	KeyGPUMemory   = require.KeyGPUMemory
	KeyGPU         = require.KeyGPU
	KeyGPUModel    = require.KeyGPUModel
	KeyArch        = require.KeyArch
	KeyOS          = require.KeyOS
	KeyPython      = require.KeyPython
	KeyContainer   = require.KeyContainer
	KeyScheduler   = require.KeyScheduler
	KeyDataset     = require.KeyDataset
	KeyImage       = require.KeyImage
	KeyModule      = require.KeyModule
	KeyLabelPrefix = require.KeyLabelPrefix
)

// Errors of ParseRequirement: package require's, so that errors.Is matches
// either name.
var (
	ErrNoOperator  = require.ErrNoOperator
	ErrBadKey      = require.ErrBadKey
	ErrBadOperator = require.ErrBadOperator
	ErrBadValue    = require.ErrBadValue
)

// MaxRequirements bounds the requirements of one request, as catalog
// bounds those of a function: require.MaxRequirements.
const MaxRequirements = require.MaxRequirements

// Requirement is one thing work needs of an endpoint: gpus>=1,
// memory>=64GiB, python>=3.10, dataset=cryo-2026, label:site=aps. It is a
// require.Requirement with routing's meaning attached (Met); build it with
// ParseRequirement. The keys are documented at KeyCPUs.
type Requirement require.Requirement

// String writes the requirement as it was parsed: Key, Op, Value.
func (r Requirement) String() string { return require.Requirement(r).String() }

// ParseRequirement parses s by package require's grammar (require.Parse):
// KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or KEY<N, without spaces.
// Its errors are require.Parse's: fault kind Invalid, wrapping one of
// ErrNoOperator, ErrBadKey, ErrBadOperator or ErrBadValue, with the same
// message as catalog validation gives for the same requirement.
func ParseRequirement(s string) (Requirement, error) {
	r, err := require.Parse(s)
	return Requirement(r), err
}

// ParseRequirements parses each of ss (at most MaxRequirements), stopping at
// the first that does not parse, as require.ParseAll does.
func ParseRequirements(ss []string) ([]Requirement, error) {
	rs, err := require.ParseAll(ss)
	if err != nil {
		return nil, err
	}
	out := make([]Requirement, len(rs))
	for i, r := range rs {
		out[i] = Requirement(r)
	}
	return out, nil
}

// form is require.Requirement.Form of r.
func (r Requirement) form() (require.Form, error) { return require.Requirement(r).Form() }

// holds reports whether comparison c (have against want) satisfies op.
func holds(op require.Op, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpGE:
		return c >= 0
	case OpLE:
		return c <= 0
	case OpGT:
		return c > 0
	case OpLT:
		return c < 0
	}
	return false
}

// Met reports whether rec meets r and, when it does not, why, in the form
// "needs gpus>=1, has 0 GPUs" or "needs dataset=cryo-2026, holds [a b]". It
// is a pure function of its arguments and never panics, even on a
// Requirement that ParseRequirement would reject (which is never met).
func (r Requirement) Met(rec *EndpointRecord) (bool, string) {
	ok, have := r.check(rec)
	if ok {
		return true, ""
	}
	return false, "needs " + r.String() + ", " + have
}

// check is Met without the "needs" prefix: have says what rec has instead,
// starting with a verb ("has 0 GPUs", "holds [a b]").
func (r Requirement) check(rec *EndpointRecord) (bool, string) {
	if rec == nil {
		return false, "has no endpoint record"
	}
	form, err := r.form()
	if err != nil {
		return false, "is not a valid requirement: " + err.Error()
	}
	hw, sw := &rec.Hardware, &rec.Software
	switch r.Key {
	case KeyCPUs:
		return r.compareCount(uint64(max(hw.CPUs, 0)), fmt.Sprintf("has %d CPUs", hw.CPUs))
	case KeyGPUs:
		return r.compareCount(uint64(len(hw.GPUs)), fmt.Sprintf("has %d GPUs", len(hw.GPUs)))
	case KeyMemory:
		return r.compareBytes(hw.MemoryBytes, "has "+FormatBytes(hw.MemoryBytes))
	case KeyGPUMemory:
		var most uint64
		for _, g := range hw.GPUs {
			most = max(most, g.MemoryBytes)
		}
		have := "has no GPU"
		if len(hw.GPUs) > 0 {
			have = "has " + FormatBytes(most) + " on its largest GPU"
		}
		return r.compareBytes(most, have)
	case KeyGPU, KeyGPUModel:
		models := make([]string, len(hw.GPUs))
		found := false
		for i, g := range hw.GPUs {
			models[i] = g.Model
			found = found || strings.Contains(strings.ToLower(g.Model), strings.ToLower(r.Value))
		}
		return r.equal(found, "has "+listOr(models, "no GPU"))
	case KeyArch:
		return r.equal(hw.Arch != "" && require.NormalizeArch(hw.Arch) == require.NormalizeArch(r.Value), "has "+orNone(hw.Arch, "no arch"))
	case KeyOS:
		return r.equal(hw.OS != "" && require.NormalizeOS(hw.OS) == require.NormalizeOS(r.Value), "has "+orNone(hw.OS, "no os"))
	case KeyPython:
		return r.checkPython(sw.Python)
	case KeyContainer:
		found := slices.ContainsFunc(sw.Containers, func(c string) bool { return strings.EqualFold(c, r.Value) })
		return r.equal(found, "has "+listOr(sw.Containers, "no container runtime"))
	case KeyScheduler:
		return r.equal(sw.Scheduler != "" && strings.EqualFold(sw.Scheduler, r.Value), "has "+orNone(sw.Scheduler, "no scheduler"))
	case KeyDataset:
		return r.equal(slices.Contains(rec.Datasets, r.Value), "holds "+listOr(rec.Datasets, "no datasets"))
	case KeyImage:
		return r.equal(CanRunImage(sw, r.Value), imagesHave(sw))
	case KeyModule:
		return r.checkModule(sw.Modules)
	}
	if form != require.FormLabel {
		return false, "is not a valid requirement"
	}
	return r.checkLabel(rec.Labels)
}

// ImageRequirement is the requirement a function with container image
// implies: image=IMAGE, met by an endpoint that has a container runtime and
// holds or may pull the image. It is built as written, not parsed: a
// catalog record's image may be longer than a requirement's value, and is
// still met by an endpoint that may pull it.
func ImageRequirement(image string) Requirement {
	return Requirement{Key: KeyImage, Op: OpEq, Value: image}
}

// HoldsImage reports whether sw lists image, both compared as
// require.NormalizeImage writes them.
func HoldsImage(sw *Software, image string) bool {
	want := require.NormalizeImage(image)
	return slices.ContainsFunc(sw.Images, func(im string) bool { return require.NormalizeImage(im) == want })
}

// CanRunImage reports whether sw can run image: it has a container runtime
// and holds the image or may pull it.
func CanRunImage(sw *Software, image string) bool {
	return len(sw.Containers) > 0 && (sw.PullImages || HoldsImage(sw, image))
}

// maxImagesNamed bounds how many images a reason names.
const maxImagesNamed = 4

// imagesHave says what sw has to run images with, for Met's reason.
func imagesHave(sw *Software) string {
	if len(sw.Containers) == 0 {
		return "has no container runtime"
	}
	named := sw.Images[:min(len(sw.Images), maxImagesNamed)]
	held := listOr(named, "no images")
	if len(sw.Images) > len(named) {
		held = strings.TrimSuffix(held, "]") + fmt.Sprintf(" and %d more]", len(sw.Images)-len(named))
	}
	pull := "does not pull"
	if sw.PullImages {
		pull = "pulls"
	}
	return "holds " + held + ", " + pull
}

// equal applies = or != to whether the endpoint has r.Value.
func (r Requirement) equal(found bool, have string) (bool, string) {
	switch r.Op {
	case OpEq:
		return found, have
	case OpNe:
		return !found, have
	}
	return false, "cannot compare " + r.Key + " with " + string(r.Op)
}

func (r Requirement) compareCount(n uint64, have string) (bool, string) {
	want, ok := require.ParseCount(r.Value)
	if !ok {
		return false, "wants a whole number"
	}
	return holds(r.Op, cmp.Compare(n, want)), have
}

func (r Requirement) compareBytes(n uint64, have string) (bool, string) {
	want, ok := require.ParseBytes(r.Value)
	if !ok {
		return false, "wants bytes"
	}
	return holds(r.Op, cmp.Compare(n, want)), have
}

// checkPython is met when any of versions meets r, each compared at r's
// precision (= is then a prefix match).
func (r Requirement) checkPython(versions []string) (bool, string) {
	want, ok := require.ParseVersion(r.Value)
	if !ok {
		return false, "wants a dotted version"
	}
	have := "has " + listOr(versions, "no python")
	for _, s := range versions {
		v, ok := require.LeadingVersion(s)
		if !ok {
			continue
		}
		if len(v) > len(want) {
			v = v[:len(want)]
		}
		if holds(r.Op, require.CompareVersions(v, want)) {
			return true, ""
		}
	}
	return false, have
}

// checkModule applies module=NAME[>=VERSION] (or !=) to the modules an
// endpoint lists.
func (r Requirement) checkModule(mods []Module) (bool, string) {
	want, err := require.ParseModule(r.Value)
	if err != nil {
		return false, "wants a Python distribution"
	}
	m, found := FindModule(mods, want.Name)
	have := "has no Python module " + want.Name
	switch {
	case len(mods) == 0:
		have = "lists no Python modules"
	case found:
		have = "has " + m.Name + " " + orNone(m.Version, "of no version")
		if want.Min != nil {
			v, ok := require.ModuleVersion(m.Version)
			found = ok && require.CompareVersions(v, want.Min) >= 0
		}
	}
	return r.equal(found, have)
}

// FindModule returns the module of mods (sorted by name, as a record
// lists them) named name, compared as require.NormalizeModule writes both.
func FindModule(mods []Module, name string) (Module, bool) {
	name = require.NormalizeModule(name)
	i, ok := slices.BinarySearchFunc(mods, name, func(m Module, n string) int { return cmp.Compare(m.Name, n) })
	if !ok {
		return Module{}, false
	}
	return mods[i], true
}

// checkLabel applies r to the label it names.
func (r Requirement) checkLabel(labels map[string]string) (bool, string) {
	k, explicit := strings.CutPrefix(r.Key, KeyLabelPrefix)
	v, present := labels[k]
	have := fmt.Sprintf("has no label %s", k)
	if present {
		have = fmt.Sprintf("has %s=%s", k, v)
	}
	switch r.Op {
	case OpEq:
		return present && v == r.Value, have
	case OpNe:
		return !present || v != r.Value, have
	}
	if !explicit {
		return false, fmt.Sprintf("has no field %s to compare (known keys: %s; write label:%s to compare a label)",
			k, strings.Join(require.KnownKeys(), ", "), k)
	}
	if !present {
		return false, have
	}
	a, ok1 := require.ParseNumber(v)
	b, ok2 := require.ParseNumber(r.Value)
	if !ok1 || !ok2 {
		return false, have + ", not a number"
	}
	c, ok := a.Compare(b)
	if !ok {
		return false, have + ", not comparable"
	}
	return holds(r.Op, c), have
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func listOr(ss []string, none string) string {
	if len(ss) == 0 {
		return none
	}
	return "[" + strings.Join(ss, " ") + "]"
}

// FormatBytes writes n in binary units with up to one decimal: "140.4 GiB",
// "512 B".
func FormatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	s := strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + " " + string("KMGTP"[exp]) + "iB"
}
