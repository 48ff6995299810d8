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
	"github.com/fxmesh/fxmesh/routing"
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
