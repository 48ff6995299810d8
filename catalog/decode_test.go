package catalog

import (
	"bytes"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
)

// rawPublish returns a valid publish of fn by owner (not signed): the
// starting point of hand-made bad records.
func rawPublish(t testing.TB, owner *identity.Key, fn Function, seq uint64) *Update {
	t.Helper()
	fn.Owner = owner.ID().String()
	if fn.Version == 0 {
		fn.Version = 1
	}
	id, err := fn.ID()
	if err != nil {
		t.Fatal(err)
	}
	return &Update{
		Op: OpPublish, Owner: fn.Owner, Name: fn.Name, Seq: seq, Time: t0.Unix(),
		Access: Access{Public: true}, Versions: []VersionRef{{fn.Version, id}}, Function: &fn,
	}
}

func TestRejections(t *testing.T) {
	alice, mallory, carol := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	c := newClient(t, alice)
	e1 := c.publish(pyFunc("double", "doubles"), Access{Public: true})
	e2 := c.publish(pyFunc("double", "doubles, faster"), Access{Public: true})
	e3 := c.access(Access{Users: []string{carol.ID().String()}}) // share with carol
	e4 := c.access(Access{})                                     // unshare: private again
	history := [][]byte{e1, e2, e3, e4}
	const late = 1 << 62 // a Seq above all of the history's

	canonical := func(u *Update) []byte {
		b, err := marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signed := func(mutate func(u *Update)) []byte {
		u := rawPublish(t, alice, pyFunc("other", ""), late)
		mutate(u)
		return sealUpdate(t, alice, u)
	}
	rng := rand.New(rand.NewSource(1))
	random := make([]byte, 700)
	rng.Read(random)

	tests := []struct {
		name string
		env  func() []byte
		lim  Limits
		want error
		kind fault.Kind
	}{
		{"signed by another key", func() []byte {
			return sealUpdate(t, mallory, rawPublish(t, alice, pyFunc("double", "evil"), late))
		}, Limits{}, ErrNotOwner, fault.Denied},
		{"tampered field bytes", func() []byte {
			env := sealUpdate(t, alice, rawPublish(t, alice, pyFunc("double", "harmless"), late))
			return bytes.Replace(env, []byte("harmless"), []byte("harmfull"), 1) // same length: the envelope still parses
		}, Limits{}, ErrBadSignature, fault.Invalid},
		{"oversized record", func() []byte {
			u := rawPublish(t, alice, pyFunc("big", ""), late)
			last := u.Versions[0]
			u.Versions = nil
			for v := uint64(1); v < 30000; v++ {
				u.Versions = append(u.Versions, VersionRef{v, idOf([]byte{byte(v), byte(v >> 8)})})
			}
			u.Function.Version = 30000
			last.ID, _ = u.Function.ID()
			u.Versions = append(u.Versions, VersionRef{30000, last.ID})
			return sealUpdate(t, alice, u)
		}, Limits{}, ErrTooLarge, fault.TooLarge},
		{"over a configured record limit", func() []byte {
			return signed(func(u *Update) {})
		}, Limits{MaxRecordBytes: 256}, ErrTooLarge, fault.TooLarge},
		{"oversized source", func() []byte {
			fn := pyFunc("big", "")
			fn.Source = "x = 1\n" + strings.Repeat("#", DefaultMaxSourceBytes)
			return sealUpdate(t, alice, rawPublish(t, alice, fn, late))
		}, Limits{}, ErrSourceTooLarge, fault.TooLarge},
		{"over a configured source limit", func() []byte {
			return signed(func(u *Update) {})
		}, Limits{MaxSourceBytes: 8}, ErrSourceTooLarge, fault.TooLarge},
		{"malformed CBOR", func() []byte {
			return sealRaw(t, alice, identity.DomainFunction, UpdateCodec, []byte{0xa8, 0x01, 0xff})
		}, Limits{}, ErrMalformed, fault.Invalid},
		{"duplicate map key", func() []byte {
			b := canonical(rawPublish(t, alice, pyFunc("dup", ""), late))
			b[0]++ // one more pair: 1: "publish" again
			b = append(b, 0x01, 0x67)
			return sealRaw(t, alice, identity.DomainFunction, UpdateCodec, append(b, "publish"...))
		}, Limits{}, ErrMalformed, fault.Invalid},
		{"unknown field", func() []byte {
			b := canonical(rawPublish(t, alice, pyFunc("unk", ""), late))
			b[0]++
			return sealRaw(t, alice, identity.DomainFunction, UpdateCodec, append(b, 0x18, 0x63, 0x00)) // 99: 0
		}, Limits{}, ErrMalformed, fault.Invalid},
		{"non-canonical encoding", func() []byte {
			b := canonical(rawPublish(t, alice, pyFunc("long", ""), late))
			b = append([]byte{0xb8, b[0] & 0x1f}, b[1:]...) // map length in a needless extra byte
			return sealRaw(t, alice, identity.DomainFunction, UpdateCodec, b)
		}, Limits{}, ErrMalformed, fault.Invalid},
		{"wrong codec", func() []byte {
			return sealRaw(t, alice, identity.DomainFunction, "/fxmesh/other/1",
				canonical(rawPublish(t, alice, pyFunc("x", ""), late)))
		}, Limits{}, ErrMalformed, fault.Invalid},
		{"wrong domain", func() []byte {
			return sealRaw(t, alice, identity.DomainEndpoint, UpdateCodec,
				canonical(rawPublish(t, alice, pyFunc("x", ""), late)))
		}, Limits{}, ErrBadSignature, fault.Invalid},
		{"random bytes", func() []byte { return random }, Limits{}, ErrMalformed, fault.Invalid},
		{"empty", func() []byte { return nil }, Limits{}, ErrMalformed, fault.Invalid},
		{"bad name", func() []byte {
			return signed(func(u *Update) { u.Name = "no spaces" })
		}, Limits{}, ErrInvalidField, fault.Invalid},
		{"python without source", func() []byte {
			u := rawPublish(t, alice, Function{Name: "empty", Kind: KindPython, Entry: "run"}, late)
			return sealUpdate(t, alice, u)
		}, Limits{}, ErrInvalidField, fault.Invalid},
		{"bad requirement", func() []byte {
			fn := pyFunc("req", "")
			fn.Requirements = []string{"gpus >= 1"}
			return sealUpdate(t, alice, rawPublish(t, alice, fn, late))
		}, Limits{}, ErrInvalidField, fault.Invalid},
		{"function not the version listed", func() []byte {
			return signed(func(u *Update) { u.Versions[0].ID = idOf([]byte("another")) })
		}, Limits{}, ErrInvalidField, fault.Invalid},
		{"function of another owner", func() []byte {
			return signed(func(u *Update) { u.Owner = carol.ID().String() })
		}, Limits{}, ErrInvalidField, fault.Invalid},
		{"delete carrying versions", func() []byte {
			return signed(func(u *Update) { u.Op, u.Function, u.Access = OpDelete, nil, Access{} })
		}, Limits{}, ErrInvalidField, fault.Invalid},
		{"unsorted users", func() []byte {
			a, b := carol.ID().String(), mallory.ID().String()
			if a < b {
				a, b = b, a
			}
			return signed(func(u *Update) { u.Access = Access{Users: []string{a, b}} })
		}, Limits{}, ErrInvalidField, fault.Invalid},
		{"zero seq", func() []byte {
			return signed(func(u *Update) { u.Seq = 0 })
		}, Limits{}, ErrInvalidField, fault.Invalid},
		{"private with code", func() []byte {
			return signed(func(u *Update) { u.Access = Access{} })
		}, Limits{}, ErrPrivate, fault.Denied},
		{"stale: replayed older version", func() []byte { return e2 }, Limits{}, ErrStale, fault.Replayed},
		{"stale: replayed first version", func() []byte { return e1 }, Limits{}, ErrStale, fault.Replayed},
		{"stale: replayed ACL after unshare", func() []byte { return e3 }, Limits{}, ErrStale, fault.Replayed},
		{"duplicate", func() []byte { return e4 }, Limits{}, ErrDuplicate, fault.Replayed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := memStore(t, Options{Limits: tc.lim})
			for _, env := range history {
				if _, err := s.Receive(env); err != nil && tc.lim == (Limits{}) {
					t.Fatal(err)
				}
			}
			before := snapshot(s)
			env := tc.env()

			_, err := s.Check(env)
			wantErr(t, err, tc.want, tc.kind)
			_, err = s.Apply(env)
			wantErr(t, err, tc.want, tc.kind)
			_, err = s.Receive(env)
			wantErr(t, err, tc.want, tc.kind)
			if after := snapshot(s); after != before {
				t.Fatalf("store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			wantVerdict := Reject
			if tc.want == ErrStale || tc.want == ErrDuplicate {
				wantVerdict = Ignore
			}
			if v := VerdictOf(err); v != wantVerdict {
				t.Fatalf("verdict %v, want %v", v, wantVerdict)
			}
			if tc.want == ErrBadSignature && !errors.Is(err, identity.ErrBadSignature) {
				t.Fatalf("err = %v does not match identity.ErrBadSignature", err)
			}
		})
	}
}

// TestStaleOnLateArrival: a store that saw version 2 first refuses version 1
// when it arrives later; an honest relay of it is ignored, not punished.
func TestStaleOnLateArrival(t *testing.T) {
	c := newClient(t, testKey(t, 1))
	e1 := c.publish(pyFunc("f", "one"), Access{Public: true})
	e2 := c.publish(pyFunc("f", "two"), Access{Public: true})
	s := memStore(t, Options{})
	mustApply(t, s, e2)
	before := snapshot(s)
	_, err := s.Receive(e1)
	wantErr(t, err, ErrStale, fault.Replayed)
	if VerdictOf(err) != Ignore || snapshot(s) != before {
		t.Fatal("late older version changed the store or was not ignored")
	}
	r, err := s.Resolve(c.prev.Ref())
	if err != nil || r.Function.Description != "two" {
		t.Fatalf("resolve = %+v, %v", r, err)
	}
}

// TestEqualSeqConverges: two different updates an owner signed with the same
// Seq end in the same state whatever order they arrive in.
func TestEqualSeqConverges(t *testing.T) {
	alice := testKey(t, 1)
	a := sealUpdate(t, alice, rawPublish(t, alice, pyFunc("f", "a"), 5))
	b := sealUpdate(t, alice, rawPublish(t, alice, pyFunc("f", "b"), 5))
	s1, s2 := memStore(t, Options{}), memStore(t, Options{})
	_, err1a := s1.Receive(a)
	_, err1b := s1.Receive(b)
	_, err2b := s2.Receive(b)
	_, err2a := s2.Receive(a)
	if err1a != nil || err2b != nil {
		t.Fatal(err1a, err2b)
	}
	if (err1b == nil) == (err2a == nil) {
		t.Fatalf("exactly one late arrival should win: %v / %v", err1b, err2a)
	}
	if snapshot(s1) != snapshot(s2) {
		t.Fatalf("diverged:\n%s\n%s", snapshot(s1), snapshot(s2))
	}
}
