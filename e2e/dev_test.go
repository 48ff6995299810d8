package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevMeshNeedsNoExport: fxnode dev records its bootstrap in
// $FX_HOME/config.yaml, beside the keys already there, and fx finds the
// mesh through it with no --bootstrap and no FX_BOOTSTRAP, again after a
// restart of the dev mesh on new ports.
func TestDevMeshNeedsNoExport(t *testing.T) {
	processes(t)
	root := t.TempDir()
	home := filepath.Join(root, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	const kept = "trusted_owners:\n  - 12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp\n"
	if err := os.WriteFile(filepath.Join(home, "config.yaml"), []byte(kept), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "dev")
	env := []string{"FX_HOME=" + home, "FX_BOOTSTRAP="}
	var addrs []string
	for round := 0; round < 2; round++ {
		dev := startNodeEnv(t, bin.fxnode, env, filepath.Join(dir, "bootstrap"), "dev", "--dir", dir)
		addr := dev.addr()
		eventually(t, time.Minute, "fx endpoints finds the dev mesh with no export", func() error {
			out, err := fx(t, home, "endpoints", "--json")
			if err != nil {
				return err
			}
			var eps []endpoint
			if err := json.Unmarshal([]byte(out), &eps); err != nil {
				return err
			}
			if len(eps) != 1 || eps[0].Name != "dev" {
				return fmt.Errorf("endpoints %s", out)
			}
			return nil
		})
		b, err := os.ReadFile(filepath.Join(home, "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), addr) || !strings.Contains(string(b), "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp") {
			t.Fatalf("config.yaml after fxnode dev:\n%s\nwant the bootstrap %s and the trusted owner kept", b, addr)
		}
		addrs = append(addrs, addr)
		dev.signal(syscall.SIGTERM)
		<-dev.done
	}
	if addrs[0] == addrs[1] {
		t.Logf("the restarted dev mesh kept its address %s", addrs[0])
	}
}
