package sim

import (
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
)

// TestUnknownFunctionSaysWhatAndSuggests: a function that is not in the
// catalog fails as not-found with one sentence that names it and whose it
// is, with no package prefixes, and offers the near names among the user's
// own functions and those shared with them.
func TestUnknownFunctionSaysWhatAndSuggests(t *testing.T) {
	f := newFixture(t, nil)
	f.register("compute", catalog.Access{Public: true})

	alice, _ := identity.GenerateKey()
	ac, err := f.mesh.Client(f.ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ac.Close() })
	au := &client.UserCatalog{Key: alice, Mesh: ac}
	shared := catalog.Function{Name: "square", Kind: catalog.KindPython, Source: testSource, Entry: "helper"}
	if _, err := au.Register(f.ctx, shared, catalog.Access{Users: []string{f.owner.ID().String()}}); err != nil {
		t.Fatal(err)
	}
	a := alice.ID().String()
	bob, _ := identity.GenerateKey()
	b := bob.ID().String()
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	private := catalog.Function{Name: "nap", Kind: catalog.KindPython, Source: testSource, Entry: "nap"}
	if _, err := u.Register(f.ctx, private, catalog.Access{}); err != nil { // only in the owner's store
		t.Fatal(err)
	}
	// The shared function reaches the owner's view of the mesh.
	waitFor(t, 30e9, "alice's square listed", func() error {
		_, err := u.Resolve(f.ctx, a+"/square")
		return err
	})

	tests := []struct {
		ref  string
		want string
	}{
		{"compte", `no function "compte" of yours in the catalog; did you mean "compute"?`},
		{"npa", `no function "npa" of yours in the catalog; did you mean "nap"?`},
		{"square", `no function "square" of yours in the catalog; did you mean "` + a + `/square"?`},
		{a + "/sqare", `no function "sqare" of owner ` + a + ` in the catalog; did you mean "` + a + `/square"?`},
		{b + "/compute", `no function "compute" of owner ` + b + ` in the catalog; did you mean "compute"?`},
		{"compute@7", `compute has no version 7; fx function show compute lists its versions`},
		{"zzzzzz", `no function "zzzzzz" of yours in the catalog; fx function list --mine lists them`},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			_, err := u.Resolve(f.ctx, tc.ref)
			if !fault.Is(err, fault.NotFound) {
				t.Fatalf("kind %s: %v", fault.KindOf(err), err)
			}
			if err.Error() != tc.want {
				t.Fatalf("message\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}

// TestRoutingExplainsUnadvertisedRequirement: a requirement no endpoint
// advertises at all fails with what each endpoint has instead, as
// --explain would say, not "no endpoint known".
func TestRoutingExplainsUnadvertisedRequirement(t *testing.T) {
	f := newFixture(t, nil)
	fn := f.register("compute", catalog.Access{})
	for _, req := range []string{"foo=bar", "gpus>=1"} {
		err := f.client.RunRouted(f.ctx, client.RunRequest{
			RouteRequest: client.RouteRequest{Function: fn, Require: []string{req}},
			Inputs:       []invoke.Input{{Args: []byte("[1, 2]")}},
		})
		if !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), "no endpoint meets "+req+" (1 endpoint: 1 ha") {
			t.Errorf("%s: %v", req, err)
		}
	}
}
