package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/internal/atomicfile"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.yaml.in/yaml/v3"
)

// Home is the user's fx directory: $FX_HOME, default ~/.fxmesh. It holds the
// user's key, the client's config.yaml and the client's own stores.
type Home struct{ Dir string }

// ConfigFile is the client's config in a Home.
const ConfigFile = "config.yaml"

// UserHome finds the user's Home.
func UserHome() (Home, error) {
	if d := os.Getenv("FX_HOME"); d != "" {
		return Home{d}, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return Home{}, fmt.Errorf("client: no home directory; set FX_HOME: %w", err)
	}
	return Home{filepath.Join(h, ".fxmesh")}, nil
}

// KeyPath is where the user's key lives.
func (h Home) KeyPath() string { return filepath.Join(h.Dir, "user.key") }

// UserKey loads the user's key, with a plain message when there is none.
func (h Home) UserKey() (*identity.Key, error) {
	k, err := identity.LoadKey(h.KeyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fault.E(fault.NotFound, "", "no user key in %s: run fx id init", h.Dir)
	}
	return k, err
}

// Config is $FX_HOME/config.yaml.
type Config struct {
	Bootstrap []string `yaml:"bootstrap"`
	// TrustedOwners are the users, besides yourself, to whose endpoints fx
	// sends routed work (fx trust add|remove|list); empty means yourself
	// only.
	TrustedOwners []string `yaml:"trusted_owners"`
}

// Config reads $FX_HOME/config.yaml; a missing file gives the zero config.
func (h Home) Config() (*Config, error) {
	var c Config
	f, err := os.Open(filepath.Join(h.Dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return &c, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := yaml.NewDecoder(f).Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%s: %w", f.Name(), err))
	}
	return &c, nil
}

// BootstrapAddrs picks the bootstrap addresses: the flag, else FX_BOOTSTRAP
// (comma or space separated), else $FX_HOME/config.yaml.
func (h Home) BootstrapAddrs(flag []string) ([]string, error) {
	if len(flag) > 0 {
		return flag, nil
	}
	if env := os.Getenv("FX_BOOTSTRAP"); env != "" {
		return strings.FieldsFunc(env, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }), nil
	}
	c, err := h.Config()
	if err != nil {
		return nil, err
	}
	return c.Bootstrap, nil
}

// trustedKey is the key of config.yaml that lists the trusted owners.
const trustedKey = "trusted_owners"

// TrustedOwners reads the owners the user trusts from config.yaml; an ID
// that does not parse is an error naming the file.
func (h Home) TrustedOwners() ([]peer.ID, error) {
	c, err := h.Config()
	if err != nil {
		return nil, err
	}
	ids := make([]peer.ID, 0, len(c.TrustedOwners))
	for _, s := range c.TrustedOwners {
		id, err := identity.ParseID(s)
		if err != nil {
			return nil, fault.E(fault.Invalid, "", "%s: %s: %v", filepath.Join(h.Dir, ConfigFile), trustedKey, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// SetTrustedOwners writes ids as trusted_owners in config.yaml, keeping
// every other key of the file and its comments; no ids removes the key.
func (h Home) SetTrustedOwners(ids []peer.ID) error {
	vals := make([]string, len(ids))
	for i, id := range ids {
		vals[i] = id.String()
	}
	return h.setList(trustedKey, vals, "Owners, besides you, to whose endpoints fx sends routed work (fx trust add|remove).")
}

// bootstrapKey is the key of config.yaml that lists bootstrap addresses.
const bootstrapKey = "bootstrap"

// SetBootstrap writes addrs as bootstrap in config.yaml, keeping every
// other key of the file (trusted_owners, say) and its comments; no addrs
// removes the key. fxnode dev records its mesh so, and fx finds it there
// when neither --bootstrap nor FX_BOOTSTRAP names one.
func (h Home) SetBootstrap(addrs []string) error {
	return h.setList(bootstrapKey, addrs, "Where fx finds the mesh when neither --bootstrap nor FX_BOOTSTRAP says (fxnode dev writes it).")
}

// setList writes vals as the list under key in config.yaml, keeping every
// other key of the file and its comments; no vals removes the key. A new
// key gets comment above it.
func (h Home) setList(key string, vals []string, comment string) error {
	path := filepath.Join(h.Dir, ConfigFile)
	mode := os.FileMode(0o644)
	var doc yaml.Node
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("client: %w", err)
	default:
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fault.E(fault.Invalid, "", "%s: %v", path, err)
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fault.E(fault.Invalid, "", "%s: not a mapping of keys to values", path)
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, v := range vals {
		list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
	}
	found := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != key {
			continue
		}
		if len(vals) == 0 {
			root.Content = append(root.Content[:i], root.Content[i+2:]...)
		} else {
			root.Content[i+1] = list
		}
		found = true
		break
	}
	if !found && len(vals) > 0 {
		k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, HeadComment: comment}
		root.Content = append(root.Content, k, list)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("client: %s: %w", path, err)
	}
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := atomicfile.Write(path, buf.Bytes(), mode); err != nil {
		return fmt.Errorf("client: write %s: %w", path, err)
	}
	return nil
}

// DefaultClaimTTL is how long an owner claim holds unless its owner says
// otherwise: a year.
const DefaultClaimTTL = routing.DefaultClaimTTL

// SignClaim signs the claim of h's user on node as its owner, valid for ttl
// from now, when owner is that user: the common case of an owner setting up
// their own endpoint. It reports whether it signed; a home without owner's
// key is not an error.
func (h Home) SignClaim(node peer.ID, owner string, now time.Time, ttl time.Duration) (claim []byte, signed bool, err error) {
	if owner == "" {
		return nil, false, nil
	}
	k, err := h.UserKey()
	if fault.KindOf(err) == fault.NotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if k.ID().String() != owner {
		return nil, false, nil
	}
	claim, err = routing.SignOwnerClaim(k, node, now.Add(ttl))
	if err != nil {
		return nil, false, err
	}
	return claim, true, nil
}

// ClaimText signs, with h's user key, the claim that the user owns node,
// valid for ttl from now, and returns it as the text an operator installs
// (fxnode claim).
func (h Home) ClaimText(node peer.ID, now time.Time, ttl time.Duration) (string, error) {
	k, err := h.UserKey()
	if err != nil {
		return "", err
	}
	claim, err := routing.SignOwnerClaim(k, node, now.Add(ttl))
	if err != nil {
		return "", err
	}
	return routing.ClaimText(claim), nil
}
