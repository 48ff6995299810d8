package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/wire"
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
func dialClient(t *testing.T, ctx context.Context, key *identity.Key, addrs []string) *client.Client {
	t.Helper()
	c, err := client.New(ctx, client.Options{Key: key, Bootstrap: addrs, Logger: testLogger(t)})
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
		resp, err := n.serveCatalog(&catalog.ClientRequest{Op: catalog.ClientList, After: after})
		if err != nil {
			t.Fatal(err)
		}
		b, err := wire.Canonical.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > catalog.ListPageBytes || len(resp.Entries) > catalog.ListPageEntries {
			t.Fatalf("page %d: %d entries in %d bytes, cap %d entries in %d bytes", pages, len(resp.Entries), len(b), catalog.ListPageEntries, catalog.ListPageBytes)
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
