package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/node"
)

// TestListingAfterBootstrapRestart: fx endpoints lists the endpoint within
// 5 s of its bootstrap's restart (killed with SIGKILL, started again on
// the same address and directory): the bootstrap restores the records it
// kept, and the endpoint publishes again as soon as its connection to the
// bootstrap is back. A listing that finds nothing says it may be
// incomplete.
func TestListingAfterBootstrapRestart(t *testing.T) {
	processes(t)
	root := t.TempDir()
	home := filepath.Join(root, "home")
	user, err := fx(t, home, "id", "init")
	if err != nil {
		t.Fatal(err)
	}
	bootDir := filepath.Join(root, "boot")
	boot := startNode(t, bootDir, "bootstrap", "--dir", bootDir, "--listen", "/ip4/127.0.0.1/tcp/0")
	addr := boot.addr()
	listen := addr[:strings.Index(addr, "/p2p/")]

	_, stderr, err := fxWithStderr(t, home, "endpoints", "--bootstrap", addr)
	if err != nil || !strings.Contains(stderr, "may be incomplete") {
		t.Fatalf("fx endpoints of a mesh without endpoints: %v; stderr %q", err, stderr)
	}

	dir := filepath.Join(root, "ep")
	fxnodeInit(t, home, dir, "--name", "ep", "--owner", strings.TrimSpace(user), "--bootstrap", addr)
	startNode(t, dir, "run", "--dir", dir)
	listed := func() error {
		eps, err := listEndpoints(t, home, addr)
		if err != nil {
			return err
		}
		for _, e := range eps {
			if e.Name == "ep" {
				return nil
			}
		}
		return fmt.Errorf("listed %d endpoints, not ep", len(eps))
	}
	eventually(t, time.Minute, "the endpoint listed", listed)
	eventually(t, time.Minute, "the bootstrap's "+node.KnownFile, func() error {
		b, err := os.ReadFile(filepath.Join(bootDir, node.KnownFile))
		if err != nil || len(b) == 0 {
			return fmt.Errorf("%d bytes, %v", len(b), err)
		}
		return nil
	})

	boot.signal(syscall.SIGKILL)
	<-boot.done
	restart := time.Now()
	startNode(t, bootDir, "bootstrap", "--dir", bootDir, "--listen", listen)
	ready := time.Since(restart)
	var tries int
	for {
		tries++
		err := listed()
		if err == nil {
			break
		}
		if time.Since(restart) > time.Minute {
			t.Fatalf("the endpoint not listed a minute after the bootstrap's restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(restart)
	t.Logf("listed %s after the restart (bootstrap ready after %s, %d tries of fx endpoints)", took.Round(time.Millisecond), ready.Round(time.Millisecond), tries)
	if took > 5*time.Second {
		t.Fatalf("the endpoint was listed %s after the bootstrap's restart, over 5s", took.Round(time.Millisecond))
	}
}
