package require

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
)

// Op is a requirement's operator.
type Op string

// The operators.
const (
	OpEq Op = "="  // KEY=VALUE
	OpNe Op = "!=" // KEY!=VALUE
	OpGE Op = ">=" // KEY>=N
	OpLE Op = "<=" // KEY<=N
	OpGT Op = ">"  // KEY>N
	OpLT Op = "<"  // KEY<N
)

// Compares reports whether op orders values (>=, <=, >, <) rather than
// testing them for equality (=, !=).
func (op Op) Compares() bool {
	switch op {
	case OpGE, OpLE, OpGT, OpLT:
		return true
	}
	return false
}

// The keys with a meaning of their own; the package doc says what each
// takes. Any other key is a label.
const (
	KeyCPUs      = "cpus"
	KeyMemory    = "memory"
	KeyGPUs      = "gpus"
	KeyGPUMemory = "gpu_memory"
	KeyGPU       = "gpu"
	KeyGPUModel  = "gpu_model"
	KeyArch      = "arch"
	KeyOS        = "os"
	KeyPython    = "python"
	KeyContainer = "container"
	KeyScheduler = "scheduler"
	KeyDataset   = "dataset"
	KeyImage     = "image"
	KeyModule    = "module"
	// KeyLabelPrefix starts the key of a label written in full, label:K.
	KeyLabelPrefix = "label:"
)

// Errors of Parse and ParseAll. Each is wrapped, with the requirement and
// what was wanted, in a *fault.Error of kind Invalid.
var (
	ErrNoOperator  = errors.New("require: requirement has no operator")
	ErrBadKey      = errors.New("require: requirement key invalid")
	ErrBadOperator = errors.New("require: requirement operator not allowed")
	ErrBadValue    = errors.New("require: requirement value invalid")
)

// Bounds of requirements.
const (
	// MaxKey bounds a key other than label:K, in bytes; MaxLabelKey bounds
	// the K of label:K.
	MaxKey      = 64
	MaxLabelKey = 64
	// MaxValue bounds a value, in bytes.
	MaxValue = 128
	// MaxRequirements bounds the requirements of one function or request.
	MaxRequirements = 64
)

// Requirement is one thing work needs of an endpoint, as written: Key, Op
// and Value. Build it with Parse, which accepts only what the package doc's
// grammar allows.
type Requirement struct {
	Key   string
	Op    Op
	Value string
}

// String writes the requirement as it was parsed: Key, Op, Value.
func (r Requirement) String() string { return r.Key + string(r.Op) + r.Value }

// Form says how the values of a key are read.
type Form int

// The forms.
const (
	// FormLabel: label:K and unknown keys. = and != compare words; a
	// comparison's value is a Number.
	FormLabel Form = iota
	// FormCount: a whole number (cpus, gpus).
	FormCount
	// FormBytes: a byte size, units allowed (memory, gpu_memory).
	FormBytes
	// FormVersion: a dotted version (python).
	FormVersion
	// FormWord: a word, compared for equality only (arch, dataset, ...).
	FormWord
	// FormModule: a Python distribution, NAME or NAME>=VERSION (module),
	// with = and != only.
	FormModule
)

// forms are the forms of the keys other than labels.
var forms = map[string]Form{
	KeyCPUs:      FormCount,
	KeyMemory:    FormBytes,
	KeyGPUs:      FormCount,
	KeyGPUMemory: FormBytes,
	KeyGPU:       FormWord,
	KeyGPUModel:  FormWord,
	KeyArch:      FormWord,
	KeyOS:        FormWord,
	KeyPython:    FormVersion,
	KeyContainer: FormWord,
	KeyScheduler: FormWord,
	KeyDataset:   FormWord,
	KeyImage:     FormWord,
	KeyModule:    FormModule,
}

// knownKeys are forms' keys, sorted.
var knownKeys = slices.Sorted(func(yield func(string) bool) {
	for k := range forms {
		if !yield(k) {
			return
		}
	}
})

// KnownKeys returns the keys with a meaning of their own (not labels),
// sorted.
func KnownKeys() []string { return slices.Clone(knownKeys) }

