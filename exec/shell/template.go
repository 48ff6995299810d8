package shell

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
)

// MaxTemplateBytes bounds a template's length.
const MaxTemplateBytes = 64 << 10

// Template is a parsed command template: words, each a run of literal text
// and placeholders, the first naming the program. Its zero value is no
// template; make one with Parse.
type Template struct {
	words [][]part
	// shell is the first unquoted shell operator, if any (see ShellSyntax).
	shell Syntax
}

// Syntax is shell syntax a template holds outside quotes: Op (such as
// "|", ">", "&&", ";", "$(", "`" or "$HOME") at byte Offset.
type Syntax struct {
	Op     string
	Offset int
}

// ShellSyntax returns the first shell operator the template holds outside
// quotes and unescaped: a pipe, a redirection, a list (;, &, &&, ||), a
// command substitution ($( or `) or a variable ($NAME). No shell reads a
// template, so each is passed to the program as literal text, which is
// seldom what its author meant; fx refuses such templates at registration.
// A quoted operator (grep 'a|b') is not reported.
func (t Template) ShellSyntax() (Syntax, bool) { return t.shell, t.shell.Op != "" }

// shellOp returns the shell operator that starts at s[i], outside quotes,
// or "".
func shellOp(s string, i int) string {
	next := byte(0)
	if i+1 < len(s) {
		next = s[i+1]
	}
	switch c := s[i]; c {
	case '|', '&', '>', '<':
		if next == c || (c == '>' && next == '&') {
			return s[i : i+2]
		}
		return string(c)
	case ';', '`':
		return string(c)
	case '$':
		switch {
		case next == '(':
			return "$("
		case next == '_' || 'a' <= next && next <= 'z' || 'A' <= next && next <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || '0' <= s[j] && s[j] <= '9') {
				j++
			}
			return s[i:j]
		}
	}
	return ""
}

// part is a piece of a word: literal text, or a placeholder when name is
// set.
type part struct {
	text string
	name string
}

// Parse parses a command template (the grammar is in the package
// documentation). Errors are fault.Invalid and say where.
func Parse(s string) (Template, error) {
	if len(s) > MaxTemplateBytes {
		return Template{}, invalidf("template of %d bytes, over %d", len(s), MaxTemplateBytes)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return Template{}, invalidf("NUL byte at offset %d", i)
	}
	var (
		t      Template
		word   []part
		lit    strings.Builder
		inWord bool
	)
	flush := func() {
		if lit.Len() > 0 {
			word = append(word, part{text: lit.String()})
			lit.Reset()
		}
	}
	endWord := func() {
		flush()
		if inWord {
			if word == nil {
				word = []part{{}} // '' or "": an empty argument
			}
			t.words = append(t.words, word)
		}
		word, inWord = nil, false
	}
	// brace handles a '{' or '}' at s[i] and returns the index after it.
	brace := func(i int) (int, error) {
		if i+1 < len(s) && s[i+1] == s[i] { // {{ or }}
			lit.WriteByte(s[i])
			return i + 2, nil
		}
		if s[i] == '}' {
			return 0, invalidf("unmatched '}' at offset %d (write '}}' for a literal brace)", i)
		}
		end := strings.IndexByte(s[i+1:], '}')
		if end < 0 || !isName(s[i+1:i+1+end]) {
			return 0, invalidf("'{' at offset %d opens no {name} placeholder (write '{{' for a literal brace)", i)
		}
		flush()
		word = append(word, part{name: s[i+1 : i+1+end]})
		return i + end + 2, nil
	}
	var err error
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			endWord()
			i++
		case '{', '}':
			inWord = true
			if i, err = brace(i); err != nil {
				return Template{}, err
			}
		case '\\':
			inWord = true
			if i+1 == len(s) {
				return Template{}, invalidf("trailing '\\' at offset %d", i)
			}
			lit.WriteByte(s[i+1])
			i += 2
		case '\'', '"':
			inWord = true
			open := i
			for i++; ; {
				if i == len(s) {
					return Template{}, invalidf("unterminated %c quote from offset %d", c, open)
				}
				switch d := s[i]; {
				case d == c:
					i++
				case d == '{' || d == '}':
					if i, err = brace(i); err != nil {
						return Template{}, err
					}
					continue
				case c == '"' && d == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
					lit.WriteByte(s[i+1])
					i += 2
					continue
				default:
					lit.WriteByte(d)
					i++
					continue
				}
				break
			}
		default:
			if t.shell.Op == "" {
				if op := shellOp(s, i); op != "" {
					t.shell = Syntax{Op: op, Offset: i}
				}
			}
			inWord = true
			lit.WriteByte(c)
			i++
		}
	}
	endWord()
	if len(t.words) == 0 {
		return Template{}, invalidf("empty template")
	}
	for _, p := range t.words[0] {
		if p.name != "" {
			return Template{}, invalidf("the program, the first word, has placeholder {%s}: it must be literal", p.name)
		}
	}
	if t.words[0][0].text == "" && len(t.words[0]) == 1 {
		return Template{}, invalidf("empty program name")
	}
	return t, nil
}

