package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
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

// hostileNode is a libp2p host on loopback that serves the catalog client
// protocol with whatever its answer is at the time: a full node that lies.
type hostileNode struct {
	addrs []string
	id    peer.ID
	mu    sync.Mutex // guards answer
	resp  catalogResponse
}

func startHostile(t *testing.T) *hostileNode {
	t.Helper()
	k := mustGenerateKey(t)
	h, err := libp2p.New(libp2p.Identity(k.PrivKey()), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	hn := &hostileNode{id: h.ID()}
	for _, a := range h.Addrs() {
		hn.addrs = append(hn.addrs, a.String()+"/p2p/"+h.ID().String())
	}
	h.SetStreamHandler(wire.CatalogProtocol, func(s network.Stream) {
		defer s.Close()
		if _, err := wire.ReadFrame(bufio.NewReader(s), 1<<20); err != nil {
			s.Reset()
			return
		}
		hn.mu.Lock()
		resp := hn.resp
		hn.mu.Unlock()
		if err := wire.WriteMsg(s, resp); err != nil {
			s.Reset()
		}
	})
	return hn
}

func (hn *hostileNode) answer(head, fn []byte) {
	hn.respond(catalogResponse{Head: head, Function: fn})
}

func (hn *hostileNode) respond(resp catalogResponse) {
	hn.mu.Lock()
	defer hn.mu.Unlock()
	hn.resp = resp
}

// logBuffer collects a logger's output, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// proofs are the records a hostile node can send: every one validly signed.
type proofs struct {
	alice, mallory         *identity.Key
	v1, v2                 catalog.ID // alice/stats versions
	headV1, headV2         []byte     // alice/stats's updates
	fnV1, fnV2             []byte
	otherHead, otherFn     []byte // alice/other
	malloryHead, malloryFn []byte // mallory/stats
}

func makeProofs(t *testing.T) *proofs {
	t.Helper()
	p := &proofs{alice: mustGenerateKey(t), mallory: mustGenerateKey(t)}
	pub := catalog.Access{Public: true}
	full := mustStore(t, catalog.Options{})
	old := mustStore(t, catalog.Options{})
	proof := func(s *catalog.Store, id catalog.ID) (head, fn []byte) {
		t.Helper()
		head, fn, err := s.Proof(id)
		if err != nil {
			t.Fatal(err)
		}
		return head, fn
	}
	apply := func(s *catalog.Store, env []byte) *catalog.SignedUpdate {
		t.Helper()
		if _, err := s.Apply(env); err != nil {
			t.Fatal(err)
		}
		su, err := catalog.DecodeUpdate(env, catalog.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return su
	}
	e1 := publishEnv(t, p.alice, nil, "stats", "one", pub)
	su1 := apply(full, e1)
	apply(old, e1)
	su2 := apply(full, publishEnv(t, p.alice, &su1.Update, "stats", "two", pub))
	p.v1, p.v2 = su2.Update.Versions[0].ID, su2.Update.Versions[1].ID
	p.headV1, p.fnV1 = proof(old, p.v1)
	p.headV2, p.fnV2 = proof(full, p.v2)
	so := apply(full, publishEnv(t, p.alice, nil, "other", "", pub))
	p.otherHead, p.otherFn = proof(full, so.Update.Versions[0].ID)
	sm := apply(full, publishEnv(t, p.mallory, nil, "stats", "evil", pub))
	p.malloryHead, p.malloryFn = proof(full, sm.Update.Versions[0].ID)
	return p
}

func mustStore(t *testing.T, opts catalog.Options) *catalog.Store {
	t.Helper()
	s, err := catalog.Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestResolveAnswersExactly: a full node that answers a reference with a
// validly signed record of something else (another owner, name or version)
// is refused as invalid and logged with its peer ID.
func TestResolveAnswersExactly(t *testing.T) {
	p := makeProofs(t)
	hn := startHostile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs logBuffer
	c, err := NewClient(ctx, ClientOptions{Bootstrap: hn.addrs, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stats := p.alice.ID().String() + "/stats"

	tests := []struct {
		name     string
		ref      string
		head, fn []byte
		wantID   catalog.ID // zero: refused
	}{
		{"another owner's record", stats, p.malloryHead, p.malloryFn, catalog.ID{}},
		{"another name", stats, p.otherHead, p.otherFn, catalog.ID{}},
		{"an older version for the highest", stats, p.headV2, p.fnV1, catalog.ID{}},
		{"another version than asked", stats + "@2", p.headV2, p.fnV1, catalog.ID{}},
		{"another owner's for a version", stats + "@1", p.malloryHead, p.malloryFn, catalog.ID{}},
		{"another function for an ID", p.v2.String(), p.headV2, p.fnV1, catalog.ID{}},
		{"the highest version", stats, p.headV2, p.fnV2, p.v2},
		{"the version asked", stats + "@1", p.headV2, p.fnV1, p.v1},
		{"the ID asked", p.v1.String(), p.headV2, p.fnV1, p.v1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hn.answer(tc.head, tc.fn)
			logs.take()
			f, err := c.ResolveFunction(ctx, tc.ref)
			if !tc.wantID.IsZero() {
				if err != nil || f.ID != tc.wantID || f.From != hn.id {
					t.Fatalf("resolve %s: %+v, %v", tc.ref, f, err)
				}
				return
			}
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("resolve %s: accepted %s, err %v; want invalid", tc.ref, describe(f), err)
			}
			if got := logs.take(); !strings.Contains(got, "peer="+hn.id.String()) {
				t.Fatalf("refusal not logged with the peer: %q", got)
			}
		})
	}
}

// TestResolveRefusesStaleAnswers: a node that answers with an update older
// than the one the user's own store knows (behind, or replaying a record
// since replaced) is refused as invalid and logged.
func TestResolveRefusesStaleAnswers(t *testing.T) {
	p := makeProofs(t)
	hn := startHostile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs logBuffer
	c, err := NewClient(ctx, ClientOptions{Key: p.alice, Bootstrap: hn.addrs, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name     string
		known    []byte // the update the user's store holds
		head, fn []byte
		ref      string
		stale    bool
	}{
		{"older than known", p.headV2, p.headV1, p.fnV1, "stats", true},
		{"older than known, by ID", p.headV2, p.headV1, p.fnV1, p.v1.String(), true},
		{"as new as known", p.headV2, p.headV2, p.fnV2, "stats", false},
		{"newer than known", p.headV1, p.headV2, p.fnV2, "stats", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &UserCatalog{Key: p.alice, Mesh: c}
			if err := u.update(func(st *catalog.Store) error {
				_, err := st.Apply(tc.known)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			hn.answer(tc.head, tc.fn)
			logs.take()
			f, err := u.Resolve(ctx, tc.ref)
			if !tc.stale {
				if err != nil {
					t.Fatalf("resolve: %v", err)
				}
				return
			}
			if fault.KindOf(err) != fault.Invalid || !errors.Is(err, catalog.ErrStale) {
				t.Fatalf("stale answer: accepted %s, err %v; want invalid, stale", describe(f), err)
			}
			if got := logs.take(); !strings.Contains(got, "peer="+hn.id.String()) {
				t.Fatalf("refusal not logged with the peer: %q", got)
			}
		})
	}
}

// TestListRefusesPagesThatDoNotAdvance: a node that answers every page with
// "more after the same place" cannot keep a client asking forever.
func TestListRefusesPagesThatDoNotAdvance(t *testing.T) {
	hn := startHostile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dialClient(t, ctx, nil, hn.addrs)
	page := []catalogEntry{{ID: "x", Owner: "o", Name: "n", Version: 1}}
	// No next at all; a next that advances once and then repeats itself.
	for _, next := range []string{"", "o/n"} {
		hn.respond(catalogResponse{Entries: page, More: true, Next: next})
		es, err := c.ListFunctions(ctx, "")
		if fault.KindOf(err) != fault.Invalid {
			t.Fatalf("next %q: %d entries, err %v; want invalid", next, len(es), err)
		}
	}
}

// describe names a resolved function for a test's failure message.
func describe(f *Function) string {
	if f == nil {
		return "nothing"
	}
	return fmt.Sprintf("%s@%d (update seq %d)", f.Function.Ref(), f.Function.Version, f.Update.Update.Seq)
}

func TestAnswers(t *testing.T) {
	p := makeProofs(t)
	open := func(head, fn []byte) (*catalog.Function, catalog.ID, *catalog.Update) {
		f, id, su, err := catalog.VerifyFunction(head, fn, catalog.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return f, id, &su.Update
	}
	stats := p.alice.ID().String() + "/stats"
	tests := []struct {
		name     string
		ref      string
		head, fn []byte
		ok       bool
	}{
		{"highest", stats, p.headV2, p.fnV2, true},
		{"version", stats + "@1", p.headV2, p.fnV1, true},
		{"ID", p.v2.String(), p.headV2, p.fnV2, true},
		{"owner differs", p.mallory.ID().String() + "/stats", p.headV2, p.fnV2, false},
		{"name differs", p.alice.ID().String() + "/stat", p.headV2, p.fnV2, false},
		{"not the highest", stats, p.headV2, p.fnV1, false},
		{"version differs", stats + "@2", p.headV2, p.fnV1, false},
		{"version not a number", stats + "@x", p.headV2, p.fnV1, false},
		{"ID differs", p.v1.String(), p.headV2, p.fnV2, false},
		{"no reference at all", "stats", p.headV2, p.fnV2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, id, u := open(tc.head, tc.fn)
			err := answers(tc.ref, f, id, u)
			if tc.ok != (err == nil) || err != nil && fault.KindOf(err) != fault.Invalid {
				t.Fatalf("answers(%s) = %v, want ok %v", tc.ref, err, tc.ok)
			}
		})
	}
}
