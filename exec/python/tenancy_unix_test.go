//go:build unix

package python

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	fxexec "github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/exec/tenant"
	"github.com/fxmesh/fxmesh/fault"
)

func needRoot(t *testing.T) { t.Helper(); exectest.NeedRoot(t) }

// sharedPython is an interpreter every uid may run: Debian's, as pyenv's
// under /root is not.
func sharedPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if err := tenant.CheckUsable(p, &tenant.Credential{UID: 65534, GID: 65534}); err == nil {
			return p
		}
	}
	t.Skip("no Python interpreter that every uid may run (/usr/bin/python3)")
	return ""
}

// spyFn reports who and where it runs, and tries to reach another tenant's
// worker (its fd 3), a key file and another tenant's directory.
var spyFn = pyFn("spy", `
import os

def f(pid, key, other):
    out = {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(),
           "groups": sorted(os.getgroups()), "cwd": os.getcwd(),
           "home": os.environ.get("HOME")}
    tries = [("key", lambda: open(key, "rb").read())]
    if pid:
        tries.append(("fd", lambda: open("/proc/%d/fd/3" % pid, "rb")))
    if other:
        tries.append(("dir", lambda: os.listdir(other)))
    tries.append(("own", lambda: os.listdir(".")))
    for name, try_ in tries:
        try:
            try_()
            out[name] = "opened"
        except OSError as e:
            out[name] = type(e).__name__
    return out
`, "f")

type spied struct {
	PID    int      `json:"pid"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups"`
	Cwd    string   `json:"cwd"`
	Home   string   `json:"home"`
	Key    string   `json:"key"`
	FD     string   `json:"fd"`
	Dir    string   `json:"dir"`
	Own    string   `json:"own"`
}

func runSpy(t *testing.T, p *Pool, tenant string, pid int, key, other string) (spied, fxexec.Result) {
	t.Helper()
	args, _ := json.Marshal([]any{pid, key, other})
	r, err := p.Execute(t.Context(), fxexec.Task{Tenant: tenant, Function: spyFn, Args: args})
	if err != nil {
		t.Fatalf("Execute for %q: %v", tenant, err)
	}
	var s spied
	if r.Error == nil {
		if err := json.Unmarshal(r.Value, &s); err != nil {
			t.Fatal(err)
		}
	}
	return s, r
}

// TestTenantUIDs: tenants' workers run under uids of their own from the
// range, never root nor this process's; one tenant cannot open another's
// worker's fd 3, a key file of the node, or the other's directory; the
// uids survive a restart.
func TestTenantUIDs(t *testing.T) {
	needRoot(t)
	python := sharedPython(t)
	root := t.TempDir()
	key := filepath.Join(root, "node.key")
	if err := os.WriteFile(key, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	iso := tenant.Isolation{Dir: filepath.Join(root, "node"), UIDs: tenant.UIDRange{First: 200000, Last: 265535}}
	p := newPool(t, Config{Python: python, Workers: 2, Tenants: exectest.NewTable(t, iso)})
	a, r := runSpy(t, p, "alice", 0, key, "")
	if r.Error != nil {
		t.Fatalf("alice: %+v %s", r.Error, r.Stderr)
	}
	b, r := runSpy(t, p, "bob", a.PID, key, a.Cwd)
	if r.Error != nil {
		t.Fatalf("bob: %+v %s", r.Error, r.Stderr)
	}
	for _, s := range []spied{a, b} {
		if s.UID < 200000 || s.UID > 265535 || s.GID != s.UID || len(s.Groups) != 0 {
			t.Errorf("a worker ran as uid %d gid %d groups %v; want a uid of the range, its own group, none else", s.UID, s.GID, s.Groups)
		}
		if s.Own != "opened" || s.Home != s.Cwd {
			t.Errorf("a worker could not list its own directory %s (%s), or HOME is %q", s.Cwd, s.Own, s.Home)
		}
		if s.Key != "PermissionError" {
			t.Errorf("a worker opening the node's key: %s", s.Key)
		}
	}
	if a.UID == b.UID || a.PID == b.PID || a.Cwd == b.Cwd {
		t.Fatalf("alice and bob share uid %d, pid %d or directory %s", a.UID, a.PID, a.Cwd)
	}
	if b.FD != "PermissionError" || b.Dir != "PermissionError" {
		t.Fatalf("bob opening alice's worker's fd 3: %s; listing her directory: %s", b.FD, b.Dir)
	}
	if st, err := os.Stat(a.Cwd); err != nil || st.Mode().Perm() != 0o700 || !strings.HasPrefix(a.Cwd, iso.Dir) {
		t.Fatalf("alice's directory %s: %v, %v", a.Cwd, st.Mode(), err)
	}
	p.Close()

	p = newPool(t, Config{Python: python, Workers: 1, Tenants: exectest.NewTable(t, iso)})
	defer p.Close()
	a2, r := runSpy(t, p, "alice", 0, key, "")
	if r.Error != nil || a2.UID != a.UID || a2.Cwd != a.Cwd {
		t.Fatalf("after a restart alice runs as %d in %s (%v); before, %d in %s", a2.UID, a2.Cwd, r.Error, a.UID, a.Cwd)
	}
}

// hiddenLink makes a link to python in a directory of root's, 0700, that
// worker uids may not search.
func hiddenLink(t *testing.T, python string) (hidden, link string) {
	t.Helper()
	hidden = t.TempDir() // 0700, root's
	link = filepath.Join(hidden, "python3")
	if err := os.Symlink(python, link); err != nil {
		t.Fatal(err)
	}
	return hidden, link
}

// TestInterpreterUnusable: an interpreter that the workers' uids cannot
// run is refused at New, saying why.
func TestInterpreterUnusable(t *testing.T) {
	needRoot(t)
	python := sharedPython(t)
	hidden, link := hiddenLink(t, python)
	_, err := New(Config{Python: link, Workers: 1, Tenants: exectest.NewTable(t, tenant.Isolation{Dir: t.TempDir(), UIDs: tenant.UIDRange{First: 200000, Last: 200100}})})
	if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "interpreter for worker uid 200000") || !strings.Contains(err.Error(), hidden) {
		t.Fatalf("New with an interpreter under a 0700 directory: %v", err)
	}
}

