package boltstore_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/catalog/boltstore"
)

// backends are the implementations of catalog.Backend, each with a way to
// open it anew: restart gives a new Backend on what be held (be is closed
// first).
var backends = []struct {
	name string
	open func(t *testing.T) (be catalog.Backend, restart func() catalog.Backend)
}{
	{"memory", func(t *testing.T) (catalog.Backend, func() catalog.Backend) {
		m := catalog.NewMemoryBackend()
		return m, func() catalog.Backend { return m }
	}},
	{"bbolt", func(t *testing.T) (catalog.Backend, func() catalog.Backend) {
		path := dbPath(t)
		open := func() catalog.Backend {
			be, err := boltstore.OpenBackend(path, boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { be.Close() })
			return be
		}
		return open(), open
	}},
}

// body is a function body of the tests.
type body struct {
	name string
	id   catalog.ID
	b    []byte
}

// testBodies returns the bodies "a", "b" and "c".
func testBodies(t *testing.T) map[string]body {
	t.Helper()
	out := map[string]body{}
	for _, name := range []string{"a", "b", "c"} {
		f := pyFunc(name, "")
		b, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		id, err := f.ID()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = body{name, id, b}
	}
	return out
}

// contents is what a Backend holds, sorted: "head REF\nV" and "function
// NAME" lines, read back with LoadHeads and LoadFunctions and, for each,
// with Head or Function.
func contents(t *testing.T, be catalog.Backend, bodies map[string]body) []string {
	t.Helper()
	var out []string
	err := be.LoadHeads(func(env []byte) error {
		// A head's ref is its first line, in these tests.
		ref, _, _ := strings.Cut(string(env), "\n")
		got, ok, err := be.Head(ref)
		if err != nil || !ok || string(got) != string(env) {
			t.Errorf("Head(%s) = %q, %v, %v; LoadHeads gave %q", ref, got, ok, err, env)
		}
		out = append(out, "head "+string(env))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = be.LoadFunctions(func(b []byte) error {
		var found *body
		for _, x := range bodies {
			if string(x.b) == string(b) {
				found = &x
			}
		}
		if found == nil {
			t.Errorf("LoadFunctions gave an unknown body %q", b)
			return nil
		}
		got, ok, err := be.Function(found.id)
		if err != nil || !ok || string(got) != string(b) {
			t.Errorf("Function(%s) = %q, %v, %v; LoadFunctions gave %q", found.id, got, ok, err, b)
		}
		out = append(out, "function "+found.name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestBackendContract holds every catalog.Backend to what the Store
// expects of it: batches applied in order and whole, heads replaced only
// when given, bodies deleted, bytes copied, and everything there after a
// restart.
func TestBackendContract(t *testing.T) {
	bodies := testBodies(t)
	a, b, c := bodies["a"], bodies["b"], bodies["c"]
	head := func(ref, v string) []byte { return []byte(ref + "\n" + v) }
	put := func(bs ...body) map[catalog.ID][]byte {
		m := map[catalog.ID][]byte{}
		for _, x := range bs {
			m[x.id] = slices.Clone(x.b)
		}
		return m
	}
	tests := []struct {
		name    string
		commits [][]*catalog.Batch // each one Commit
		want    []string
	}{
		{name: "empty", want: nil},
		{
			name:    "a head and its bodies",
			commits: [][]*catalog.Batch{{{Ref: "o/f", Head: head("o/f", "1"), Put: put(a, b)}}},
			want:    []string{"function a", "function b", "head o/f\n1"},
		},
		{
			name: "a new head replaces the old; none leaves it",
			commits: [][]*catalog.Batch{
				{{Ref: "o/f", Head: head("o/f", "1")}, {Ref: "o/g", Head: head("o/g", "1")}},
				{{Ref: "o/f", Head: head("o/f", "2")}},
				{{Ref: "o/g", Put: put(c)}},
			},
			want: []string{"function c", "head o/f\n2", "head o/g\n1"},
		},
		{
			name: "the batches of one commit apply in order",
			commits: [][]*catalog.Batch{
				{{Put: put(a)}, {Delete: []catalog.ID{a.id}}},
				{{Delete: []catalog.ID{b.id}}, {Put: put(b)}},
			},
			want: []string{"function b"},
		},
		{
			name:    "deleting a body that is not there",
			commits: [][]*catalog.Batch{{{Put: put(a)}}, {{Delete: []catalog.ID{a.id, c.id}}}},
			want:    nil,
		},
	}
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					be, restart := bk.open(t)
					for _, c := range tc.commits {
						if err := be.Commit(c...); err != nil {
							t.Fatal(err)
						}
					}
					if got := contents(t, be, bodies); !slices.Equal(got, tc.want) {
						t.Fatalf("holds %q, want %q", got, tc.want)
					}
					if err := be.Close(); err != nil {
						t.Fatal(err)
					}
					if got := contents(t, restart(), bodies); !slices.Equal(got, tc.want) {
						t.Fatalf("after a restart holds %q, want %q", got, tc.want)
					}
				})
			}

			t.Run("the bytes are copied", func(t *testing.T) {
				be, _ := bk.open(t)
				h, m := head("o/f", "1"), put(a)
				if err := be.Commit(&catalog.Batch{Ref: "o/f", Head: h, Put: m}); err != nil {
					t.Fatal(err)
				}
				read, _, _ := be.Head("o/f")
				h[len(h)-1], m[a.id][0] = '9', 'X' // the writer reuses its buffers
				if got := contents(t, be, bodies); !slices.Equal(got, []string{"function a", "head o/f\n1"}) {
					t.Fatalf("after the writer changed its buffers, holds %q", got)
				}
				if err := be.Commit(&catalog.Batch{Ref: "o/f", Head: head("o/f", "2")}); err != nil {
					t.Fatal(err)
				}
				if string(read) != "o/f\n1" {
					t.Fatalf("a head read before the next commit is now %q", read)
				}
			})

			t.Run("a load stops at the callback's error", func(t *testing.T) {
				be, _ := bk.open(t)
				err := be.Commit(&catalog.Batch{Ref: "o/f", Head: head("o/f", "1"), Put: put(a, b)}, &catalog.Batch{Ref: "o/g", Head: head("o/g", "1")})
				if err != nil {
					t.Fatal(err)
				}
				stop := errors.New("stop")
				for name, load := range map[string]func(func([]byte) error) error{"LoadHeads": be.LoadHeads, "LoadFunctions": be.LoadFunctions} {
					calls := 0
					if err := load(func([]byte) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
						t.Errorf("%s: %v after %d calls, want the callback's error after 1", name, err, calls)
					}
				}
			})

			t.Run("what is not there is not found", func(t *testing.T) {
				be, _ := bk.open(t)
				if v, ok, err := be.Head("o/none"); v != nil || ok || err != nil {
					t.Errorf("Head of nothing = %q, %v, %v", v, ok, err)
				}
				if v, ok, err := be.Function(a.id); v != nil || ok || err != nil {
					t.Errorf("Function of nothing = %q, %v, %v", v, ok, err)
				}
			})
		})
	}
}
