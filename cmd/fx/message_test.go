package main

import (
	"errors"
	"testing"
)

func TestMessageDropsPackagePrefixes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"node: catalog resolve: catalog: resolve a/b: catalog: not found: no function a/b", "resolve a/b: not found: no function a/b"},
		{"routing: no endpoint meets gpus>=1 (1 endpoint: 1 has 0 GPUs)", "no endpoint meets gpus>=1 (1 endpoint: 1 has 0 GPUs)"},
		{"client: run: 12D3KooWx: client: invoke: cannot reach endpoint 12D3KooWx: dial backoff", "12D3KooWx: cannot reach endpoint 12D3KooWx: dial backoff"},
		{"identity: \"bad\" is not a valid ID", "\"bad\" is not a valid ID"},
		{"TypeError: summarize() missing 1 required positional argument: 'values'", "TypeError: summarize() missing 1 required positional argument: 'values'"},
		{"--args is not valid JSON: column 5: the value is cut short", "--args is not valid JSON: column 5: the value is cut short"},
		{"a; client: run: x", "a; x"},
	}
	for _, tc := range tests {
		if got := message(errors.New(tc.in)); got != tc.want {
			t.Errorf("message(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
