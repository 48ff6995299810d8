package node

import (
	"bytes"
	"encoding/base64"
	"os"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// signedRecord is a record of a fresh endpoint, signed at now, with seq,
// valid for ttl.
func signedRecord(t testing.TB, k *identity.Key, now time.Time, seq uint64, ttl time.Duration) []byte {
	t.Helper()
	rec := &routing.EndpointRecord{
		ID: k.ID().String(), Name: "ep", Addrs: []string{"/ip4/127.0.0.1/tcp/4001/p2p/" + k.ID().String()},
		Seq: seq, Updated: now.UnixNano(), Expires: now.Add(ttl).UnixNano(),
	}
	b, err := routing.SignRecord(k, rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKnownRecords: a bootstrap keeps the newest record of each endpoint,
// writes it, and reads back only records still valid: one expired, one
// whose bytes were changed and a line that is not base64 are dropped.
func TestKnownRecords(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := now
	k := newKnownRecords(t.TempDir(), func() time.Time { return clock })
	long, short := mustKey(t), mustKey(t)
	newer := signedRecord(t, long, now, 2, time.Hour)
	if _, ok := k.note(newer); !ok {
		t.Fatal("a fresh record was not kept")
	}
	if _, ok := k.note(signedRecord(t, long, now, 1, time.Hour)); ok {
		t.Fatal("an older record replaced a newer one")
	}
	if _, ok := k.note(signedRecord(t, short, now, 1, time.Minute)); !ok {
		t.Fatal("a second endpoint's record was not kept")
	}
	if err := k.save(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(newer)
	tampered[len(tampered)/2] ^= 1
	data = append(data, []byte(base64.StdEncoding.EncodeToString(tampered)+"\nnot base64!\n")...)

	recs, dropped := decodeKnown(data, now.Add(2*time.Minute)) // short's has expired
	if len(recs) != 1 || !bytes.Equal(recs[0], newer) || dropped != 3 {
		t.Fatalf("read back %d records (newest kept: %v), dropped %d; want 1, true, 3", len(recs), len(recs) == 1 && bytes.Equal(recs[0], newer), dropped)
	}
}

func mustKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzDecodeKnown: whatever KnownFile holds, reading it neither panics nor
// returns a record that does not verify.
func FuzzDecodeKnown(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	good := signedRecord(f, mustKey(f), now, 1, time.Hour)
	f.Add([]byte(base64.StdEncoding.EncodeToString(good) + "\n"))
	f.Add([]byte("\n\n  \nAAAA\n"))
	f.Add(bytes.Repeat([]byte("A"), 1<<16))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := decodeKnown(data, now)
		for _, b := range recs {
			if _, err := routing.DecodeRecord(b, now); err != nil {
				t.Fatalf("returned a record that does not decode: %v", err)
			}
		}
	})
}
