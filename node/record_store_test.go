package node

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/p2p"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/fxmesh/fxmesh/wire"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
	corerouting "github.com/libp2p/go-libp2p/core/routing"
)

// acceptAll is an attacker's validator: it lets its DHT send anything.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

// TestBadRecordsNeverReplaceValidOnes puts forged, tampered, stale, expired,
// oversized and random records into the DHT from a peer that skips
// validation, and checks that every node still stores the valid record.
func TestBadRecordsNeverReplaceValidOnes(t *testing.T) {
	boot := startNode(t, RoleBootstrap, "boot", nil)
	eps := []*Node{
		startNode(t, RoleEndpoint, "a", boot.Addrs()),
		startNode(t, RoleEndpoint, "b", boot.Addrs()),
	}
	waitJoined(t, eps...)
	victim := eps[0]
	key := routing.Key(victim.ID())
	valid := victim.currentRecord()
	good, err := routing.DecodeRecord(valid, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// The attacker: a DHT server with fxmesh's prefix and no validation.
	ak, _ := identity.GenerateKey()
	ah, err := p2p.NewHost(ak, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ah.Close()
	ad, err := dht.New(ah, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(wire.DHTPrefix),
		dht.Validator(acceptAll{}))
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range append(eps, boot) {
		if err := ah.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	// Every honest node must be in the attacker's routing table, or its
	// puts would reach fewer than all of them and prove less.
	waitUntil(t, 10*time.Second, "the attacker's routing table holds every node", func() bool { return ad.RoutingTable().Size() >= 3 })

	other, _ := identity.GenerateKey()
	older := *good
	older.Seq = good.Seq - 1
	stale, err := routing.SignRecord(victim.key, &older)
	if err != nil {
		t.Fatal(err)
	}
	forgedRec := *good
	forgedRec.Name = "forged"
	forgedRec.ID = other.ID().String()
	forged, _ := routing.SignRecord(other, &forgedRec) // valid for other, stored under victim's key
	expiredRec := *good
	expiredRec.Seq = good.Seq + 10
	expiredRec.Updated = time.Now().Add(-2 * time.Hour).UnixNano()
	expiredRec.Expires = time.Now().Add(-time.Hour).UnixNano()
	expired, _ := routing.SignRecord(victim.key, &expiredRec)
	bigRec := *good
	bigRec.Seq = good.Seq + 20
	bigRec.Datasets = []string{strings.Repeat("d", routing.MaxRecordBytes)}
	big, _ := routing.SignRecord(victim.key, &bigRec) // fails: too large
	if big == nil {
		big = bytes.Repeat([]byte{0xa1}, routing.MaxRecordBytes+10)
	}

	bad := map[string][]byte{
		"signed by another key": forged,
		"tampered":              bytes.Replace(valid, []byte(good.Name), []byte("zzz"), 1),
		"older sequence":        stale,
		"expired":               expired,
		"oversized":             big,
		"random bytes":          []byte("random bytes, not a record"),
	}
	for name, b := range bad {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		_ = ad.PutValue(pctx, key, b) // the honest nodes refuse; the error does not matter
		pcancel()
		holders := 0
		for _, n := range append(eps, boot) {
			got, err := n.dht.GetValue(ctx, key, corerouting.Offline)
			if err != nil {
				continue // this node never stored the key: nothing was replaced
			}
			holders++
			if !bytes.Equal(got, valid) {
				t.Fatalf("%s: node %s now stores another record", name, n.config().Name)
			}
		}
		if holders == 0 {
			t.Fatalf("%s: no node holds the record at all", name)
		}
	}
	// The valid record is still what the mesh returns.
	got, err := eps[1].dht.GetValue(ctx, key)
	if err != nil || !bytes.Equal(got, valid) {
		t.Fatalf("GetValue after attack: %v", err)
	}
}
