package catalog

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
)

// sentinels are the reasons a record can be refused for.
var sentinels = []error{
	ErrTooLarge, ErrSourceTooLarge, ErrMalformed, ErrBadSignature, ErrInvalidField,
	ErrNotOwner, ErrPrivate, ErrStale, ErrDuplicate, ErrUnreferenced, ErrQuota,
}

// checkReason fails unless err names a specific reason with a kind.
func checkReason(t *testing.T, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if k := fault.KindOf(err); k == fault.Internal || k == "" {
				t.Fatalf("%v has kind %q", err, k)
			}
			return
		}
	}
	t.Fatalf("error without a specific reason: %v", err)
}

// seedUpdates returns valid envelopes of each op and a store holding some.
func seedUpdates(t testing.TB) ([][]byte, *Store) {
	alice := testKey(t, 1)
	c := newClient(t, alice)
	envs := [][]byte{
		c.publish(pyFunc("f", "one"), Access{Public: true}),
		c.access(Access{Users: []string{testKey(t, 2).ID().String()}}),
		c.delete(),
	}
	sh := Function{Name: "sh", Kind: KindShell, Command: "echo {x}", Container: "alpine:3"}
	envs = append(envs, newClient(t, alice).publish(sh, Access{}))
	// Fuzz functions may not log through f: discard.
	s := memStore(t, Options{Logger: slog.New(slog.DiscardHandler)})
	mustApply(t, s, envs[0])
	return envs, s
}

func FuzzDecodeUpdate(f *testing.F) {
	envs, s := seedUpdates(f)
	for _, env := range envs {
		f.Add(env)
		f.Add(env[:len(env)/2])
		flipped := bytes.Clone(env)
		flipped[len(flipped)*2/3] ^= 0x40
		f.Add(flipped)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		su, err := DecodeUpdate(data, Limits{})
		_, cerr := s.Check(data)
		if err != nil {
			checkReason(t, err)
			if cerr == nil {
				t.Fatal("store accepted what DecodeUpdate refused")
			}
			return
		}
		if cerr != nil {
			checkReason(t, cerr)
		}
		if su.Signer.String() != su.Update.Owner {
			t.Fatalf("signer %s is not owner %s", su.Signer, su.Update.Owner)
		}
		if err := su.Update.Validate(Limits{}); err != nil {
			t.Fatalf("decoded update does not validate: %v", err)
		}
		opened, err := identity.Open(data, identity.DomainFunction, []byte(UpdateCodec))
		if err != nil {
			t.Fatal(err)
		}
		again, err := marshal(&su.Update)
		if err != nil || !bytes.Equal(again, opened.Payload) || idOf(again) != su.ID {
			t.Fatalf("decoded update does not re-encode to its payload: %v", err)
		}
	})
}

// FuzzDecodePayload fuzzes the update decoder and validator under the
// signature, which random envelopes almost never get past.
func FuzzDecodePayload(f *testing.F) {
	envs, _ := seedUpdates(f)
	for _, env := range envs {
		s, err := identity.Open(env, identity.DomainFunction, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.Payload)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := decodePayload(data, Limits{})
		if err != nil {
			checkReason(t, err)
			return
		}
		again, err := marshal(u)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted a payload that does not re-encode to itself: %v", err)
		}
		if u.Op != OpDelete && len(u.Versions) == 0 {
			t.Fatal("accepted an update without versions")
		}
	})
}

func FuzzDecodeFunction(f *testing.F) {
	envs, _ := seedUpdates(f)
	for _, env := range envs {
		su, err := DecodeUpdate(env, unlimited)
		if err != nil {
			f.Fatal(err)
		}
		if fn := su.Update.Function; fn != nil {
			b, _ := fn.Marshal()
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fn, id, err := DecodeFunction(data, Limits{})
		if err != nil {
			checkReason(t, err)
			return
		}
		if got, _ := fn.ID(); got != id {
			t.Fatalf("ID %s, recomputed %s", id, got)
		}
	})
}

func FuzzDecodeSync(f *testing.F) {
	envs, s := seedUpdates(f)
	req := s.CompareRequest(0)
	req.Want = s.Items()
	req.Updates = envs[:1]
	rb, err := EncodeSyncRequest(req, Limits{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rb)
	pb, err := EncodeSyncResponse(s.Missing(req), Limits{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pb)
	f.Add(append(rb[:len(rb)/2:len(rb)/2], 0xff))
	f.Add([]byte{0xa1, 0x06, 0x18, 0x80})
	other := memStore(f, Options{Logger: slog.New(slog.DiscardHandler)})
	f.Fuzz(func(t *testing.T, data []byte) {
		if req, err := DecodeSyncRequest(data, Limits{}); err != nil {
			checkReason(t, err)
		} else {
			b, err := EncodeSyncRequest(req, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeSyncRequest(b, Limits{}); err != nil {
				t.Fatalf("re-encoded request does not decode: %v", err)
			}
			s.Missing(req)
			other.HandleSync(req)
		}
		if resp, err := DecodeSyncResponse(data, Limits{}); err != nil {
			checkReason(t, err)
		} else {
			b, err := EncodeSyncResponse(resp, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeSyncResponse(b, Limits{}); err != nil {
				t.Fatalf("re-encoded response does not decode: %v", err)
			}
			s.diff(resp.Diff)
		}
	})
}
