package webview

import (
	"strings"
	"testing"
)

// FuzzParseFilter: the filter box's text, from any browser, never panics
// the parser, and a filter it accepts reads back the same when written
// out and parsed again.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "gpus>=1", "gpus>=1 label:site=aps", "memory>=64GiB,python>=3.10", "gpus=many", "  ,, ", "image=busybox dataset=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		reqs, err := ParseFilter(s)
		if err != nil {
			return
		}
		var parts []string
		for _, r := range reqs {
			parts = append(parts, r.String())
		}
		again, err := ParseFilter(strings.Join(parts, " "))
		if err != nil || len(again) != len(reqs) {
			t.Fatalf("%q parsed as %q, which reads back as %v, %v", s, parts, again, err)
		}
		for i := range reqs {
			if again[i] != reqs[i] {
				t.Fatalf("%q: requirement %d %+v reads back as %+v", s, i, reqs[i], again[i])
			}
		}
	})
}
