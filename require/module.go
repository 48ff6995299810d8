package require

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxModuleName bounds the name of a Python distribution, in bytes, in a
// module= requirement and in an endpoint record.
const MaxModuleName = 100

// Module is the value of a module= requirement: a Python distribution
// (Name, as NormalizeModule writes it) and, when written NAME>=VERSION, the
// least version wanted (Min, nil for any).
type Module struct {
	Name string
	Min  []uint64
}

var moduleName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)

// ValidModuleName reports whether s may name a Python distribution: 1 to
// MaxModuleName of [A-Za-z0-9._-], starting and ending with a letter or
// digit (the names PEP 508 allows).
func ValidModuleName(s string) bool { return len(s) <= MaxModuleName && moduleName.MatchString(s) }

// ParseModule reads the value of a module= requirement: NAME, or
// NAME>=VERSION with VERSION a dotted version of digits ("numpy>=1.26").
// The name is returned normalised (NormalizeModule).
func ParseModule(s string) (Module, error) {
	name, min, hasMin := strings.Cut(s, ">=")
	if !ValidModuleName(name) {
		return Module{}, fmt.Errorf("module wants a Python distribution NAME or NAME>=VERSION, NAME being 1 to %d of [A-Za-z0-9._-] starting and ending with a letter or digit", MaxModuleName)
	}
	m := Module{Name: NormalizeModule(name)}
	if hasMin {
		v, ok := ParseVersion(min)
		if !ok {
			return Module{}, fmt.Errorf("module wants NAME>=VERSION with VERSION a dotted version such as 1.26, not %q", min)
		}
		m.Min = v
	}
	return m, nil
}

// NormalizeModule writes a Python distribution's name as PEP 503 compares
// them: lower case, each run of -, _ and . one -. Scikit_Learn and
// scikit-learn are scikit-learn; an import name such as foo_bar becomes the
// name of the distribution foo-bar.
func NormalizeModule(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	sep := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ModuleVersion reads the release numbers at the start of a distribution's
// version as its metadata writes it (PEP 440): "1.26.4" is 1.26.4,
// "2.0.0rc1" 2.0.0 (a pre-release counts as its release), "1!2.0" 2.0 (the
// epoch is dropped). ok is false when it starts with no number.
func ModuleVersion(s string) ([]uint64, bool) {
	if _, rest, ok := strings.Cut(s, "!"); ok {
		s = rest
	}
	return LeadingVersion(strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V"))
}
