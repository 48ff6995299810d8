package main

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

// home is the user's fx directory: $FX_HOME, default ~/.fxmesh.
type home struct{ dir string }

func fxHome() (home, error) {
	if d := os.Getenv("FX_HOME"); d != "" {
		return home{d}, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return home{}, fmt.Errorf("no home directory; set FX_HOME: %w", err)
	}
	return home{filepath.Join(h, ".fxmesh")}, nil
}

func (h home) keyPath() string { return filepath.Join(h.dir, "user.key") }

// userKey loads the user's key, with a plain message when there is none.
func (h home) userKey() (*identity.Key, error) {
	k, err := identity.LoadKey(h.keyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fault.E(fault.NotFound, "", "no user key in %s: run fx id init", h.dir)
	}
	return k, err
}

// clientConfig is $FX_HOME/config.yaml.
type clientConfig struct {
	Bootstrap []string `yaml:"bootstrap"`
}

func (h home) config() (*clientConfig, error) {
	var c clientConfig
	f, err := os.Open(filepath.Join(h.dir, "config.yaml"))
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

// bootstrapAddrs picks the bootstrap addresses: the flag, else FX_BOOTSTRAP
// (comma or space separated), else $FX_HOME/config.yaml.
func (h home) bootstrapAddrs(flag []string) ([]string, error) {
	if len(flag) > 0 {
		return flag, nil
	}
	if env := os.Getenv("FX_BOOTSTRAP"); env != "" {
		return strings.FieldsFunc(env, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }), nil
	}
	c, err := h.config()
	if err != nil {
		return nil, err
	}
	return c.Bootstrap, nil
}