// TestInterpreterFallback: an interpreter the workers' uids cannot run
// gives way to Config.Fallback, with a line in the log, and the workers
// run the fallback; with a fallback they cannot run either, New fails
// naming both.
func TestInterpreterFallback(t *testing.T) {
	needRoot(t)
	python := sharedPython(t)
	hidden, link := hiddenLink(t, python)
	iso := tenant.Isolation{Dir: t.TempDir(), UIDs: tenant.UIDRange{First: 200000, Last: 200100}}
	var log syncWriter
	logger := slog.New(slog.NewTextHandler(&log, nil))
	p := newPool(t, Config{Python: link, Fallback: python, Workers: 1, Tenants: exectest.NewTable(t, iso), Logger: logger})
	defer p.Close()
	want, err := filepath.EvalSymlinks(python)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := filepath.EvalSymlinks(p.Python()); got != want {
		t.Fatalf("Python() = %q, want the fallback %q", p.Python(), python)
	}
	wantValue(t, run(t, p, pyFn("exe", "import os, sys\ndef f():\n    return os.path.realpath(sys.executable)\n", "f"), "", ""), strconv.Quote(want))
	if !strings.Contains(log.String(), "running the fallback instead") || !strings.Contains(log.String(), hidden) {
		t.Fatalf("no line in the log says the fallback replaced %s:\n%s", link, log.String())
	}
	_, err = New(Config{Python: link, Fallback: link, Workers: 1, Tenants: exectest.NewTable(t, iso)})
	if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "nor can they run the fallback") {
		t.Fatalf("New with a fallback as unusable: %v", err)
	}
}

// TestInterpreterRunFails: an interpreter whose path every uid may walk,
// but which fails when run as a worker uid (here a stand-in that runs for
// root alone), is refused at New, with what it printed.
func TestInterpreterRunFails(t *testing.T) {
	needRoot(t)
	python := sharedPython(t)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// As root it answers the version probe with no sys.executable, so that
	// New keeps its path; as anyone else it fails.
	stand := filepath.Join(dir, "python3")
	script := "#!/bin/sh\nif [ \"$(id -u)\" != 0 ]; then echo 'not for you' >&2; exit 3; fi\n" +
		"case \"$*\" in *version_info*) printf '3.11\\n';; *) exec " + python + " \"$@\";; esac\n"
	if err := os.WriteFile(stand, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	iso := tenant.Isolation{Dir: t.TempDir(), UIDs: tenant.UIDRange{First: 200000, Last: 200100}}
	_, err := New(Config{Python: stand, Workers: 1, Tenants: exectest.NewTable(t, iso)})
	if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "does not run as uid 200000") || !strings.Contains(err.Error(), "not for you") {
		t.Fatalf("New with an interpreter that fails as a worker uid: %v", err)
	}
}

// syncWriter lets a log be written by the pool's goroutines and read by
// the test.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccounts: a mapped tenant's workers run as its account, groups and
// home included; with accounts required, an unmapped tenant is refused
// as denied.
func TestAccounts(t *testing.T) {
	needRoot(t)
	python := sharedPython(t)
	root := t.TempDir()
	acct := exectest.NewAccount(t, root)
	iso := tenant.Isolation{Dir: filepath.Join(root, "node"), UIDs: tenant.UIDRange{First: 200000, Last: 265535},
		Accounts: map[string]tenant.Account{"alice": acct}, RequireAccount: true}
	p := newPool(t, Config{Python: python, Workers: 1, Tenants: exectest.NewTable(t, iso)})
	defer p.Close()
	a, r := runSpy(t, p, "alice", 0, filepath.Join(root, "nothing"), "")
	if r.Error != nil {
		t.Fatalf("alice: %+v %s", r.Error, r.Stderr)
	}
	groups := slices.Clone(acct.Groups)
	slices.Sort(groups)
	if a.UID != acct.UID || a.GID != acct.GID || !slices.Equal(a.Groups, groups) || a.Cwd != acct.Home || a.Home != acct.Home {
		t.Fatalf("alice ran as %d:%d %v in %s (HOME %s); want %+v", a.UID, a.GID, a.Groups, a.Cwd, a.Home, acct)
	}
	_, r = runSpy(t, p, "bob", 0, "", "")
	if r.Error == nil || r.Error.Kind != fault.Denied || !strings.Contains(r.Error.Message, "no local account") {
		t.Fatalf("bob, unmapped, with accounts required: %+v", r.Error)
	}
	// The endpoint's own work ("") runs under a uid of the range.
	own, r := runSpy(t, p, "", 0, "", "")
	if r.Error != nil || own.UID < 200000 || own.UID > 265535 {
		t.Fatalf("the endpoint's own work ran as %d: %+v", own.UID, r.Error)
	}
}
