package client

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

func TestArgsJSON(t *testing.T) {
	tests := []struct {
		name  string
		flag  string
		value string
		open  byte
		want  string   // the value returned, when no error
		errs  []string // substrings of the error
	}{
		{"array", "--args", ` [1, "x"] `, '[', `[1, "x"]`, nil},
		{"object", "--kwargs", `{"n": 1}`, '{', `{"n": 1}`, nil},
		{"cut short", "--args", `[40,`, '[', "", []string{"--args", "column 5", "cut short"}},
		{"bad token names its column", "--args", `[1, x]`, '[', "", []string{"--args is not valid JSON", "column 5", "invalid character 'x'"}},
		{"single quotes", "--kwargs", `{'n': 1}`, '{', "", []string{"--kwargs", "column 2", "double quotes"}},
		{"line and column", "--kwargs", "{\"a\": 1,\n \"b\": }", '{', "", []string{"line 2, column 7"}},
		{"trailing text", "--args", `[1] [2]`, '[', "", []string{"column 5", "text after"}},
		{"object for args", "--args", `{"a": 1}`, '[', "", []string{"--args must be a JSON array", "not an object"}},
		{"empty", "--args", "  ", '[', "", []string{"--args is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ArgsJSON(tc.flag, []byte(tc.value), tc.open)
			if tc.errs == nil {
				if err != nil || string(got) != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error for %q", tc.value)
			}
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("kind %q, want invalid", fault.KindOf(err))
			}
			for _, s := range tc.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestReadInputs(t *testing.T) {
	long := `{"args": ["` + strings.Repeat("x", MaxInputLine) + `"]}`
	tests := []struct {
		name string
		text string
		n    int
		kind fault.Kind
		errs []string
	}{
		{"two lines and a blank", "{\"args\": [1]}\n\n{\"kwargs\": {\"a\": 2}}\n", 2, "", nil},
		{"no final newline", `{"args": [1]}`, 1, "", nil},
		{"nulls", `{"args": null, "kwargs": null}`, 1, "", nil},
		{"a line that is not an object", "{\"args\": [1]}\n[1, 2]\n", 0, fault.Invalid, []string{"in.jsonl:2:", "must be a JSON object", "not an array"}},
		{"an unknown key", "{\"args\": [1]}\n{\"args\": [1]}\n{\"arg\": [1]}\n", 0, fault.Invalid, []string{"in.jsonl:3:", `unknown key "arg"`, `did you mean "args"`}},
		{"args not an array", `{"args": 1}`, 0, fault.Invalid, []string{"in.jsonl:1:", `"args" must be a JSON array`}},
		{"kwargs not an object", `{"kwargs": [1]}`, 0, fault.Invalid, []string{"in.jsonl:1:", `"kwargs" must be a JSON object`}},
		{"not JSON", "{\"args\": [1]}\n{'args': [1]}\n", 0, fault.Invalid, []string{"in.jsonl:2:", "column 2", "double quotes"}},
		{"a line over the limit", "{\"args\": [1]}\n" + long + "\n{\"args\": [1]}\n", 0, fault.TooLarge, []string{"in.jsonl:2:", "over 10 MiB"}},
		{"a last line over the limit", "{\"args\": [1]}\n" + long, 0, fault.TooLarge, []string{"in.jsonl:2:", "over 10 MiB"}},
		{"nothing", "\n\n", 0, fault.Invalid, []string{"holds no inputs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadInputs(strings.NewReader(tc.text), "in.jsonl")
			if tc.errs == nil {
				if err != nil || len(got) != tc.n {
					t.Fatalf("got %d inputs, %v; want %d", len(got), err, tc.n)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; got %d inputs", len(got))
			}
			if k := fault.KindOf(err); k != tc.kind {
				t.Errorf("kind %q, want %q", k, tc.kind)
			}
			for _, s := range tc.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

// TestReadInputsAtLimit: a line of exactly MaxInputLine bytes is accepted.
func TestReadInputsAtLimit(t *testing.T) {
	pre, post := `{"args": ["`, `"]}`
	line := pre + strings.Repeat("y", MaxInputLine-len(pre)-len(post)) + post
	in, err := ReadInputs(strings.NewReader(line+"\n"+line), "f")
	if err != nil || len(in) != 2 || !bytes.HasSuffix(in[1].Args, []byte(`y"]`)) {
		t.Fatalf("got %d inputs, %v", len(in), err)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		name       string
		candidates []string
		want       []string
	}{
		{"arg", []string{"args", "kwargs"}, []string{"args"}},
		{"ad", []string{"add", "nap", "fail"}, []string{"add"}},
		{"aDd", []string{"add"}, []string{"add"}},
		{"sqaure", []string{"square", "sqrt", "cube"}, []string{"square"}},
		{"stats", []string{"stats_v2", "status"}, []string{"status", "stats_v2"}},
		{"zzz", []string{"add", "nap"}, nil},
	}
	for _, tc := range tests {
		got := Suggest(tc.name, tc.candidates)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("Suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
