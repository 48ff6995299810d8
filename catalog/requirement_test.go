package catalog

import (
	"errors"
	"testing"
)

func TestParseRequirement(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Requirement
		err  bool
	}{
		{"gpus", "gpus>=1", Requirement{"gpus", OpGE, "1"}, false},
		{"python version", "python>=3.10", Requirement{"python", OpGE, "3.10"}, false},
		{"dataset", "dataset=cryo-2026", Requirement{"dataset", OpEq, "cryo-2026"}, false},
		{"less or equal", "mem_gb<=64", Requirement{"mem_gb", OpLE, "64"}, false},
		{"greater", "cores>8", Requirement{"cores", OpGT, "8"}, false},
		{"less", "cuda<12.2", Requirement{"cuda", OpLT, "12.2"}, false},
		{"colon key", "site:queue=gpu", Requirement{"site:queue", OpEq, "gpu"}, false},
		{"no operator", "gpus", Requirement{}, true},
		{"empty key", ">=1", Requirement{}, true},
		{"upper-case key", "GPUs>=1", Requirement{}, true},
		{"space", "gpus >= 1", Requirement{}, true},
		{"empty value", "gpus>=", Requirement{}, true},
		{"non-numeric comparison", "gpus>=many", Requirement{}, true},
		{"double dot", "python>=3..10", Requirement{}, true},
		{"bad eq value", "dataset=a b", Requirement{}, true},
		{"triple operator", "a>==1", Requirement{}, true},
		{"not equal", "a!=1", Requirement{"a", OpNe, "1"}, false},
		{"size unit", "memory>=64GiB", Requirement{"memory", OpGE, "64GiB"}, false},
		{"label with capitals", "label:Site/Room=b12", Requirement{"label:Site/Room", OpEq, "b12"}, false},
		{"unit without number", "memory>=GiB", Requirement{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequirement(tc.in)
			if tc.err {
				if !errors.Is(err, ErrInvalidField) {
					t.Fatalf("ParseRequirement(%q) = %v, %v; want ErrInvalidField", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRequirement(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func TestRequirementSatisfies(t *testing.T) {
	tests := []struct {
		name string
		req  string
		have string
		want bool
	}{
		{"version above", "python>=3.10", "3.12", true},
		{"version numeric not lexical", "python>=3.10", "3.9", false},
		{"version equal", "python>=3.10", "3.10", true},
		{"missing part is zero", "python>=3.10", "3.10.0", true},
		{"greater strict", "gpus>1", "1", false},
		{"less", "gpus<2", "1", true},
		{"less or equal", "mem<=64", "64", true},
		{"eq", "dataset=cryo-2026", "cryo-2026", true},
		{"eq differs", "dataset=cryo-2026", "cryo-2025", false},
		{"have not a number", "gpus>=1", "lots", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRequirement(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Satisfies(tc.have); got != tc.want {
				t.Fatalf("%s satisfied by %q = %v, want %v", tc.req, tc.have, got, tc.want)
			}
		})
	}
}