var (
	plainKey = regexp.MustCompile(`^[a-z0-9_.:-]{1,64}$`)
	labelKey = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,64}$`)
	word     = regexp.MustCompile(`^[A-Za-z0-9_.:+/@-]{1,128}$`)
)

// ValidWord reports whether s is a word of the grammar: 1 to MaxValue of
// [A-Za-z0-9_.:+/@-], as the value of a key of FormWord must be. Endpoint
// records' image names follow it.
func ValidWord(s string) bool { return word.MatchString(s) }

// ValidLabelKey reports whether k may name a label: 1 to MaxLabelKey of
// [A-Za-z0-9_.:/-]. Endpoint records' label keys and the K of label:K
// follow it.
func ValidLabelKey(k string) bool { return labelKey.MatchString(k) }

// Form classifies r.Key, or says why it is not a key.
func (r Requirement) Form() (Form, error) {
	if k, ok := strings.CutPrefix(r.Key, KeyLabelPrefix); ok {
		if !ValidLabelKey(k) {
			return 0, fmt.Errorf("label key %q: want 1 to %d of [A-Za-z0-9_.:/-]", k, MaxLabelKey)
		}
		return FormLabel, nil
	}
	if !plainKey.MatchString(r.Key) {
		return 0, fmt.Errorf("key %q: want 1 to %d of [a-z0-9_.:-]", r.Key, MaxKey)
	}
	if f, ok := forms[r.Key]; ok {
		return f, nil
	}
	return FormLabel, nil
}

// Label returns the label r names, and whether it names one: K for label:K
// and for an unknown key K.
func (r Requirement) Label() (k string, ok bool) {
	if f, err := r.Form(); err != nil || f != FormLabel {
		return "", false
	}
	k, _ = strings.CutPrefix(r.Key, KeyLabelPrefix)
	return k, true
}

// Parse parses KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or KEY<N,
// without spaces, by the grammar of the package doc. The value of a key
// with a form (cpus, memory, python, ...) must be of that form whatever the
// operator; a key of FormWord takes only = and !=. Every error has fault
// kind Invalid and wraps ErrNoOperator, ErrBadKey, ErrBadOperator or
// ErrBadValue.
func Parse(s string) (Requirement, error) {
	i := strings.IndexAny(s, "<>=!")
	if i < 0 {
		return Requirement{}, refuse(ErrNoOperator, s, "want KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or KEY<N")
	}
	r := Requirement{Key: s[:i]}
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, ">="), strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "!="):
		r.Op, r.Value = Op(rest[:2]), rest[2:]
	case rest[0] == '!':
		return Requirement{}, refuse(ErrBadOperator, s, "! must be followed by =")
	default:
		r.Op, r.Value = Op(rest[:1]), rest[1:]
	}
	if err := r.check(s); err != nil {
		return Requirement{}, err
	}
	return r, nil
}

// ParseAll parses each of ss (at most MaxRequirements), stopping at the
// first that does not parse.
func ParseAll(ss []string) ([]Requirement, error) {
	if len(ss) > MaxRequirements {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %d requirements, limit %d", ErrBadValue, len(ss), MaxRequirements))
	}
	out := make([]Requirement, 0, len(ss))
	for _, s := range ss {
		r, err := Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// refuse builds Parse's error: sentinel, the requirement s quoted, and why.
func refuse(sentinel error, s, format string, args ...any) error {
	return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %q: %s", sentinel, s, fmt.Sprintf(format, args...)))
}

// check checks r, parsed from s, against the grammar.
func (r Requirement) check(s string) error {
	form, err := r.Form()
	if err != nil {
		return refuse(ErrBadKey, s, "%v", err)
	}
	if r.Value == "" || len(r.Value) > MaxValue {
		return refuse(ErrBadValue, s, "value must be 1 to %d bytes", MaxValue)
	}
	if r.Op.Compares() && (form == FormWord || form == FormModule) {
		return refuse(ErrBadOperator, s, "%s takes only = and !=", r.Key)
	}
	switch form {
	case FormCount:
		if _, ok := ParseCount(r.Value); !ok {
			return refuse(ErrBadValue, s, "%s wants a whole number", r.Key)
		}
	case FormBytes:
		if _, ok := ParseBytes(r.Value); !ok {
			return refuse(ErrBadValue, s, "%s wants bytes: a whole number, or a number with a unit (KB MB GB TB, KiB MiB GiB TiB)", r.Key)
		}
	case FormVersion:
		if _, ok := ParseVersion(r.Value); !ok {
			return refuse(ErrBadValue, s, "%s wants a dotted version such as 3.10", r.Key)
		}
	case FormModule:
		if _, err := ParseModule(r.Value); err != nil {
			return refuse(ErrBadValue, s, "%v", err)
		}
	default:
		if r.Op.Compares() {
			if _, ok := ParseNumber(r.Value); !ok {
				return refuse(ErrBadValue, s, "%s wants a number, a number with a unit, or a dotted version", r.Op)
			}
		} else if !word.MatchString(r.Value) {
			return refuse(ErrBadValue, s, "value may hold only [A-Za-z0-9_.:+/@-]")
		}
	}
	return nil
}
