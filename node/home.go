package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"go.yaml.in/yaml/v3"
)

// Home is the user's fx directory: $FX_HOME, default ~/.fxmesh. It holds the
// user's key, the client's config.yaml and the client's own stores.
type Home struct{ Dir string }

// UserHome finds the user's Home.
func UserHome() (Home, error) {
	if d := os.Getenv("FX_HOME"); d != "" {
		return Home{d}, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return Home{}, fmt.Errorf("node: no home directory; set FX_HOME: %w", err)
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

// ClientConfig is $FX_HOME/config.yaml.
type ClientConfig struct {
	Bootstrap []string `yaml:"bootstrap"`
}

// Config reads $FX_HOME/config.yaml; a missing file gives the zero config.
func (h Home) Config() (*ClientConfig, error) {
	var c ClientConfig
	f, err := os.Open(filepath.Join(h.Dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return &c, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := yaml.NewDecoder(f).Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
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
