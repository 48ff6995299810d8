package node

import (
	"bytes"
	"testing"

	"github.com/fxmesh/fxmesh/wire"
)

func FuzzDecodeCatalogRequest(f *testing.F) {
	for _, req := range []catalogRequest{
		{Op: opPublish, Update: []byte("envelope")},
		{Op: opResolve, Ref: "owner/name@2"},
		{Op: opList, Owner: "12D3KooW"},
		{Op: opList, After: "12D3KooW/name"},
	} {
		var buf bytes.Buffer
		if err := wire.WriteMsg(&buf, req); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes()[1:]) // the body, without its length
	}
	f.Add([]byte{0xa1, 0x01, 0x61})
	page := catalogResponse{Entries: []catalogEntry{{ID: "bafy", Owner: "12D3KooW", Name: "f", Version: 1}}, More: true, Next: "12D3KooW/f"}
	b, err := encodeMsg(page)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeCatalogRequest(b)
		if err == nil && req == nil {
			t.Fatal("nil request without an error")
		}
		var resp catalogResponse
		_ = protoDec.Unmarshal(b, &resp)
	})
}

func TestCutRef(t *testing.T) {
	tests := []struct {
		ref, owner, name string
		ok               bool
	}{
		{"a/b", "a", "b", true},
		{"a/", "", "", false},
		{"/b", "", "", false},
		{"ab", "", "", false},
	}
	for _, tc := range tests {
		owner, name, ok := cutRef(tc.ref)
		if ok != tc.ok || ok && (owner != tc.owner || name != tc.name) {
			t.Errorf("cutRef(%q) = %q, %q, %v", tc.ref, owner, name, ok)
		}
	}
}
