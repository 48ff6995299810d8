package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/internal/atomicfile"
	"github.com/fxmesh/fxmesh/routing"
)

// ClaimFile is the file in a node's directory that holds its owner's signed
// claim (routing.SignOwnerClaim), as one line of routing.ClaimText.
const ClaimFile = "owner.claim"

// DefaultClaimTTL is how long an owner claim made by fxnode init or fxnode
// dev holds unless told otherwise.
const DefaultClaimTTL = routing.DefaultClaimTTL

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
	b, err := routing.ParseClaimText(string(text))
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
	if err := atomicfile.Write(filepath.Join(dir, ClaimFile), []byte(routing.ClaimText(claim)+"\n"), 0o644); err != nil {
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
	b, err := routing.ParseClaimText(text)
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
