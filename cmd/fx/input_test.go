package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/client"
	"github.com/spf13/cobra"
)

// writer returns a function that writes a file of a fresh directory.
func writer(t *testing.T) func(name, text string) string {
	dir := t.TempDir()
	return func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func TestOneInput(t *testing.T) {
	write := writer(t)
	args := write("args.json", "[40,\n 2]\n")
	kwargs := write("kwargs.json", `{"n": 3}`)
	bad := write("bad.json", "[1,\n 'x']")
	tests := []struct {
		name         string
		args, kwargs string
		stdin        string
		wantA, wantK string
		errs         []string
	}{
		{"literal", `[1]`, `{"a": 1}`, "", `[1]`, `{"a": 1}`, nil},
		{"files", "@" + args, "@" + kwargs, "", "[40,\n 2]", `{"n": 3}`, nil},
		{"stdin for args", "-", "", " [5] \n", `[5]`, "", nil},
		{"stdin for kwargs", `[1]`, "-", `{"k": "v"}`, `[1]`, `{"k": "v"}`, nil},
		{"stdin twice", "-", "-", `[1]`, "", "", []string{"--args - and --kwargs - both read standard input"}},
		{"a missing file", "@" + filepath.Join(filepath.Dir(args), "nope.json"), "", "", "", "", []string{"--args", "nope.json", "no such file"}},
		{"no file name", "@", "", "", "", "", []string{"--args @ needs a file name"}},
		{"bad JSON in a file", "@" + bad, "", "", "", "", []string{"--args (" + bad + ")", "line 2, column 2", "double quotes"}},
		{"bad JSON on stdin", "", "-", `{"a" 1}`, "", "", []string{"--kwargs (standard input)", "column 6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := &cobra.Command{}
			cmd.SetIn(strings.NewReader(tc.stdin))
			f := runFlags{args: tc.args, kwargs: tc.kwargs}
			in, err := f.oneInput(cmd)
			if tc.errs != nil {
				if err == nil {
					t.Fatalf("no error; got %+v", in)
				}
				for _, s := range tc.errs {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil || string(in.Args) != tc.wantA || string(in.Kwargs) != tc.wantK {
				t.Fatalf("got args %q kwargs %q, %v; want %q %q", in.Args, in.Kwargs, err, tc.wantA, tc.wantK)
			}
		})
	}
}

func TestBatchInputFromStdin(t *testing.T) {
	cmd := &cobra.Command{}
	cmd.SetIn(strings.NewReader("{\"args\": [1]}\n{\"kwargs\": {\"x\": 2}}\n"))
	f := runFlags{input: "-"}
	in, err := f.batchInputs(cmd)
	if err != nil || len(in) != 2 || string(in[1].Kwargs) != `{"x": 2}` {
		t.Fatalf("got %+v, %v", in, err)
	}
}

// TestBadInputsFailFirst: fx run and fx batch refuse bad inputs with exit
// 2 and a message that names the flag or line, before they look for a key
// or a mesh (this FX_HOME has neither, which would be exit 4).
func TestBadInputsFailFirst(t *testing.T) {
	lines := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(lines, []byte("{\"args\": [1]}\n\n{\"arg\": [2]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		errs  []string
	}{
		{"run, args cut short", "", []string{"run", "add", "--args", "[40,"}, 2, []string{"--args is not valid JSON", "column 5"}},
		{"submit, single quotes", "", []string{"submit", "add", "--kwargs", "{'a': 1}"}, 2, []string{"--kwargs", "double quotes"}},
		{"batch, an unknown key", "", []string{"batch", "add", "--input", lines}, 2, []string{lines + ":3:", `unknown key "arg"`}},
		{"batch from stdin, not an object", "[1]\n", []string{"batch", "add", "--input", "-"}, 2, []string{"standard input:1:", "must be a JSON object"}},
		{"batch without input", "", []string{"batch", "add"}, 2, []string{"--input is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := execute(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			for _, s := range tc.errs {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q lacks %q", stderr, s)
				}
			}
		})
	}
}

// TestRegisterCatchesMistakes: fx function register refuses, with exit 2
// and before it needs a key or a mesh, Python that does not compile, an
// entry the file does not define, and shell templates with unquoted shell
// syntax. (Python checks need python3 on PATH.)
func TestRegisterCatchesMistakes(t *testing.T) {
	write := writer(t)
	good := write("good.py", "import math\n\ndef summarize(values):\n    return sum(values)\n\nalias = summarize\n")
	broken := write("broken.py", "def f(x):\n    return x +\n")
	outside := write("outside.py", "x = 1\nreturn x\n")
	tests := []struct {
		name   string
		python bool
		args   []string
		code   int
		errs   []string
	}{
		{"a syntax error", true, []string{"--python", broken, "--entry", "f"}, 2, []string{broken + ":2:", "invalid syntax", "could not compile"}},
		{"return outside a function", true, []string{"--python", outside, "--entry", "x"}, 2, []string{outside + ":2:", "'return' outside function"}},
		{"a missing entry", true, []string{"--python", good, "--entry", "summarise"}, 2, []string{`--entry summarise: ` + good + ` defines no "summarise"; did you mean "summarize"?`}},
		{"an entry nowhere near", true, []string{"--python", good, "--entry", "zzz"}, 2, []string{`defines no "zzz"; it defines summarize`}},
		{"a pipe", false, []string{"--shell", "grep {pattern} {file} | wc -l"}, 2, []string{`"|" at offset 22 is shell syntax`, "not run by a shell", "sh -c"}},
		{"a redirection", false, []string{"--shell", "sort {file} > out"}, 2, []string{`">" at offset 12`}},
		{"a command substitution", false, []string{"--shell", "echo $(date)"}, 2, []string{`"$(" at offset 5`}},
		{"a template that does not parse", false, []string{"--shell", "echo {a"}, 2, []string{"--shell template: '{' at offset 5 opens no {name} placeholder"}},
		// These pass the checks and fail later, for want of a key (exit 4).
		{"a good file, a defined entry", true, []string{"--python", good, "--entry", "summarize"}, 4, []string{"no user key"}},
		{"an entry that is an assignment", true, []string{"--python", good, "--entry", "alias"}, 4, []string{"no user key"}},
		{"a quoted pipe", false, []string{"--shell", "grep 'a|b' {file}"}, 4, []string{"no user key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.python && client.Python() == "" {
				t.Skip("no python3 on PATH")
			}
			_, stderr, code := execute(t, "", append([]string{"function", "register", "f"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			for _, s := range tc.errs {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q lacks %q", stderr, s)
				}
			}
		})
	}
}
