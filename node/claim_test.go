package node

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// syncBuffer is a buffer a logger and a test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEndpointPublishesOwnerClaim: an endpoint puts its owner's claim in
// its record only when the claim proves that owner; otherwise it starts
// anyway, warns, and its owner is unverified.
func TestEndpointPublishesOwnerClaim(t *testing.T) {
	owner, _ := identity.GenerateKey()
	other, _ := identity.GenerateKey()
	now := time.Now()
	tests := []struct {
		name string
		// claim makes the claim for node; file writes it to DIR/owner.claim
		// instead of passing it in Options.
		claim   func(t *testing.T, node *identity.Key) []byte
		file    string // raw DIR/owner.claim, when not ""
		ownerID string // the config's owner; "" means owner's ID
		problem string // OwnerUnverified of the published record
		warns   bool
	}{
		{name: "valid claim", claim: func(t *testing.T, n *identity.Key) []byte { return sign(t, owner, n, now.Add(time.Hour)) }},
		{name: "valid claim in owner.claim", file: "from-claim"},
		{name: "no claim", problem: "no owner claim", warns: true},
		{name: "claim by another user", claim: func(t *testing.T, n *identity.Key) []byte { return sign(t, other, n, now.Add(time.Hour)) },
			problem: "no owner claim", warns: true},
		{name: "claim for another node", claim: func(t *testing.T, _ *identity.Key) []byte { return sign(t, owner, other, now.Add(time.Hour)) },
			problem: "no owner claim", warns: true},
		{name: "expired claim", claim: func(t *testing.T, n *identity.Key) []byte { return sign(t, owner, n, now.Add(-time.Second)) },
			problem: "no owner claim", warns: true},
		{name: "garbage in owner.claim", file: "%%% not base64", problem: "no owner claim", warns: true},
		{name: "no owner, no claim needed", ownerID: "none", problem: "no owner"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, _ := identity.GenerateKey()
			dir := t.TempDir()
			opts := Options{Dir: dir, Key: key}
			if tc.claim != nil {
				opts.OwnerClaim = tc.claim(t, key)
			}
			switch tc.file {
			case "":
			case "from-claim":
				if err := WriteClaim(dir, sign(t, owner, key, now.Add(time.Hour))); err != nil {
					t.Fatal(err)
				}
			default:
				if err := os.WriteFile(filepath.Join(dir, ClaimFile), []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := &Config{Owner: owner.ID().String(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Workers: 1}
			if tc.ownerID == "none" {
				cfg.Owner = ""
			}
			opts.Config = cfg
			var logs syncBuffer
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			n, err := Start(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			rec, err := routing.DecodeRecord(n.currentRecord(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if rec.OwnerUnverified != tc.problem || rec.OwnerVerified != (tc.problem == "") {
				t.Fatalf("published owner verified %v (%q), want problem %q", rec.OwnerVerified, rec.OwnerUnverified, tc.problem)
			}
			warned := strings.Contains(logs.String(), "owner unverified")
			if warned != tc.warns {
				t.Fatalf("warned %v, want %v; logs:\n%s", warned, tc.warns, logs.String())
			}
			if tc.warns && !strings.Contains(logs.String(), "fx endpoint claim "+key.ID().String()) {
				t.Fatalf("the warning does not say how to get a claim:\n%s", logs.String())
			}
		})
	}
}

func sign(t *testing.T, owner, node *identity.Key, expires time.Time) []byte {
	t.Helper()
	b, err := routing.SignOwnerClaim(owner, node.ID(), expires)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClaimText(t *testing.T) {
	owner, _ := identity.GenerateKey()
	claim := sign(t, owner, owner, time.Now().Add(time.Hour))
	got, err := routing.ParseClaimText("  " + routing.ClaimText(claim) + "\n")
	if err != nil || !bytes.Equal(got, claim) {
		t.Fatalf("round trip: %v", err)
	}
	tests := []struct {
		name, text string
	}{
		{"not base64", "!!"},
		{"too long", strings.Repeat("A", 4*routing.MaxClaimBytes)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := routing.ParseClaimText(tc.text); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if b, err := ReadClaim(t.TempDir()); b != nil || err != nil {
		t.Fatalf("missing file: %v, %v", b, err)
	}
}
