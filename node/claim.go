package node

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ClaimFile is the file in a node's directory that holds its owner's signed
// claim (routing.SignOwnerClaim), as one line of base64.
const ClaimFile = "owner.claim"

// DefaultClaimTTL is how long an owner claim made by fxnode init, fxnode dev
// or fx endpoint claim holds unless told otherwise: a year.
const DefaultClaimTTL = 365 * 24 * time.Hour

// EncodeClaim writes a signed claim as the one line of text that fx endpoint
// claim prints and ClaimFile holds.
func EncodeClaim(claim []byte) string { return base64.StdEncoding.EncodeToString(claim) }

// DecodeClaim reads the text EncodeClaim writes; surrounding white space is
// ignored.
func DecodeClaim(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if len(text) > base64.StdEncoding.EncodedLen(routing.MaxClaimBytes) {
		return nil, fault.E(fault.TooLarge, "node: owner claim", "%d characters, limit %d", len(text), base64.StdEncoding.EncodedLen(routing.MaxClaimBytes))
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fault.E(fault.Invalid, "node: owner claim", "not base64: %v", err)
	}
	return b, nil
}

// ReadClaim reads DIR/owner.claim; a missing file gives nil and no error.
func ReadClaim(dir string) ([]byte, error) {
	path := filepath.Join(dir, ClaimFile)
	text, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: read %s: %w", path, err)
	}
	b, err := DecodeClaim(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// WriteClaim writes claim to DIR/owner.claim.
func WriteClaim(dir string, claim []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: write %s: %w", ClaimFile, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ClaimFile), []byte(EncodeClaim(claim)+"\n"), 0o644); err != nil {
		return fmt.Errorf("node: write %s: %w", ClaimFile, err)
	}
	return nil
}

// claimHint tells the operator of node id in dir how to get a valid claim.
func claimHint(id, dir string) string {
	return fmt.Sprintf("the owner runs: fx endpoint claim %s; then: fxnode claim --dir %s CLAIM", id, dir)
}

// checkClaim says what keeps claim from proving owner's ownership of node
// id at now, or "" when it does. A node without owner needs no claim.
func checkClaim(claim []byte, id, owner string, now time.Time) string {
	if owner == "" {
		return ""
	}
	if len(claim) == 0 {
		return "no owner claim"
	}
	if _, err := routing.VerifyOwnerClaim(claim, id, owner, now); err != nil {
		return err.Error()
	}
	return ""
}

// SignClaim signs owner's claim on node, valid for ttl from now, and writes
// it to DIR/owner.claim, when the user key in h is owner's: the common case
// of an owner setting up their own endpoint. It reports whether it signed;
// a home without owner's key is not an error.
func (h Home) SignClaim(dir string, node peer.ID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if owner == "" {
		return false, nil
	}
	k, err := h.UserKey()
	if fault.KindOf(err) == fault.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if k.ID().String() != owner {
		return false, nil
	}
	claim, err := routing.SignOwnerClaim(k, node, now.Add(ttl))
	if err != nil {
		return false, err
	}
	return true, WriteClaim(dir, claim)
}

// InstallClaim checks that text (as fx endpoint claim prints it) is a claim,
// valid at now, by the owner DIR/config.yaml names on the node whose key is
// DIR/node.key, and writes it to DIR/owner.claim.
func InstallClaim(dir, text string, now time.Time) (*routing.OwnerClaim, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, "", err)
	}
	if cfg.Owner == "" {
		return nil, fault.E(fault.Invalid, "", "%s names no owner: set owner, or run fxnode init --dir %s --owner ID --force", filepath.Join(dir, ConfigFile), dir)
	}
	key, err := identity.LoadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fault.Wrap(fault.NotFound, "", fmt.Errorf("no node key in %s (run fxnode init first): %w", dir, err))
	}
	b, err := DecodeClaim(text)
	if err != nil {
		return nil, err
	}
	c, err := routing.VerifyOwnerClaim(b, key.ID().String(), cfg.Owner, now)
	if err != nil {
		return nil, fmt.Errorf("node %s, owner %s: %w", key.ID(), cfg.Owner, err)
	}
	if err := WriteClaim(dir, b); err != nil {
		return nil, err
	}
	return c, nil
}
