package schedcmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
)

func kind(err error) fault.Kind {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return ""
}

// script writes an executable shell script named name into a new
// directory, and returns the directory.
func script(t *testing.T, name, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	bin := script(t, "qfake", `echo "out $*"; echo "qfake: error: $1" >&2; exit "$2"`)
	r := &Runner{Op: "pbs", Bin: bin}

	res := r.Run(ctx, Cmd{Name: "qfake", Args: []string{"fine", "0"}})
	if res.Err != nil || string(res.Stdout) != "out fine 0\n" || res.Stderr != "qfake: error: fine" || res.Exit != 0 {
		t.Fatalf("a command that succeeds: %+v", res)
	}
	res = r.Run(ctx, Cmd{Name: "qfake", Args: []string{"bad queue", "3"}})
	if kind(res.Err) != fault.Invalid || res.Exit != 3 || res.Err.Error() != "pbs: qfake: exit status 3: qfake: error: bad queue" {
		t.Fatalf("a command that fails: %+v", res)
	}
	res = r.Run(ctx, Cmd{Name: "qfake", Args: []string{"Unable to contact slurm controller", "1"}})
	if kind(res.Err) != fault.Unavailable {
		t.Fatalf("a command that cannot reach its server: %v", res.Err)
	}
	res = r.Run(ctx, Cmd{Name: "qmissing"})
	if kind(res.Err) != fault.Unavailable || !errors.Is(res.Err, ErrMissing) {
		t.Fatalf("a missing command: %v", res.Err)
	}
}

func TestRunTimeout(t *testing.T) {
	bin := script(t, "qhang", "echo waiting >&2\nexec sleep 60\n")
	r := &Runner{Bin: bin, Timeout: 100 * time.Millisecond}
	start := time.Now()
	res := r.Run(context.Background(), Cmd{Name: "qhang"})
	if kind(res.Err) != fault.Timeout || !strings.Contains(res.Err.Error(), "waiting") {
		t.Fatalf("a hanging command: %v", res.Err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res = (&Runner{Bin: bin}).Run(ctx, Cmd{Name: "qhang"})
	if kind(res.Err) != fault.Timeout {
		t.Fatalf("a hanging command under the context's deadline: %v", res.Err)
	}
}

func TestRunBounded(t *testing.T) {
	defer func(n int) { maxStdout = n }(maxStdout)
	maxStdout = 1 << 20
	bin := script(t, "qbig", "head -c 3000000 /dev/zero\n")
	res := (&Runner{Bin: bin}).Run(context.Background(), Cmd{Name: "qbig"})
	if kind(res.Err) != fault.TooLarge || len(res.Stdout) != maxStdout {
		t.Fatalf("a command that prints too much: %v, kept %d bytes", res.Err, len(res.Stdout))
	}
}

// TestRunAs: as root, a command runs as the account, with its groups and
// HOME, and GiveDir hands a directory and its files to it.
func TestRunAs(t *testing.T) {
	exectest.NeedRoot(t)
	base, err := os.MkdirTemp("", "fxsched-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	acct := exectest.NewAccount(t, base)
	a, err := LookupAccount("slurm", acct.Name)
	if err != nil {
		t.Fatal(err)
	}
	if a.UID != acct.UID || a.GID != acct.GID || len(a.Groups) != 2 {
		t.Fatalf("LookupAccount = %+v, want %+v", a, acct)
	}
	dir := filepath.Join(base, "block")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credential"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := GiveDir("slurm", dir, a); err != nil {
		t.Fatal(err)
	}
	bin := script(t, "qwho", `id -u; id -G; echo "$HOME $USER"; cat credential; touch out`)
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(bin); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	res := (&Runner{Bin: bin}).Run(context.Background(), Cmd{Name: "qwho", Dir: dir, As: a})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := strconv.Itoa(int(a.UID)) + "\n" + strconv.Itoa(int(a.GID)) + " " + strconv.Itoa(int(acct.Groups[1])) + "\n" + acct.Home + " " + acct.Name + "\nk"
	if got := string(res.Stdout); got != want {
		t.Fatalf("as %s: %q, want %q", acct.Name, got, want)
	}
	if _, err := LookupAccount("slurm", "root"); kind(err) != fault.Invalid {
		t.Fatalf("LookupAccount(root): %v", err)
	}
}

func TestCheck(t *testing.T) {
	for _, ok := range []string{"", "batch", "fx-ep_1.b2", "/srv/fx/b1", "a=b,c:d"} {
		if err := CheckWord("x", "v", ok); err != nil {
			t.Errorf("CheckWord(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"a b", "a\nb", "a\"", "$(id)", "`id`", "a\\b", "a\x00", "a'b"} {
		if err := CheckWord("x", "v", bad); kind(err) != fault.Invalid {
			t.Errorf("CheckWord(%q): %v", bad, err)
		}
	}
	if err := CheckLine("x", "v", "#PBS -l select=1:ncpus=2\t# comment"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"a\nb", "a\rb", "a\x7f"} {
		if err := CheckLine("x", "v", bad); kind(err) != fault.Invalid {
			t.Errorf("CheckLine(%q): %v", bad, err)
		}
	}
}
