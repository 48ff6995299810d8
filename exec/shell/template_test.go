package shell

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

func TestParse(t *testing.T) {
	vals := map[string]string{"a": "A A", "b": "", "file": "f;x", "w": "3", "h": "4"}
	tests := []struct {
		name     string
		template string
		want     []string // argv, with vals
		names    []string
		wantErr  string
	}{
		{"words", "echo  a\tb\nc ", []string{"echo", "a", "b", "c"}, nil, ""},
		{"placeholder", "echo {a}", []string{"echo", "A A"}, []string{"a"}, ""},
		{"empty value", "echo {b} x", []string{"echo", "", "x"}, []string{"b"}, ""},
		{"in a word", "cmd --out={file}.txt", []string{"cmd", "--out=f;x.txt"}, []string{"file"}, ""},
		{"several in a word", "convert '{w}x{h}' {w}{h}", []string{"convert", "3x4", "34"}, []string{"h", "w"}, ""},
		{"twice", "echo {a} {a}", []string{"echo", "A A", "A A"}, []string{"a"}, ""},
		{"single quotes", "echo 'x  y' 'a\"b\\c'", []string{"echo", "x  y", `a"b\c`}, nil, ""},
		{"double quotes", `echo "x  y" "q\"b\\s\n"`, []string{"echo", "x  y", `q"b\s\n`}, nil, ""},
		{"adjacent quotes", `echo a'b c'"d e"f`, []string{"echo", "ab cd ef"}, nil, ""},
		{"empty quotes", `echo '' "" x''`, []string{"echo", "", "", "x"}, nil, ""},
		{"backslash", `echo a\ b \' \" \{ \\`, []string{"echo", "a b", "'", `"`, "{", `\`}, nil, ""},
		{"brace escapes", "awk '{{print $1}}' {{}} }}{{", []string{"awk", "{print $1}", "{}", "}{"}, nil, ""},
		{"placeholder in quotes", `echo "<{a}>" '<{a}>'`, []string{"echo", "<A A>", "<A A>"}, []string{"a"}, ""},
		{"dollar and glob are literal", "echo $HOME * ~ ; |", []string{"echo", "$HOME", "*", "~", ";", "|"}, nil, ""},
		{"program path", "./run.sh {a}", []string{"./run.sh", "A A"}, []string{"a"}, ""},

		{"empty", "", nil, nil, "empty template"},
		{"blank", " \t\n", nil, nil, "empty template"},
		{"empty program", "'' x", nil, nil, "empty program"},
		{"placeholder program", "{a} x", nil, nil, "must be literal"},
		{"placeholder in program", "run{a}", nil, nil, "must be literal"},
		{"unterminated single", "echo 'abc", nil, nil, "unterminated ' quote from offset 5"},
		{"unterminated double", `echo "abc\"`, nil, nil, `unterminated " quote`},
		{"trailing backslash", `echo \`, nil, nil, "trailing"},
		{"lone open brace", "echo {", nil, nil, "opens no {name}"},
		{"lone close brace", "echo }", nil, nil, "unmatched '}'"},
		{"bad name", "echo {1a}", nil, nil, "opens no {name}"},
		{"blank in name", "echo {a b}", nil, nil, "opens no {name}"},
		{"awk unescaped", "awk '{print $1}'", nil, nil, "opens no {name}"},
		{"too long", "echo " + strings.Repeat("x", MaxTemplateBytes), nil, nil, "over"},
		{"nul", "echo a\x00b", nil, nil, "NUL byte at offset 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.template)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !fault.Is(err, fault.Invalid) {
					t.Fatalf("Parse = %v, want an invalid error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := tmpl.Names(); !slices.Equal(got, tc.names) {
				t.Errorf("Names = %q, want %q", got, tc.names)
			}
			v := map[string]string{}
			for _, n := range tc.names {
				v[n] = vals[n]
			}
			argv, err := tmpl.Expand(v)
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if !slices.Equal(argv, tc.want) {
				t.Fatalf("argv = %q, want %q", argv, tc.want)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	tmpl, err := Parse("echo {a} {b}")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		vals map[string]string
		want string
	}{
		{"missing", map[string]string{"a": "1"}, `missing argument "b" (the command takes a, b)`},
		{"unknown", map[string]string{"a": "1", "b": "2", "c": "3"}, `unknown argument "c"`},
		{"nul", map[string]string{"a": "x\x00y", "b": ""}, "NUL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tmpl.Expand(tc.vals)
			if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Expand = %v, want an invalid error with %q", err, tc.want)
			}
		})
	}
	if _, err := (Template{}).Expand(nil); err == nil {
		t.Error("the zero Template expanded")
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		name    string
		kwargs  string
		want    map[string]string
		wantErr string
	}{
		{"kinds", `{"s":"x y","i":42,"f":-0.25,"big":12345678901234567890,"e":2.5E-3,"t":true,"n":false}`,
			map[string]string{"s": "x y", "i": "42", "f": "-0.25", "big": "12345678901234567890", "e": "0.0025", "t": "true", "n": "false"}, ""},
		{"escapes", `{"s":"a\"b\u00e9\n"}`, map[string]string{"s": "a\"bé\n"}, ""},
		{"empty", `{}`, map[string]string{}, ""},
		{"null", `{"a":null}`, nil, "null is not an argument"},
		{"array", `{"a":[1]}`, nil, "arrays and objects"},
		{"huge exponent", `{"a":1e999}`, nil, "out of range"},
		{"not an object", `[1]`, nil, "kwargs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Values(json.RawMessage(tc.kwargs))
			if tc.wantErr != "" {
				if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Values = %v, want an invalid error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Values = %q, want %q", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// FuzzParse: no template makes Parse or Expand panic, and values always
// arrive verbatim: a word that is one placeholder expands to exactly its
// value, and no value adds or removes words.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"echo {msg}", `sh -c "exit {code}"`, "a '{x}' \"{y}\" --o={z}.txt", "awk '{{print}}'",
		`x \{ \\ '' ""`, "echo {", "echo }", "'", `"\"`, "{a}", "x {a}{b}{a}",
	} {
		f.Add(s, "; touch /tmp/pwned 'x' \"y\" {z}")
	}
	f.Fuzz(func(t *testing.T, s, value string) {
		tmpl, err := Parse(s)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("Parse error of kind %s: %v", fault.KindOf(err), err)
			}
			return
		}
		vals := map[string]string{}
		for _, n := range tmpl.Names() {
			vals[n] = value
		}
		argv, err := tmpl.Expand(vals)
		if strings.IndexByte(value, 0) >= 0 {
			return // refused, or no placeholder took it
		}
		if err != nil {
			t.Fatalf("Expand: %v", err)
		}
		if len(argv) != len(tmpl.words) || argv[0] == "" && len(tmpl.words[0]) == 1 {
			t.Fatalf("%q: argv %q from %d words", s, argv, len(tmpl.words))
		}
		for i, w := range tmpl.words {
			if len(w) == 1 && w[0].name != "" && argv[i] != value {
				t.Fatalf("%q: word %d is {%s} but expanded to %q, not %q", s, i, w[0].name, argv[i], value)
			}
		}
		// The same template with other values gives as many words.
		for n := range vals {
			vals[n] = "x"
		}
		if argv2, err := tmpl.Expand(vals); err != nil || len(argv2) != len(argv) {
			t.Fatalf("%q: %d words with one value, %d with another (%v)", s, len(argv), len(argv2), err)
		}
	})
}

// TestShellSyntax: operators a shell would interpret are reported when
// unquoted and unescaped, with where they are; quoted ones are text.
func TestShellSyntax(t *testing.T) {
	tests := []struct {
		template string
		op       string // "" for none
		offset   int
	}{
		{"grep {pattern} {file} | wc -l", "|", 22},
		{"sort {file} > out.txt", ">", 12},
		{"make && make install", "&&", 5},
		{"echo $(date)", "$(", 5},
		{"echo `date`", "`", 5},
		{"cd /tmp; ls", ";", 7},
		{"echo $HOME", "$HOME", 5},
		{"run {a} 2>&1", ">&", 9},
		{"sleep 1 &", "&", 8},
		{"a || b", "||", 2},
		{"wc < {file}", "<", 3},
		{"grep 'a|b' {file}", "", 0},
		{`grep "a|b;c>d" {file}`, "", 0},
		{`echo a\|b \; \$HOME`, "", 0},
		{"awk '{{print $1}}' {file}", "", 0},
		{"echo {a} $5", "", 0},
		{"sh -c 'grep -c \"$1\" \"$2\" | wc -l' sh {pattern} {file}", "", 0},
	}
	for _, tc := range tests {
		tmpl, err := Parse(tc.template)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.template, err)
		}
		got, ok := tmpl.ShellSyntax()
		if ok != (tc.op != "") || got.Op != tc.op || got.Offset != tc.offset {
			t.Errorf("ShellSyntax(%q) = %+v, %v; want %q at %d", tc.template, got, ok, tc.op, tc.offset)
		}
	}
}