func invalidf(format string, args ...any) error {
	return fault.E(fault.Invalid, "exec/shell: template", format, args...)
}

// isName reports whether s is a placeholder name: [A-Za-z_][A-Za-z0-9_]*.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// Names returns the placeholders' names, sorted, each once.
func (t Template) Names() []string {
	var names []string
	for _, w := range t.words {
		for _, p := range w {
			if p.name != "" {
				names = append(names, p.name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Expand returns the template's argv with each placeholder replaced by its
// value, verbatim: no value is split, quoted or otherwise interpreted.
// Errors (a placeholder without a value, a value naming no placeholder, a
// NUL byte) are fault.Invalid.
func (t Template) Expand(values map[string]string) ([]string, error) {
	if len(t.words) == 0 {
		return nil, invalidf("empty template")
	}
	used := 0
	names := t.Names()
	for _, n := range names {
		if _, ok := values[n]; !ok {
			return nil, fault.E(fault.Invalid, "exec/shell", "missing argument %q (the command takes %s)", n, strings.Join(names, ", "))
		}
		used++
	}
	if used != len(values) {
		for k := range values {
			if !slices.Contains(names, k) {
				return nil, fault.E(fault.Invalid, "exec/shell", "unknown argument %q (the command takes %s)", k, describe(names))
			}
		}
	}
	argv := make([]string, len(t.words))
	var b strings.Builder
	for i, w := range t.words {
		if len(w) == 1 {
			argv[i] = w[0].text
			if w[0].name != "" {
				argv[i] = values[w[0].name]
			}
		} else {
			b.Reset()
			for _, p := range w {
				if p.name != "" {
					b.WriteString(values[p.name])
				} else {
					b.WriteString(p.text)
				}
			}
			argv[i] = b.String()
		}
		if strings.IndexByte(argv[i], 0) >= 0 {
			return nil, fault.E(fault.Invalid, "exec/shell", "argument %d holds a NUL byte", i)
		}
	}
	return argv, nil
}

func describe(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Values converts a task's kwargs, a JSON object, to placeholder values:
// strings as they are, numbers as written (exponents spelled out: 1e3 is
// "1000"), booleans as "true" and "false". Other values are fault.Invalid.
func Values(kwargs json.RawMessage) (map[string]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(kwargs, &m); err != nil {
		return nil, fault.E(fault.Invalid, "exec/shell", "kwargs: %v", err)
	}
	values := make(map[string]string, len(m))
	for k, raw := range m {
		v, err := value(raw)
		if err != nil {
			return nil, fault.E(fault.Invalid, "exec/shell", "argument %q: %v", k, err)
		}
		values[k] = v
	}
	return values, nil
}

// value converts one JSON value to an argument.
func value(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", fmt.Errorf("empty")
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case 't', 'f':
		var b bool
		err := json.Unmarshal(raw, &b)
		return strconv.FormatBool(b), err
	case 'n':
		return "", fmt.Errorf("null is not an argument")
	case '[', '{':
		return "", fmt.Errorf("arrays and objects are not arguments; pass a string, number or bool")
	}
	s := string(raw)
	if !strings.ContainsAny(s, "eE") {
		return s, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return "", fmt.Errorf("number %s out of range", s)
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}
