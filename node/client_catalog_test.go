package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
)

// startCatalogNode starts a bootstrap node (a full catalog node that runs no
// functions) on loopback with cfg adjusted by configure.
func startCatalogNode(t *testing.T, configure func(*Config)) *Node {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
	if configure != nil {
		configure(cfg)
	}
	n, err := Start(context.Background(), Options{Dir: t.TempDir(), Key: k, Config: cfg, Role: RoleBootstrap, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// dialClient returns a client of key (nil: a fresh one) whose entry is addrs.
func dialClient(t *testing.T, ctx context.Context, key *identity.Key, addrs []string) *Client {
	t.Helper()
	c, err := NewClient(ctx, ClientOptions{Key: key, Bootstrap: addrs, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustGenerateKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publishEnv signs the first version of key's function name.
func publishEnv(t testing.TB, key *identity.Key, prev *catalog.Update, name, desc string, access catalog.Access) []byte {
	t.Helper()
	fn := catalog.Function{Name: name, Kind: catalog.KindPython, Source: "def run(x):\n    return x\n", Entry: "run", Description: desc}
	env, err := catalog.NewPublish(key, prev, fn, access, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestListPage(t *testing.T) {
	entry := func(name string, desc int, users int) catalog.Entry {
		e := catalog.Entry{Owner: "12D3KooWowner", Name: name, Version: 1, Description: strings.Repeat("d", desc)}
		for i := range users {
			e.Access.Users = append(e.Access.Users, fmt.Sprintf("12D3KooWuser%040d", i))
		}
		return e
	}
	many := func(n, desc int) []catalog.Entry {
		var es []catalog.Entry
		for i := range n {
			es = append(es, entry(fmt.Sprintf("f%05d", i), desc, 0))
		}
		return es
	}
	tests := []struct {
		name       string
		es         []catalog.Entry
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
		{"one entry over the bytes goes alone", []catalog.Entry{entry("big", 10_000, 0), entry("next", 0, 0)}, 10, 4096, 1, true},
		{"users count", []catalog.Entry{entry("a", 0, 100), entry("b", 0, 100)}, 10, 8 << 10, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, more := listPage(tc.es, tc.maxEntries, tc.maxBytes)
			if len(page) != tc.want || more != tc.more {
				t.Fatalf("page of %d, more %v; want %d, %v", len(page), more, tc.want, tc.more)
			}
			b, err := encodeMsg(catalogResponse{Entries: page, More: more, Next: strings.Repeat("n", 200)})
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
	if err := invoke.WriteMsg(&buf, v); err != nil {
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

// TestListIsPaged: a catalog whose entries together exceed what a client
// reads in one response (4 MiB) is listed in full, in pages that each stay
// under the cap.
func TestListIsPaged(t *testing.T) {
	n := startCatalogNode(t, nil)
	var (
		want []string
		envs [][]byte
	)
	desc := strings.Repeat("x", 16<<10) // the longest description allowed
	for i := range 300 {
		k := mustGenerateKey(t)
		name := fmt.Sprintf("f%03d", i)
		envs = append(envs, publishEnv(t, k, nil, name, desc, catalog.Access{Public: true}))
		want = append(want, k.ID().String()+"/"+name)
	}
	slices.Sort(want)
	// In one transaction, as a sync message would bring them.
	n.Catalog().HandleSync(&catalog.SyncRequest{Updates: envs})
	if st := n.Catalog().Stats(); st.Names != len(want) {
		t.Fatalf("the node holds %d names, want %d", st.Names, len(want))
	}

	// Page by page as the server answers: each under the cap, each going on
	// where the last ended.
	var got []string
	pages := 0
	for after := ""; ; pages++ {
		resp, err := n.serveCatalog(&catalogRequest{Op: opList, After: after})
		if err != nil {
			t.Fatal(err)
		}
		b, err := encodeMsg(resp)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > listPageBytes || len(resp.Entries) > listPageEntries {
			t.Fatalf("page %d: %d entries in %d bytes, cap %d entries in %d bytes", pages, len(resp.Entries), len(b), listPageEntries, listPageBytes)
		}
		for _, e := range resp.Entries {
			got = append(got, e.Owner+"/"+e.Name)
		}
		if !resp.More {
			break
		}
		if resp.Next != got[len(got)-1] {
			t.Fatalf("next %q, last entry %q", resp.Next, got[len(got)-1])
		}
		after = resp.Next
	}
	if pages < 3 || !slices.Equal(got, want) {
		t.Fatalf("%d pages with %d entries, want %d entries over several pages", pages+1, len(got), len(want))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dialClient(t, ctx, nil, n.Addrs())
	es, err := c.ListFunctions(ctx, "")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	got = got[:0]
	for _, e := range es {
		got = append(got, e.Owner+"/"+e.Name)
		if e.Description != desc {
			t.Fatalf("%s/%s lost its description", e.Owner, e.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("client listed %d entries, want %d", len(got), len(want))
	}
	// One owner's list is paged the same way and holds only theirs.
	owner, _, _ := strings.Cut(want[7], "/")
	if es, err := c.ListFunctions(ctx, owner); err != nil || len(es) != 1 || es[0].Owner != owner {
		t.Fatalf("list of one owner: %+v, %v", es, err)
	}
}

// TestOwnerQuotaAtTheNode: catalog_owner_quota bounds what one key may store
// on a node through the client protocol.
func TestOwnerQuotaAtTheNode(t *testing.T) {
	n := startCatalogNode(t, func(cfg *Config) { cfg.CatalogOwnerQuota = 4 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := mustGenerateKey(t)
	c := dialClient(t, ctx, key, n.Addrs())
	for _, name := range []string{"f", "g"} { // a name and its body each
		if err := c.PublishUpdate(ctx, publishEnv(t, key, nil, name, "", catalog.Access{Public: true})); err != nil {
			t.Fatalf("publish %s: %v", name, err)
		}
	}
	err := c.PublishUpdate(ctx, publishEnv(t, key, nil, "h", "", catalog.Access{Public: true}))
	if fault.KindOf(err) != fault.TooLarge || !strings.Contains(err.Error(), "over quota") {
		t.Fatalf("publish over the quota: %v", err)
	}
	// Another key has its own quota.
	if err := c.PublishUpdate(ctx, publishEnv(t, mustGenerateKey(t), nil, "h", "", catalog.Access{Public: true})); err != nil {
		t.Fatalf("another owner: %v", err)
	}
}
