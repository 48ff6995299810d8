package routing

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
)

// Requirement operators.
const (
	OpEq = "="  // KEY=VALUE
	OpNe = "!=" // KEY!=VALUE
	OpGE = ">=" // KEY>=N
	OpLE = "<=" // KEY<=N
	OpGT = ">"  // KEY>N
	OpLT = "<"  // KEY<N
)

// Requirement keys understood against an EndpointRecord. Every key takes =
// and !=; the numeric ones take >=, <=, > and < too.
//
//   - cpus: the number of CPUs (Hardware.CPUs), a whole number.
//   - memory: the memory in bytes (Hardware.MemoryBytes). Values take a unit:
//     KB, MB, GB, TB, PB are powers of 1000; KiB, MiB, GiB, TiB, PiB powers of
//     1024; B is bytes; case does not matter ("memory>=64GiB", "1.5tb"). A
//     plain whole number is bytes.
//   - gpus: the number of GPUs, a whole number.
//   - gpu_memory: the memory of the largest GPU, in bytes, with units as for
//     memory. An endpoint without GPUs has 0.
//   - gpu, gpu_model: = matches when the model of any GPU contains the value,
//     ignoring case ("gpu_model=H200" matches "NVIDIA H200"); != when none does.
//   - arch: the architecture, ignoring case; x86_64 and x86-64 mean amd64,
//     aarch64 means arm64.
//   - os: the operating system, ignoring case; macos and osx mean darwin.
//   - python: a Python version, met when ANY of the endpoint's interpreters
//     meets it. The endpoint's version is compared at the precision the
//     requirement is written in, part by part and numerically: python>=3.10
//     is met by 3.10.2 and not by 3.9.18 (3.10 > 3.9); python<=3.11 and
//     python=3.11 are met by 3.11.7; python=3 by any 3.x.
//   - container: a container runtime the endpoint has (docker, podman,
//     apptainer), ignoring case.
//   - scheduler: the endpoint's batch scheduler (slurm, pbs), ignoring case.
//   - dataset: the name of a dataset the endpoint holds, exactly.
//   - label:K: the endpoint's label K, exactly. With >=, <=, > or < the label
//     and the value are compared as numbers (units allowed) or dotted
//     versions; a missing or non-numeric label does not meet the comparison.
//     K may hold any of [A-Za-z0-9_.:/-], as record label keys do.
//
// Any other key K is a label: K=V means label:K=V, and K!=V label:K!=V. An
// unknown key with >=, <=, > or < is never met: labels are compared
// numerically only when written label:K.
const (
	KeyCPUs        = "cpus"
	KeyMemory      = "memory"
	KeyGPUs        = "gpus"
	KeyGPUMemory   = "gpu_memory"
	KeyGPU         = "gpu"
	KeyGPUModel    = "gpu_model"
	KeyArch        = "arch"
	KeyOS          = "os"
	KeyPython      = "python"
	KeyContainer   = "container"
	KeyScheduler   = "scheduler"
	KeyDataset     = "dataset"
	KeyLabelPrefix = "label:"
)

// Errors of ParseRequirement. Each is wrapped, with the requirement and what
// was wanted, in a *fault.Error of kind Invalid.
var (
	ErrNoOperator  = errors.New("routing: requirement has no operator")
	ErrBadKey      = errors.New("routing: requirement key invalid")
	ErrBadOperator = errors.New("routing: requirement operator not allowed")
	ErrBadValue    = errors.New("routing: requirement value invalid")
)

const (
	maxRequirementKey   = 64
	maxRequirementValue = 128
	// MaxRequirements bounds the requirements of one request, as catalog
	// bounds those of a function.
	MaxRequirements = 64
)

// Requirement is one thing work needs of an endpoint: gpus>=1,
// memory>=64GiB, python>=3.10, dataset=cryo-2026, label:site=aps. Build it
// with ParseRequirement; the keys are documented at KeyCPUs.
type Requirement struct {
	Key   string
	Op    string
	Value string
}

