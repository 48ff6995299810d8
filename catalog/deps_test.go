package catalog

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps catalog a leaf of the architecture: the standard
// library, its codecs and store, identity, fault, require and libp2p's core
// only.
func TestImports(t *testing.T) {
	allowed := []string{
		"github.com/fxmesh/fxmesh/identity",
		"github.com/fxmesh/fxmesh/fault",
		"github.com/fxmesh/fxmesh/require",
		"github.com/fxamacker/cbor/v2",
		"go.etcd.io/bbolt",
		"github.com/ipfs/go-cid",
		"github.com/multiformats/go-multihash",
		"github.com/libp2p/go-libp2p/core/",
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !strings.Contains(strings.Split(path, "/")[0], ".") {
				continue // standard library
			}
			ok := false
			for _, a := range allowed {
				if path == a || strings.HasPrefix(path, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
