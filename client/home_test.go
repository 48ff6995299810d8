package client

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestTrustedOwners: trusted_owners is written into config.yaml without
// touching the file's other keys or comments, and read back.
func TestTrustedOwners(t *testing.T) {
	a, _ := identity.GenerateKey()
	b, _ := identity.GenerateKey()
	const boot = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
	tests := []struct {
		name   string
		before string // config.yaml before; "-" means no file
		set    []peer.ID
		keep   []string // text that must still be in the file
		gone   string   // text that must not be
	}{
		{name: "no file yet", before: "-", set: []peer.ID{a.ID()}},
		{name: "other keys and comments kept", before: "# mine\nbootstrap:\n  - " + boot + "\nfuture_key: 7 # later\n",
			set: []peer.ID{a.ID(), b.ID()}, keep: []string{"# mine", boot, "future_key: 7", "# later"}},
		{name: "replaced, not repeated", before: "trusted_owners:\n  - " + b.ID().String() + "\nbootstrap: []\n",
			set: []peer.ID{a.ID()}, keep: []string{"bootstrap: []"}, gone: b.ID().String()},
		{name: "none left removes the key", before: "bootstrap: []\ntrusted_owners: [" + a.ID().String() + "]\n",
			keep: []string{"bootstrap: []"}, gone: "trusted_owners"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Home{Dir: t.TempDir()}
			path := filepath.Join(h.Dir, ConfigFile)
			if tc.before != "-" {
				if err := os.WriteFile(path, []byte(tc.before), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.SetTrustedOwners(tc.set); err != nil {
				t.Fatal(err)
			}
			got, err := h.TrustedOwners()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.set) && len(got)+len(tc.set) > 0 {
				t.Fatalf("read back %v, want %v", got, tc.set)
			}
			text, _ := os.ReadFile(path)
			for _, k := range tc.keep {
				if !strings.Contains(string(text), k) {
					t.Errorf("lost %q:\n%s", k, text)
				}
			}
			if tc.gone != "" && strings.Contains(string(text), tc.gone) {
				t.Errorf("still holds %q:\n%s", tc.gone, text)
			}
			if st, _ := os.Stat(path); tc.before != "-" && st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want the file's own 0600", st.Mode().Perm())
			}
		})
	}
}

func TestTrustedOwnersRefusesBadConfig(t *testing.T) {
	tests := []struct{ name, text string }{
		{"an ID that does not parse", "trusted_owners: [alice]\n"},
		{"not a mapping", "- just\n- a list\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Home{Dir: t.TempDir()}
			if err := os.WriteFile(filepath.Join(h.Dir, ConfigFile), []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, rerr := h.TrustedOwners()
			serr := h.SetTrustedOwners(nil)
			if rerr == nil && serr == nil {
				t.Fatal("bad config.yaml accepted")
			}
			for _, err := range []error{rerr, serr} {
				if err != nil && !fault.Is(err, fault.Invalid) {
					t.Errorf("kind %s: %v", fault.KindOf(err), err)
				}
			}
		})
	}
}

// TestSetBootstrap: fxnode dev's bootstrap addresses go into config.yaml
// beside trusted_owners, replace the previous ones, and are what fx finds
// when neither the flag nor FX_BOOTSTRAP names one.
func TestSetBootstrap(t *testing.T) {
	a, _ := identity.GenerateKey()
	h := Home{Dir: t.TempDir()}
	if err := h.SetTrustedOwners([]peer.ID{a.ID()}); err != nil {
		t.Fatal(err)
	}
	const old = "/ip4/127.0.0.1/tcp/1111/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
	const cur = "/ip4/127.0.0.1/tcp/2222/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
	for _, addr := range []string{old, cur} {
		if err := h.SetBootstrap([]string{addr}); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FX_BOOTSTRAP", "")
	got, err := h.BootstrapAddrs(nil)
	if err != nil || !slices.Equal(got, []string{cur}) {
		t.Fatalf("BootstrapAddrs = %v, %v; want [%s]", got, err, cur)
	}
	if owners, err := h.TrustedOwners(); err != nil || !slices.Equal(owners, []peer.ID{a.ID()}) {
		t.Fatalf("trusted owners after SetBootstrap: %v, %v", owners, err)
	}
	t.Setenv("FX_BOOTSTRAP", old)
	if got, _ := h.BootstrapAddrs(nil); !slices.Equal(got, []string{old}) {
		t.Fatalf("FX_BOOTSTRAP does not come first: %v", got)
	}
	if got, _ := h.BootstrapAddrs([]string{"flag"}); !slices.Equal(got, []string{"flag"}) {
		t.Fatalf("--bootstrap does not come first: %v", got)
	}
}