// String writes the requirement as it was parsed: Key, Op, Value.
func (r Requirement) String() string { return r.Key + r.Op + r.Value }

// keyKind says how a known key's values are read.
type keyKind int

const (
	kindLabel   keyKind = iota // a label: any op, string or numeric
	kindCount                  // a whole number
	kindBytes                  // a byte count, units allowed
	kindVersion                // a dotted version
	kindString                 // = and != only
)

// knownKeys are the keys other than label:K and bare labels.
var knownKeys = map[string]keyKind{
	KeyCPUs:      kindCount,
	KeyMemory:    kindBytes,
	KeyGPUs:      kindCount,
	KeyGPUMemory: kindBytes,
	KeyGPU:       kindString,
	KeyGPUModel:  kindString,
	KeyArch:      kindString,
	KeyOS:        kindString,
	KeyPython:    kindVersion,
	KeyContainer: kindString,
	KeyScheduler: kindString,
	KeyDataset:   kindString,
}

// knownKeyList is knownKeys' names, sorted, for messages.
var knownKeyList = slices.Sorted(func(yield func(string) bool) {
	for k := range knownKeys {
		if !yield(k) {
			return
		}
	}
})

// ParseRequirement parses KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or
// KEY<N, without spaces. Keys are 1 to 64 of [a-z0-9_.:-], or label:K where K
// is 1 to 64 of [A-Za-z0-9_.:/-]. Values of = and != are 1 to 128 of
// [A-Za-z0-9_.:+/@-]; the value of a known numeric key (cpus, gpus, memory,
// gpu_memory, python) must be of its kind whatever the operator, and any
// comparison's value must be a number, a number with a byte unit, or a
// dotted version. A known key that is not numeric (arch, dataset, ...) takes
// only = and !=. Every error wraps one of ErrNoOperator, ErrBadKey,
// ErrBadOperator or ErrBadValue and has fault kind Invalid.
func ParseRequirement(s string) (Requirement, error) {
	i := strings.IndexAny(s, "<>=!")
	if i < 0 {
		return Requirement{}, invalidReq(ErrNoOperator, s, "want KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or KEY<N")
	}
	r := Requirement{Key: s[:i]}
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, ">="), strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "!="):
		r.Op, r.Value = rest[:2], rest[2:]
	case rest[0] == '!':
		return Requirement{}, invalidReq(ErrBadOperator, s, "! must be followed by =")
	default:
		r.Op, r.Value = rest[:1], rest[1:]
	}
	if err := r.validate(s); err != nil {
		return Requirement{}, err
	}
	return r, nil
}

