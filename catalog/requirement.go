package catalog

import (
	"strconv"
	"strings"
)

// Requirement operators.
const (
	OpEq = "="  // KEY=VALUE: the endpoint's value equals VALUE
	OpNe = "!=" // KEY!=VALUE
	OpGE = ">=" // KEY>=N
	OpLE = "<=" // KEY<=N
	OpGT = ">"  // KEY>N
	OpLT = "<"  // KEY<N
)

const (
	maxRequirementKey   = 64
	maxRequirementValue = 128
)

// Requirement is one parsed requirement of a function, such as gpus>=1,
// python>=3.10 or dataset=cryo-2026. Keys are [a-z0-9_.:-]+. With = the value
// is any of [A-Za-z0-9_.:+/@-]+; with the other operators it is a number or a
// dotted version (digits separated by dots), compared part by part.
type Requirement struct {
	Key   string
	Op    string
	Value string
}

// ParseRequirement parses KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or
// KEY<N, without spaces; N may carry a unit (64GiB). This is the syntax only:
// package routing gives requirements their meaning. Routing and the CLI use it; Function validation requires each of
// Requirements to parse and to be written as Requirement.String writes it.
func ParseRequirement(s string) (Requirement, error) {
	i := strings.IndexAny(s, "<>=!")
	if i < 0 {
		return Requirement{}, invalid("requirement %q: no operator (=, !=, >=, <=, >, <)", s)
	}
	r := Requirement{Key: s[:i]}
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, ">="), strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "!="):
		r.Op, r.Value = rest[:2], rest[2:]
	default:
		r.Op, r.Value = rest[:1], rest[1:]
	}
	if err := r.validate(); err != nil {
		return Requirement{}, err
	}
	return r, nil
}

func (r Requirement) validate() error {
	keyOK := allIn(r.Key, isKeyByte)
	if label, ok := strings.CutPrefix(r.Key, "label:"); ok {
		keyOK = label != "" && allIn(label, isLabelByte)
	}
	if r.Key == "" || len(r.Key) > maxRequirementKey || !keyOK {
		return invalid("requirement key %q: want 1 to %d of [a-z0-9_.:-], or label:NAME", r.Key, maxRequirementKey)
	}
	if r.Value == "" || len(r.Value) > maxRequirementValue {
		return invalid("requirement %s%s: value must be 1 to %d bytes", r.Key, r.Op, maxRequirementValue)
	}
	switch r.Op {
	case OpEq, OpNe:
		if !allIn(r.Value, isValueByte) {
			return invalid("requirement %s=%q: value may hold only [A-Za-z0-9_.:+/@-]", r.Key, r.Value)
		}
	case OpGE, OpLE, OpGT, OpLT:
		if _, ok := parseNumber(strings.TrimRight(r.Value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")); !ok {
			return invalid("requirement %s%s%q: want a number, a dotted version or a size such as 64GiB", r.Key, r.Op, r.Value)
		}
	default:
		return invalid("requirement %s: unknown operator %q", r.Key, r.Op)
	}
	return nil
}

// String writes the requirement in its one canonical form.
func (r Requirement) String() string { return r.Key + r.Op + r.Value }

// Satisfies reports whether an endpoint whose value for Key is have meets the
// requirement. Comparisons are numeric, part by part ("3.10" > "3.9"); a
// have that is not a number never meets a comparison.
func (r Requirement) Satisfies(have string) bool {
	if r.Op == OpEq {
		return have == r.Value
	}
	a, ok1 := parseNumber(have)
	b, ok2 := parseNumber(r.Value)
	if !ok1 || !ok2 {
		return false
	}
	c := compareNumbers(a, b)
	switch r.Op {
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

// parseNumber parses digits(.digits)*.
func parseNumber(s string) ([]uint64, bool) {
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
	out := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" || !allIn(p, func(c byte) bool { return c >= '0' && c <= '9' }) {
			return nil, false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// compareNumbers compares dotted numbers part by part; missing parts are 0.
func compareNumbers(a, b []uint64) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-'
}

func isLabelByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || isKeyByte(c) || c == '/'
}

func isValueByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("_.:+/@-", c) >= 0
}

func allIn(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
