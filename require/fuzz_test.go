package require

import (
	"errors"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

// FuzzParse checks Parse on any input: it never panics; what it accepts
// writes back as the input, parses again to the same requirement and stays
// within the bounds; what it refuses is refused with kind Invalid for
// exactly one reason.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"gpus>=1", "memory>=64GiB", "gpu_memory=143771MiB", "python>=3.10", "arch!=arm64",
		"dataset=cryo-2026", "label:tier>=2", "label:Team/Owner=lab-7", "site=aps", "bogus>=3",
		"gpus=many", "arch>=5", "python=abc", "arch!arm64", "", "=", "!", "a<>b", "label:=x",
		"memory>=99999999PiB", "cpus=>4", "label:cost<2.5", "label:disk>=1.5TiB",
		"image=fxmesh-test/python:1", "image=127.0.0.1:5000/x/y:tag", "image>=1", "image=n@sha256:00ff",
		"module=numpy", "module=numpy>=1.26", "module=Foo_Bar>=2", "module=numpy>=1.2>=3", "module>=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if k := fault.KindOf(err); k != fault.Invalid {
				t.Fatalf("Parse(%q): kind %q: %v", s, k, err)
			}
			n := 0
			for _, sentinel := range sentinels {
				if errors.Is(err, sentinel) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("Parse(%q): %v wraps %d reasons", s, err, n)
			}
			if r != (Requirement{}) {
				t.Fatalf("Parse(%q) refused but returned %+v", s, r)
			}
			return
		}
		if r.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, r.String())
		}
		again, err := Parse(r.String())
		if err != nil || again != r {
			t.Fatalf("Parse(%q) again = %+v, %v; want %+v", s, again, err, r)
		}
		if _, err := r.Form(); err != nil {
			t.Fatalf("Parse(%q) accepted a key Form refuses: %v", s, err)
		}
		if len(r.Value) == 0 || len(r.Value) > MaxValue || len(r.Key) > len(KeyLabelPrefix)+MaxLabelKey {
			t.Fatalf("Parse(%q) accepted %+v, out of bounds", s, r)
		}
	})
}
