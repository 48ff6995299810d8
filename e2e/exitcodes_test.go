package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/libp2p/go-libp2p/core/peer"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestExitCodes pins fx's exit code for the typical failure of each kind,
// against testdata/exitcodes.golden: a change of exit code is a change of
// the CLI, made on purpose with -update. Two codes have no fx command that
// reaches them, and the golden file says so: 8 (replayed: fx signs every
// invocation afresh) and 10 (internal: a bug).
func TestExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a mesh")
	}
	home, ep, epID, boot := endpointMesh(t)
	b := "--bootstrap=" + boot.addr()
	dir := t.TempDir()

	// A second user, whom the endpoint (private to its owner) does not admit.
	stranger := filepath.Join(dir, "stranger")
	if _, err := fx(t, stranger, "id", "init"); err != nil {
		t.Fatal(err)
	}
	owner, err := fx(t, home, "id", "show")
	if err != nil {
		t.Fatal(err)
	}
	owner = strings.TrimSpace(owner)
	src := filepath.Join(dir, "pub.py")
	if err := os.WriteFile(src, []byte(e2eSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fx(t, home, "function", "register", "pub", "--python", src, "--entry", "add", "--public", b); err != nil {
		t.Fatal(err)
	}

	// One input over the endpoint's 10 MiB limit.
	huge := filepath.Join(dir, "huge.jsonl")
	if err := os.WriteFile(huge, []byte(fmt.Sprintf("{\"args\": [%q]}\n", strings.Repeat("x", 11<<20))), 0o644); err != nil {
		t.Fatal(err)
	}
	// A bootstrap address nobody answers at.
	nobody := "/ip4/127.0.0.1/tcp/1/p2p/" + epID

	cases := []struct {
		name string
		args []string
		home string
	}{
		{"a run that succeeds", []string{"run", "add", "--args", "[40, 2]", "--endpoint", epID, b}, home},
		{"the function raises", []string{"run", "fail", "--endpoint", epID, b}, home},
		{"args that are not JSON", []string{"run", "add", "--args", "[40,", "--endpoint", epID, b}, home},
		{"a command without its argument", []string{"run"}, home},
		{"an unknown flag", []string{"endpoints", "--no-such-flag"}, home},
		{"an endpoint that does not admit the caller", []string{"run", owner + "/pub", "--args", "[1]", "--endpoint", epID, b}, stranger},
		{"an unknown function", []string{"run", "nosuch", "--endpoint", epID, b}, home},
		{"the function runs past its timeout", []string{"run", "nap", "--args", "[30]", "--timeout", "1s", "--endpoint", epID, b}, home},
		{"no bootstrap peer answers", []string{"endpoints", "--bootstrap", nobody}, home},
		{"an input over the size limit", []string{"batch", "add", "--input", huge, "--endpoint", epID, b}, home},
	}
	var got strings.Builder
	for _, tc := range cases {
		_, stderr, err := fxWithStderr(t, tc.home, tc.args...)
		code := 0
		if err != nil {
			if code = exitCode(err); code < 0 {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		t.Logf("%s: exit %d: %s", tc.name, code, strings.TrimSpace(stderr))
		fmt.Fprintf(&got, "%-45s %d\n", tc.name, code)
	}

	// An endpoint killed while it runs the task: the task failed (system).
	done := make(chan error, 1)
	go func() {
		_, err := fx(t, home, "run", "nap", "--args", "[30]", "--endpoint", epID, b)
		done <- err
	}()
	watcher := dialMesh(t, boot.addr())
	id, err := peer.Decode(epID)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the nap running", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l, _, err := watcher.Status(ctx, id)
		if err == nil && l.Running == 0 {
			err = fmt.Errorf("nothing running: %+v", l)
		}
		return err
	})
	ep.signal(syscall.SIGKILL)
	err = <-done
	t.Logf("killed endpoint: %v", err)
	fmt.Fprintf(&got, "%-45s %d\n", "the endpoint dies while the function runs", exitCode(err))
	fmt.Fprintf(&got, "%-45s %s\n", "the invocation was replayed", "8 (no fx command replays)")
	fmt.Fprintf(&got, "%-45s %s\n", "an internal error", "10 (a bug)")

	golden := filepath.Join("testdata", "exitcodes.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got.String() != string(want) {
		t.Fatalf("exit codes changed (-update if on purpose):\ngot:\n%s\nwant:\n%s", got.String(), want)
	}
}

// dialMesh is a client of a fresh key, dialled through boot.
func dialMesh(t *testing.T, boot string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Options{Bootstrap: []string{boot}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
