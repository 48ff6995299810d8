package catalog

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/wire"
)

func TestListPage(t *testing.T) {
	entry := func(name string, desc int, users int) Entry {
		e := Entry{Owner: "12D3KooWowner", Name: name, Version: 1, Description: strings.Repeat("d", desc)}
		for i := range users {
			e.Access.Users = append(e.Access.Users, fmt.Sprintf("12D3KooWuser%040d", i))
		}
		return e
	}
	many := func(n, desc int) []Entry {
		var es []Entry
		for i := range n {
			es = append(es, entry(fmt.Sprintf("f%05d", i), desc, 0))
		}
		return es
	}
	tests := []struct {
		name       string
		es         []Entry
		maxEntries int
		maxBytes   int
		want       int
		more       bool
	}{
		{"empty", nil, 10, 4096, 0, false},
		{"all fit", many(5, 10), 10, 4096, 5, false},
		{"exactly the count", many(10, 10), 10, 1 << 20, 10, false},
		{"cut by count", many(11, 10), 10, 1 << 20, 10, true},
		{"cut by bytes", many(100, 1000), 1000, 8 << 10, 6, true},
		{"one entry over the bytes goes alone", []Entry{entry("big", 10_000, 0), entry("next", 0, 0)}, 10, 4096, 1, true},
		{"users count", []Entry{entry("a", 0, 100), entry("b", 0, 100)}, 10, 8 << 10, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, more := ListPage(tc.es, tc.maxEntries, tc.maxBytes)
			if len(page) != tc.want || more != tc.more {
				t.Fatalf("page of %d, more %v; want %d, %v", len(page), more, tc.want, tc.more)
			}
			b, err := wire.Canonical.Marshal(ClientResponse{Entries: page, More: more, Next: strings.Repeat("n", 200)})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 1 && len(b) > tc.maxBytes {
				t.Fatalf("page of %d entries encodes to %d bytes, cap %d", len(page), len(b), tc.maxBytes)
			}
		})
	}
}

// encodeMsg is the body WriteMsg frames.
func encodeMsg(v any) ([]byte, error) {
	var buf strings.Builder
	if err := wire.WriteMsg(&buf, v); err != nil {
		return nil, err
	}
	b := []byte(buf.String())
	for i, c := range b { // skip the varint length
		if c < 0x80 {
			return b[i+1:], nil
		}
	}
	return nil, fmt.Errorf("no frame header")
}

func TestSplitRef(t *testing.T) {
	tests := []struct {
		ref, owner, name string
		ok               bool
	}{
		{"a/b", "a", "b", true},
		{"a/b@2", "a", "b@2", true},
		{"a/", "", "", false},
		{"/b", "", "", false},
		{"ab", "", "", false},
	}
	for _, tc := range tests {
		owner, name, ok := SplitRef(tc.ref)
		if ok != tc.ok || ok && (owner != tc.owner || name != tc.name) {
			t.Errorf("SplitRef(%q) = %q, %q, %v", tc.ref, owner, name, ok)
		}
	}
}

func FuzzDecodeClientMessages(f *testing.F) {
	for _, req := range []ClientRequest{
		{Op: ClientPublish, Update: []byte("envelope")},
		{Op: ClientResolve, Ref: "owner/name@2"},
		{Op: ClientList, Owner: "12D3KooW"},
		{Op: ClientList, After: "12D3KooW/name"},
	} {
		b, err := wire.Canonical.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa1, 0x01, 0x61})
	page := ClientResponse{Entries: []ListedEntry{{ID: "bafy", Owner: "12D3KooW", Name: "f", Version: 1}}, More: true, Next: "12D3KooW/f",
		Error: &ClientError{Kind: "denied", Message: "no"}}
	b, err := wire.Canonical.Marshal(page)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeClientRequest(b)
		if err == nil && req == nil {
			t.Fatal("nil request without an error")
		}
		resp, err := DecodeClientResponse(b)
		if err == nil && resp == nil {
			t.Fatal("nil response without an error")
		}
		if err == nil && resp.Error != nil && resp.Error.Err() == nil {
			t.Fatal("an error answer that is no error")
		}
	})
}
