package catalog

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// t0 is the fixed clock of the tests.
var t0 = time.Unix(1_700_000_000, 0)

// testKey returns a deterministic key: the same n gives the same key.
func testKey(t testing.TB, n byte) *identity.Key {
	t.Helper()
	seed := bytes.Repeat([]byte{n}, ed25519.SeedSize)
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.FromPrivKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pyFunc(name, desc string) Function {
	return Function{
		Name:         name,
		Kind:         KindPython,
		Source:       "def " + "run(x):\n    return x * 2\n",
		Entry:        "run",
		Description:  desc,
		Requirements: []string{"python>=3.10"},
	}
}

// memStore opens an in-memory store that logs to t.
func memStore(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s := NewMemory(opts)
	t.Cleanup(func() { s.Close() })
	return s
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// client is an owner publishing a series of updates of one name, keeping the
// previous update as a client does.
type client struct {
	t    testing.TB
	k    *identity.Key
	prev *Update
	fn   *Function
	now  time.Time
}

func newClient(t testing.TB, k *identity.Key) *client {
	return &client{t: t, k: k, now: t0}
}

func (c *client) tick() time.Time { c.now = c.now.Add(time.Second); return c.now }

func (c *client) track(env []byte) []byte {
	c.t.Helper()
	su, err := DecodeUpdate(env, unlimited)
	if err != nil {
		c.t.Fatalf("own update does not decode: %v", err)
	}
	c.prev = &su.Update
	if f := su.Update.Function; f != nil {
		c.fn = f
	}
	return env
}

func (c *client) publish(fn Function, access Access) []byte {
	c.t.Helper()
	if c.prev != nil && c.prev.Name != fn.Name {
		c.prev = nil
	}
	env, err := NewPublish(c.k, c.prev, fn, access, c.tick())
	if err != nil {
		c.t.Fatal(err)
	}
	return c.track(env)
}

func (c *client) access(a Access) []byte {
	c.t.Helper()
	env, err := NewAccessChange(c.k, c.prev, c.fn, a, c.tick())
	if err != nil {
		c.t.Fatal(err)
	}
	return c.track(env)
}

func (c *client) delete() []byte {
	c.t.Helper()
	env, err := NewDelete(c.k, c.prev, c.tick())
	if err != nil {
		c.t.Fatal(err)
	}
	c.fn = nil
	return c.track(env)
}

// sealRaw signs any update (or any bytes) without the builders' checks.
func sealRaw(t testing.TB, k *identity.Key, domain, codec string, payload []byte) []byte {
	t.Helper()
	env, err := identity.Seal(k, domain, []byte(codec), payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func sealUpdate(t testing.TB, k *identity.Key, u *Update) []byte {
	t.Helper()
	b, err := marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	return sealRaw(t, k, identity.DomainFunction, UpdateCodec, b)
}

// mustApply applies env and fails the test on error.
func mustApply(t testing.TB, s *Store, envs ...[]byte) {
	t.Helper()
	for _, env := range envs {
		if _, err := s.Apply(env); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot describes everything observable in a store, to compare.
func snapshot(s *Store) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%+v\n", s.Stats())
	for _, id := range s.Items() {
		fmt.Fprintln(&b, id)
	}
	for _, e := range s.List(Filter{}) {
		fmt.Fprintf(&b, "%+v\n", e)
	}
	s.mu.RLock()
	refs := make([]string, 0, len(s.chains))
	for ref, c := range s.chains {
		refs = append(refs, fmt.Sprintf("%s seq=%d id=%s op=%s bodies=%d", ref, c.head.Seq, c.id, c.head.Op, len(c.bodies)))
	}
	s.mu.RUnlock()
	slices.Sort(refs)
	for _, r := range refs {
		fmt.Fprintln(&b, r)
	}
	return b.String()
}

// wantErr checks that err wraps want and has kind.
func wantErr(t testing.TB, err, want error, kind fault.Kind) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if got := fault.KindOf(err); got != kind {
		t.Fatalf("kind of %v = %q, want %q", err, got, kind)
	}
}
