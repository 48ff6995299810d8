package client

import "testing"

func TestMissingModule(t *testing.T) {
	tests := []struct {
		name string
		err  *ResultError
		want string // "" when not a missing module
	}{
		{"plain", &ResultError{Kind: "user", Type: "ModuleNotFoundError", Message: "No module named 'numpy'"}, "numpy"},
		{"submodule", &ResultError{Kind: "user", Type: "ModuleNotFoundError", Message: "No module named 'foo.bar'; 'foo' is not a package"}, "foo"},
		{"underscore", &ResultError{Kind: "user", Type: "ModuleNotFoundError", Message: "No module named 'fxmesh_fake'"}, "fxmesh_fake"},
		{"another error", &ResultError{Kind: "user", Type: "ImportError", Message: "cannot import name 'x' from 'y'"}, ""},
		{"no quotes", &ResultError{Kind: "user", Type: "ModuleNotFoundError", Message: "raised by hand"}, ""},
		{"odd name", &ResultError{Kind: "user", Type: "ModuleNotFoundError", Message: "No module named 'a b'"}, ""},
		{"nil", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := MissingModule(tc.err)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("MissingModule = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}
