package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// testLogger routes a client's logs to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// dialClient returns a client of key (nil: a fresh one) whose entry is addrs.
func dialClient(t *testing.T, ctx context.Context, key *identity.Key, addrs []string) *Client {
	t.Helper()
	c, err := New(ctx, Options{Key: key, Bootstrap: addrs, Logger: testLogger(t)})
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

// hostileNode is a libp2p host on loopback that serves the catalog client
// protocol with whatever its answer is at the time: a full node that lies.
type hostileNode struct {
	addrs []string
	id    peer.ID
	mu    sync.Mutex // guards answer
	resp  catalog.ClientResponse
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
	hn.respond(catalog.ClientResponse{Head: head, Function: fn})
}

func (hn *hostileNode) respond(resp catalog.ClientResponse) {
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
	c, err := New(ctx, Options{Bootstrap: hn.addrs, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
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
	c, err := New(ctx, Options{Key: p.alice, Bootstrap: hn.addrs, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
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
	page := []catalog.ListedEntry{{ID: "x", Owner: "o", Name: "n", Version: 1}}
	// No next at all; a next that advances once and then repeats itself.
	for _, next := range []string{"", "o/n"} {
		hn.respond(catalog.ClientResponse{Entries: page, More: true, Next: next})
		es, err := c.ListFunctions(ctx, "")
		if fault.KindOf(err) != fault.Invalid {
			t.Fatalf("next %q: %d entries, err %v; want invalid", next, len(es), err)
		}
	}
}

// describe names a resolved function for a test's failure message.
func describe(f *ResolvedFunction) string {
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
