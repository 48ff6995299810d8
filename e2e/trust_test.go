package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// TestOwnerClaimsAndTrust: fxnode init --owner claims the endpoint when the
// owner's key is in FX_HOME; an endpoint inited with another user's ID is
// unverified until that user's claim is installed; fx run routes only to
// verified, trusted owners, and --explain says why the rest were passed over.
func TestOwnerClaimsAndTrust(t *testing.T) {
	processes(t)
	root := t.TempDir()
	home, bobHome := filepath.Join(root, "home"), filepath.Join(root, "bob")
	me, err := fx(t, home, "id", "init")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := fx(t, bobHome, "id", "init")
	if err != nil {
		t.Fatal(err)
	}
	me, bob = strings.TrimSpace(me), strings.TrimSpace(bob)
	boot := startNode(t, filepath.Join(root, "boot"), "bootstrap", "--dir", filepath.Join(root, "boot"), "--listen", "/ip4/127.0.0.1/tcp/0")
	b := "--bootstrap=" + boot.addr()

	// mine: set up by me. forged: set up by bob, naming me as owner. bobs:
	// bob's own, public.
	dirs := map[string]string{}
	for _, ep := range []struct{ name, home, owner, says string }{
		{"mine", home, me, "owner.claim: the owner's claim, signed with the key in $FX_HOME"},
		{"forged", bobHome, me, "fx endpoint claim "},
		{"bobs", bobHome, bob, "owner.claim: the owner's claim"},
	} {
		dirs[ep.name] = filepath.Join(root, ep.name)
		out := fxnodeInit(t, ep.home, dirs[ep.name], "--name", ep.name, "--owner", ep.owner, "--bootstrap", boot.addr())
		if !strings.Contains(out, ep.says) {
			t.Fatalf("fxnode init of %s does not say %q:\n%s", ep.name, ep.says, out)
		}
		_, err := os.Stat(filepath.Join(dirs[ep.name], "owner.claim"))
		if claimed := err == nil; claimed != (ep.name != "forged") {
			t.Fatalf("%s: owner.claim written: %v", ep.name, claimed)
		}
	}
	cfgPath := filepath.Join(dirs["bobs"], "config.yaml")
	cfg, _ := os.ReadFile(cfgPath)
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), "public: false", "public: true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	procs := map[string]*proc{}
	for _, name := range []string{"mine", "forged", "bobs"} {
		procs[name] = startNode(t, dirs[name], "run", "--dir", dirs[name])
	}
	ids := map[string]string{}
	verified := func(want map[string]bool) {
		t.Helper()
		eventually(t, time.Minute, fmt.Sprintf("endpoints listed, verified %v", want), func() error {
			eps, err := listEndpoints(t, home, boot.addr())
			if err != nil {
				return err
			}
			got := map[string]bool{}
			for _, e := range eps {
				ids[e.Name] = e.ID
				if e.Online {
					got[e.Name] = e.OwnerVerified
				}
				if e.OwnerVerified == (e.OwnerUnverified != "") {
					return fmt.Errorf("%s: owner_verified %v, owner_unverified %q", e.Name, e.OwnerVerified, e.OwnerUnverified)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("online endpoints, owner verified: %v", got)
			}
			return nil
		})
	}
	verified(map[string]bool{"mine": true, "forged": false, "bobs": true})
	table, err := fx(t, home, "endpoints", b)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "forged") != strings.Contains(line, "(unverified)") {
			t.Fatalf("fx endpoints marks the wrong owners unverified:\n%s", table)
		}
	}

	src := filepath.Join(root, "f.py")
	if err := os.WriteFile(src, []byte(e2eSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fx(t, home, "function", "register", "add", "--python", src, "--entry", "add", b); err != nil {
		t.Fatal(err)
	}
	// run runs add routed with extra flags and returns its output, the
	// explanation, and the name of the endpoint ranked first.
	run := func(flags ...string) (string, string, string, error) {
		out, explain, err := fxWithStderr(t, home, append([]string{"run", "add", "--args", "[40, 2]", "--explain", b}, flags...)...)
		first := ""
		for _, line := range strings.Split(explain, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "1" {
				first = f[1]
			}
		}
		return strings.TrimSpace(out), explain, first, err
	}

	out, explain, first, err := run()
	if err != nil || out != "42" || first != "mine" {
		t.Fatalf("fx run: %q on %q: %v\n%s", out, first, err, explain)
	}
	for _, want := range []string{"forged", "rejected: unverified owner", "bobs", "rejected: untrusted owner"} {
		if !strings.Contains(explain, want) {
			t.Fatalf("--explain lacks %q:\n%s", want, explain)
		}
	}

	// Without mine, nothing is trusted: fx says whom to trust.
	procs["mine"].signal(syscall.SIGTERM)
	<-procs["mine"].done
	_, _, _, err = run()
	if exitCode(err) != fault.NotFound.ExitCode() || !strings.Contains(err.Error(), "fx trust add "+bob) || !strings.Contains(err.Error(), "--any-endpoint") {
		t.Fatalf("fx run with no trusted endpoint: exit %d: %v", exitCode(err), err)
	}
	if out, _, first, err := run("--any-endpoint"); err != nil || out != "42" || (first != "forged" && first != "bobs") {
		t.Fatalf("fx run --any-endpoint: %q on %q: %v", out, first, err)
	}
	if out, err := fx(t, home, "run", "add", "--args", "[1]", "--endpoint", ids["forged"], b); err != nil || strings.TrimSpace(out) != "1" {
		t.Fatalf("fx run --endpoint forged: %q %v", out, err)
	}

	// Trusting bob: his endpoint, never the one that only says it is mine.
	if _, err := fx(t, home, "trust", "add", bob); err != nil {
		t.Fatal(err)
	}
	if list, err := fx(t, home, "trust", "list"); err != nil || strings.TrimSpace(list) != bob {
		t.Fatalf("fx trust list: %q %v", list, err)
	}
	out, explain, first, err = run()
	if err != nil || out != "42" || first != "bobs" || !strings.Contains(explain, "rejected: unverified owner") {
		t.Fatalf("fx run trusting bob: %q on %q: %v\n%s", out, first, err, explain)
	}

	// I claim forged after all: fx endpoint claim, fxnode claim, restart.
	claim, err := fx(t, home, "endpoint", "claim", ids["forged"])
	if err != nil {
		t.Fatal(err)
	}
	if out, err := execCommand(bin.fxnode, "claim", "--dir", dirs["forged"], strings.TrimSpace(claim)).CombinedOutput(); err != nil {
		t.Fatalf("fxnode claim: %v: %s", err, out)
	}
	procs["forged"].signal(syscall.SIGTERM)
	<-procs["forged"].done
	startNode(t, dirs["forged"], "run", "--dir", dirs["forged"])
	verified(map[string]bool{"forged": true, "bobs": true})
}