// ParseRequirements parses each of ss (at most MaxRequirements), stopping at
// the first that does not parse.
func ParseRequirements(ss []string) ([]Requirement, error) {
	if len(ss) > MaxRequirements {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %d requirements, limit %d", ErrBadValue, len(ss), MaxRequirements))
	}
	out := make([]Requirement, 0, len(ss))
	for _, s := range ss {
		r, err := ParseRequirement(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func invalidReq(sentinel error, s, format string, args ...any) error {
	return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %q: %s", sentinel, s, fmt.Sprintf(format, args...)))
}

var (
	plainKey    = regexp.MustCompile(`^[a-z0-9_.:-]{1,64}$`)
	eqValue     = regexp.MustCompile(`^[A-Za-z0-9_.:+/@-]{1,128}$`)
	byteAmount  = regexp.MustCompile(`^(?i)([0-9]+(?:\.[0-9]+)?)([kmgtp]i?b|b)?$`)
	versionForm = regexp.MustCompile(`^[0-9]+(?:\.[0-9]+)*$`)
)

func (r Requirement) validate(s string) error {
	kind, err := r.kind()
	if err != nil {
		return invalidReq(ErrBadKey, s, "%v", err)
	}
	if r.Value == "" || len(r.Value) > maxRequirementValue {
		return invalidReq(ErrBadValue, s, "value must be 1 to %d bytes", maxRequirementValue)
	}
	numericOp := r.Op != OpEq && r.Op != OpNe
	if numericOp && kind == kindString {
		return invalidReq(ErrBadOperator, s, "%s takes only = and !=", r.Key)
	}
	switch kind {
	case kindCount:
		if _, ok := parseCount(r.Value); !ok {
			return invalidReq(ErrBadValue, s, "%s wants a whole number", r.Key)
		}
	case kindBytes:
		if _, ok := parseBytes(r.Value); !ok {
			return invalidReq(ErrBadValue, s, "%s wants bytes: a whole number, or a number with a unit (KB MB GB TB, KiB MiB GiB TiB)", r.Key)
		}
	case kindVersion:
		if _, ok := parseVersion(r.Value); !ok {
			return invalidReq(ErrBadValue, s, "%s wants a dotted version such as 3.10", r.Key)
		}
	default:
		if numericOp {
			if _, ok := parseNumeric(r.Value); !ok {
				return invalidReq(ErrBadValue, s, "%s wants a number, a number with a unit, or a dotted version", r.Op)
			}
		} else if !eqValue.MatchString(r.Value) {
			return invalidReq(ErrBadValue, s, "value may hold only [A-Za-z0-9_.:+/@-]")
		}
	}
	return nil
}

// kind classifies r.Key, or says why it is not a key.
func (r Requirement) kind() (keyKind, error) {
	if k, ok := strings.CutPrefix(r.Key, KeyLabelPrefix); ok {
		if !labelKey.MatchString(k) {
			return 0, fmt.Errorf("label key %q: want 1 to 64 of [A-Za-z0-9_.:/-]", k)
		}
		return kindLabel, nil
	}
	if !plainKey.MatchString(r.Key) {
		return 0, fmt.Errorf("key %q: want 1 to %d of [a-z0-9_.:-]", r.Key, maxRequirementKey)
	}
	if k, ok := knownKeys[r.Key]; ok {
		return k, nil
	}
	return kindLabel, nil
}

// parseCount parses a whole number.
func parseCount(s string) (uint64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

var unitBytes = map[string]int64{
	"b":  1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
}

// parseBytes parses a whole number of bytes, or a number (fraction allowed)
// with a unit, rounding a fractional byte down.
func parseBytes(s string) (uint64, bool) {
	m := byteAmount.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	if m[2] == "" {
		return parseCount(s)
	}
	num, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, false
	}
	num.Mul(num, new(big.Rat).SetInt64(unitBytes[strings.ToLower(m[2])]))
	n := new(big.Int).Quo(num.Num(), num.Denom())
	if !n.IsUint64() {
		return 0, false
	}
	return n.Uint64(), true
}

// parseVersion parses digits(.digits)*.
func parseVersion(s string) ([]uint64, bool) {
	if !versionForm.MatchString(s) {
		return nil, false
	}
	parts := strings.Split(s, ".")
	out := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// leadingVersion parses the version at the start of an interpreter's
// version string, ignoring a suffix: "3.13.0rc1" is 3.13.0.
func leadingVersion(s string) ([]uint64, bool) {
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	return parseVersion(strings.TrimRight(s[:end], "."))
}

// numeric is a value read for a comparison: a dotted version (a plain whole
// number is a version of one part) or, when it has a unit, a byte count.
type numeric struct {
	version []uint64
	bytes   uint64
	isBytes bool
}

func parseNumeric(s string) (numeric, bool) {
	if v, ok := parseVersion(s); ok {
		return numeric{version: v}, true
	}
	if b, ok := parseBytes(s); ok {
		return numeric{bytes: b, isBytes: true}, true
	}
	return numeric{}, false
}

// compareNumeric compares a and b, which must be of one form unless one is
// a whole number; ok is false when they cannot be compared.
func compareNumeric(a, b numeric) (int, bool) {
	if !a.isBytes && !b.isBytes {
		return compareVersions(a.version, b.version), true
	}
	x, ok1 := a.asBytes()
	y, ok2 := b.asBytes()
	if !ok1 || !ok2 {
		return 0, false
	}
	return compareUint(x, y), true
}

func (n numeric) asBytes() (uint64, bool) {
	if n.isBytes {
		return n.bytes, true
	}
	if len(n.version) == 1 {
		return n.version[0], true
	}
	return 0, false
}

// compareVersions compares dotted numbers part by part; missing parts are 0.
func compareVersions(a, b []uint64) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if c := compareUint(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func compareUint(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// holds reports whether comparison c (have against want) satisfies op.
func holds(op string, c int) bool {
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

// normArch maps an architecture's aliases to Go's names, lowercased.
func normArch(s string) string {
	s = strings.ToLower(s)
	switch s {
	case "x86_64", "x86-64", "x64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return s
}

// normOS maps an operating system's aliases to Go's names, lowercased.
func normOS(s string) string {
	s = strings.ToLower(s)
	switch s {
	case "macos", "osx":
		return "darwin"
	}
	return s
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
	kind, err := r.kind()
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
		return r.equal(hw.Arch != "" && normArch(hw.Arch) == normArch(r.Value), "has "+orNone(hw.Arch, "no arch"))
	case KeyOS:
		return r.equal(hw.OS != "" && normOS(hw.OS) == normOS(r.Value), "has "+orNone(hw.OS, "no os"))
	case KeyPython:
		return r.checkPython(sw.Python)
	case KeyContainer:
		found := slices.ContainsFunc(sw.Containers, func(c string) bool { return strings.EqualFold(c, r.Value) })
		return r.equal(found, "has "+listOr(sw.Containers, "no container runtime"))
	case KeyScheduler:
		return r.equal(sw.Scheduler != "" && strings.EqualFold(sw.Scheduler, r.Value), "has "+orNone(sw.Scheduler, "no scheduler"))
	case KeyDataset:
		return r.equal(slices.Contains(rec.Datasets, r.Value), "holds "+listOr(rec.Datasets, "no datasets"))
	}
	if kind != kindLabel {
		return false, "is not a valid requirement"
	}
	return r.checkLabel(rec.Labels)
}

// equal applies = or != to whether the endpoint has r.Value.
func (r Requirement) equal(found bool, have string) (bool, string) {
	switch r.Op {
	case OpEq:
		return found, have
	case OpNe:
		return !found, have
	}
	return false, "cannot compare " + r.Key + " with " + r.Op
}

func (r Requirement) compareCount(n uint64, have string) (bool, string) {
	want, ok := parseCount(r.Value)
	if !ok {
		return false, "wants a whole number"
	}
	return holds(r.Op, compareUint(n, want)), have
}

func (r Requirement) compareBytes(n uint64, have string) (bool, string) {
	want, ok := parseBytes(r.Value)
	if !ok {
		return false, "wants bytes"
	}
	return holds(r.Op, compareUint(n, want)), have
}

// checkPython is met when any of versions meets r, each compared at r's
// precision (= is then a prefix match).
func (r Requirement) checkPython(versions []string) (bool, string) {
	want, ok := parseVersion(r.Value)
	if !ok {
		return false, "wants a dotted version"
	}
	have := "has " + listOr(versions, "no python")
	for _, s := range versions {
		v, ok := leadingVersion(s)
		if !ok {
			continue
		}
		if len(v) > len(want) {
			v = v[:len(want)]
		}
		if holds(r.Op, compareVersions(v, want)) {
			return true, ""
		}
	}
	return false, have
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
			k, strings.Join(knownKeyList, ", "), k)
	}
	if !present {
		return false, have
	}
	a, ok1 := parseNumeric(v)
	b, ok2 := parseNumeric(r.Value)
	if !ok1 || !ok2 {
		return false, have + ", not a number"
	}
	c, ok := compareNumeric(a, b)
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
