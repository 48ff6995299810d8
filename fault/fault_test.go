package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOf(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, ""},
		{"plain", base, Internal},
		{"direct", Wrap(Denied, "op", base), Denied},
		{"wrapped", fmt.Errorf("outer: %w", E(TooLarge, "op", "%d bytes", 5)), TooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.want {
				t.Fatalf("KindOf = %q, want %q", got, tc.want)
			}
		})
	}
	if !errors.Is(Wrap(Invalid, "x", base), base) {
		t.Fatal("Wrap lost the cause")
	}
	if Wrap(Invalid, "x", nil) != nil {
		t.Fatal("Wrap(nil) != nil")
	}
	if got := E(NotFound, "catalog: get", "no function %s", "f").Error(); got != "catalog: get: no function f" {
		t.Fatalf("message = %q", got)
	}
}

func TestExitCodesDistinct(t *testing.T) {
	seen := map[int]Kind{}
	for _, k := range []Kind{User, Invalid, Denied, NotFound, Timeout, Unavailable, TooLarge, Replayed, System, Internal} {
		c := k.ExitCode()
		if c == 0 {
			t.Fatalf("%s maps to exit 0", k)
		}
		if prev, ok := seen[c]; ok {
			t.Fatalf("%s and %s share exit code %d", k, prev, c)
		}
		seen[c] = k
	}
}
