package require

import (
	"cmp"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

var (
	byteSize    = regexp.MustCompile(`^(?i)([0-9]+(?:\.[0-9]+)?)([kmgtp]i?b|b)?$`)
	dottedDigit = regexp.MustCompile(`^[0-9]+(?:\.[0-9]+)*$`)
)

// ParseCount parses a whole number of decimal digits, without sign.
func ParseCount(s string) (uint64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// unitBytes is the size of each byte unit, by its lower-case name.
var unitBytes = map[string]int64{
	"b":  1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
}

// ParseBytes parses a byte size: a whole number of bytes, or a number
// (fraction allowed) with a unit of the package doc, in any case. A
// fractional byte is rounded down ("1.0001KB" is 1000); a size over 2^64-1
// does not parse.
func ParseBytes(s string) (uint64, bool) {
	m := byteSize.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	if m[2] == "" {
		return ParseCount(s)
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

// ParseVersion parses a dotted version, digits(.digits)*, into its parts.
func ParseVersion(s string) ([]uint64, bool) {
	if !dottedDigit.MatchString(s) {
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

// LeadingVersion parses the version at the start of an interpreter's
// version string, ignoring what follows: "3.13.0rc1" is 3.13.0.
func LeadingVersion(s string) ([]uint64, bool) {
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	return ParseVersion(strings.TrimRight(s[:end], "."))
}

// CompareVersions compares dotted versions part by part, numerically
// (3.10 is above 3.9); a missing part is 0 (3.10 equals 3.10.0). It returns
// -1, 0 or 1.
func CompareVersions(a, b []uint64) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// Number is the value of a comparison on a label: a dotted version (a plain
// whole number is a version of one part) or, written with a unit, a byte
// size.
type Number struct {
	version []uint64
	bytes   uint64
	isBytes bool
}

// ParseNumber parses a dotted version, or else a byte size with a unit.
func ParseNumber(s string) (Number, bool) {
	if v, ok := ParseVersion(s); ok {
		return Number{version: v}, true
	}
	if b, ok := ParseBytes(s); ok {
		return Number{bytes: b, isBytes: true}, true
	}
	return Number{}, false
}

// Compare compares n with m as CompareVersions does when neither is a byte
// size, and as byte counts when one is (a whole number then counts bytes).
// ok is false when they cannot be compared: a byte size and a version of
// more than one part.
func (n Number) Compare(m Number) (c int, ok bool) {
	if !n.isBytes && !m.isBytes {
		return CompareVersions(n.version, m.version), true
	}
	x, ok1 := n.asBytes()
	y, ok2 := m.asBytes()
	if !ok1 || !ok2 {
		return 0, false
	}
	return cmp.Compare(x, y), true
}

func (n Number) asBytes() (uint64, bool) {
	if n.isBytes {
		return n.bytes, true
	}
	if len(n.version) == 1 {
		return n.version[0], true
	}
	return 0, false
}

// NormalizeArch returns an architecture's name as Go writes it, lowercased:
// x86_64, x86-64 and x64 are amd64, aarch64 is arm64.
func NormalizeArch(s string) string {
	s = strings.ToLower(s)
	switch s {
	case "x86_64", "x86-64", "x64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return s
}

// NormalizeOS returns an operating system's name as Go writes it,
// lowercased: macos and osx are darwin.
func NormalizeOS(s string) string {
	s = strings.ToLower(s)
	switch s {
	case "macos", "osx":
		return "darwin"
	}
	return s
}

// NormalizeImage returns the name by which container runtimes know image
// reference s, so that two references to one image compare equal: the
// default registry is dropped (docker.io/library/busybox and
// docker.io/busybox are busybox), so is the localhost/ under which Podman
// keeps the images it imported or built (localhost/x/y:1 is x/y:1), and a
// reference with neither tag nor digest gets the tag latest (busybox is
// busybox:latest). Digests are kept as written.
func NormalizeImage(s string) string {
	name, digest, hasDigest := strings.Cut(s, "@")
	for _, p := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/", "localhost/", "library/"} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" {
			name = rest
			break
		}
	}
	if hasDigest {
		return name + "@" + digest
	}
	last := name[strings.LastIndexByte(name, '/')+1:]
	if !strings.Contains(last, ":") {
		name += ":latest"
	}
	return name
}
