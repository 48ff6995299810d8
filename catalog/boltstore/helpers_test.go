package boltstore_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/catalog/boltstore"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// t0 is the fixed clock of the tests.
var t0 = time.Unix(1_700_000_000, 0)

// testKey returns a deterministic key: the same n gives the same key.
func testKey(t testing.TB, n byte) *identity.Key {
	t.Helper()
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.FromPrivKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pyFunc(name, desc string) catalog.Function {
	return catalog.Function{
		Name: name, Kind: catalog.KindPython, Entry: "run", Description: desc,
		Source: "def " + "run(x):\n    return x * 2\n", Requirements: []string{"python>=3.10"},
	}
}

// owner publishes a series of updates of one name, keeping the previous
// update as a client does.
type owner struct {
	t    testing.TB
	k    *identity.Key
	prev *catalog.Update
	fn   *catalog.Function
	now  time.Time
}

func newOwner(t testing.TB, k *identity.Key) *owner { return &owner{t: t, k: k, now: t0} }

func (o *owner) track(env []byte, err error) []byte {
	o.t.Helper()
	if err != nil {
		o.t.Fatal(err)
	}
	su, err := catalog.DecodeUpdate(env, catalog.Limits{})
	if err != nil {
		o.t.Fatalf("own update does not decode: %v", err)
	}
	o.prev, o.now = &su.Update, o.now.Add(time.Second)
	if f := su.Update.Function; f != nil {
		o.fn = f
	}
	return env
}

func (o *owner) publish(fn catalog.Function, a catalog.Access) []byte {
	o.t.Helper()
	return o.track(catalog.NewPublish(o.k, o.prev, fn, a, o.now))
}

func (o *owner) access(a catalog.Access) []byte {
	o.t.Helper()
	return o.track(catalog.NewAccessChange(o.k, o.prev, o.fn, a, o.now))
}

func (o *owner) delete() []byte {
	o.t.Helper()
	o.fn = nil
	return o.track(catalog.NewDelete(o.k, o.prev, o.now))
}

// mustApply applies envs and fails the test on error.
func mustApply(t testing.TB, s *catalog.Store, envs ...[]byte) {
	t.Helper()
	for _, env := range envs {
		if _, err := s.Apply(env); err != nil {
			t.Fatal(err)
		}
	}
}

// mustOpen opens the store at path, closed when the test ends.
func mustOpen(t testing.TB, path string, opts boltstore.Options) *catalog.Store {
	t.Helper()
	s, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// snapshot describes what a store shows, to compare.
func snapshot(s *catalog.Store) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v\n", s.Stats())
	for _, id := range s.Items() {
		fmt.Fprintln(&b, id)
	}
	for _, e := range s.List(catalog.Filter{}) {
		fmt.Fprintf(&b, "%+v\n", e)
		vs, _ := s.Versions(e.Owner, e.Name)
		fmt.Fprintf(&b, "  %+v\n", vs)
	}
	return b.String()
}

// dbPath is a catalog file in a new temporary directory.
func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), "catalog.db") }

// logRecorder is a slog.Handler that keeps the records it is given, and
// passes them on to t's log.
type logRecorder struct {
	t       testing.TB
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.t.Logf("%s %s%s", r.Level, r.Message, b.String())
	return nil
}

// said reports whether a record of level with message msg has an "err"
// that contains want.
func (h *logRecorder) said(level slog.Level, msg, want string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.records, func(r slog.Record) bool {
		found := false
		r.Attrs(func(a slog.Attr) bool {
			found = found || a.Key == "err" && strings.Contains(a.Value.String(), want)
			return !found
		})
		return r.Level == level && r.Message == msg && found
	})
}

// testLogger logs to t.
func testLogger(t testing.TB) *slog.Logger { return slog.New(&logRecorder{t: t}) }
