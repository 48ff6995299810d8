//go:build unix

package shell

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/exec/python"
	"github.com/fxmesh/fxmesh/exec/tenant"
	"github.com/fxmesh/fxmesh/fault"
)

// spyCommand reports, a line key=value each, who and where it runs, and
// what became of opening a key file ({key}), listing another tenant's
// directory ({other}), opening another tenant's Python worker's fd 3
// ({pid}) and listing that worker's descriptors, and listing its own
// directory: "opened", or the shell's error.
const spyCommand = `sh -c '
echo uid=$(id -u); echo gid=$(id -g); echo groups=$(id -G); echo cwd=$(pwd -P); echo home=$HOME
echo key=$( (exec 9<"$1") 2>&1 && echo opened)
echo dir=$(ls "$2" 2>&1 >/dev/null && echo opened)
echo fd=$( (exec 9</proc/$3/fd/3) 2>&1 && echo opened)
echo fds=$(ls /proc/$3/fd 2>&1 >/dev/null && echo opened)
echo own=$(ls . 2>&1 >/dev/null && echo opened)
' sh {key} {other} {pid}`

// spy runs spyCommand for tenant and returns what it reported.
func spy(t *testing.T, e *Executor, tenant, key, other string, pid int) (map[string]string, exec.Result) {
	t.Helper()
	kw, _ := json.Marshal(map[string]any{"key": key, "other": other, "pid": pid})
	r, err := e.Execute(t.Context(), exec.Task{Tenant: tenant, Function: shFn("spy", spyCommand), Kwargs: kw})
	if err != nil {
		t.Fatalf("Execute for %q: %v", tenant, err)
	}
	out := map[string]string{}
	for line := range strings.Lines(r.Stdout) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		out[k] = v
	}
	return out, r
}

// pySpy is a Python function that reports its worker's pid, uid and
// working directory.
var pySpy = exec.Function{ID: "pyspy", Kind: exec.KindPython, Entry: "f", Source: `
import os
def f():
    return {"pid": os.getpid(), "uid": os.getuid(), "cwd": os.getcwd()}
`}

type pyReport struct {
	PID int    `json:"pid"`
	UID uint32 `json:"uid"`
	Cwd string `json:"cwd"`
}

// sharedPython is an interpreter every uid may run (pyenv's under /root
// is not).
func sharedPython(t *testing.T) string {
	t.Helper()
	const p = "/usr/bin/python3"
	if err := tenant.CheckUsable(p, &tenant.Credential{UID: 65534, GID: 65534}); err != nil {
		t.Skipf("no Python interpreter every uid may run: %v", err)
	}
	return p
}

// TestTenantCredentials (issue 11): with a uid range, a tenant's shell
// commands run as the uid its Python workers have (one table for both), in
// a fresh directory inside the same working directory; tenant B's command
// cannot open the node's key file, list A's directory, or open A's Python
// worker's fd 3 or list its descriptors. (Two of these hold even for a
// uid that B shared with A: the tenants' directories are in one that root
// alone may search, and the worker's pipes are root's, mode 0600. That A
// may list her worker's descriptors and B may not is what shows their uids
// apart.)
func TestTenantCredentials(t *testing.T) {
	exectest.NeedRoot(t)
	pyPath := sharedPython(t)
	root := t.TempDir()
	key := filepath.Join(root, "node.key")
	if err := os.WriteFile(key, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := exectest.NewTable(t, tenant.Isolation{Dir: filepath.Join(root, "node"), UIDs: tenant.UIDRange{First: 200000, Last: 265535}})
	pool, err := python.New(python.Config{Python: pyPath, Workers: 1, Tenants: ts})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	e := newExec(t, Config{Workers: 2, Tenants: ts})
	defer e.Close()

	r, err := pool.Execute(t.Context(), exec.Task{Tenant: "alice", Function: pySpy})
	if err != nil || r.Error != nil {
		t.Fatalf("alice's Python: %v %+v", err, r.Error)
	}
	var apy pyReport
	if err := json.Unmarshal(r.Value, &apy); err != nil {
		t.Fatal(err)
	}
	a, r := spy(t, e, "alice", key, "", apy.PID)
	if r.Error != nil {
		t.Fatalf("alice's command: %+v %s", r.Error, r.Stderr)
	}
	b, r := spy(t, e, "bob", key, apy.Cwd, apy.PID)
	if r.Error != nil {
		t.Fatalf("bob's command: %+v %s", r.Error, r.Stderr)
	}
	t.Logf("alice: %v\nbob: %v", a, b)
	if a["uid"] != strconv.Itoa(int(apy.UID)) || filepath.Dir(a["cwd"]) != apy.Cwd || a["home"] != apy.Cwd {
		t.Fatalf("alice's command ran as uid %s in %s (HOME %s); her Python worker as %d in %s", a["uid"], a["cwd"], a["home"], apy.UID, apy.Cwd)
	}
	for name, s := range map[string]map[string]string{"alice": a, "bob": b} {
		uid, _ := strconv.Atoi(s["uid"])
		if uid < 200000 || uid > 265535 || s["gid"] != s["uid"] || s["groups"] != s["uid"] {
			t.Errorf("%s's command ran as uid %s gid %s groups %s; want a uid of the range, its own group, none else", name, s["uid"], s["gid"], s["groups"])
		}
		if s["own"] != "opened" {
			t.Errorf("%s's command listing its own directory %s: %s", name, s["cwd"], s["own"])
		}
		if !strings.Contains(s["key"], "Permission denied") {
			t.Errorf("%s's command opening the node's key: %s", name, s["key"])
		}
	}
	if a["uid"] == b["uid"] || filepath.Dir(a["cwd"]) == filepath.Dir(b["cwd"]) {
		t.Fatalf("alice and bob share uid %s or directory %s", a["uid"], filepath.Dir(a["cwd"]))
	}
	if !strings.Contains(b["dir"], "Permission denied") || !strings.Contains(b["fd"], "Permission denied") || !strings.Contains(b["fds"], "Permission denied") {
		t.Fatalf("bob listing alice's directory: %s; opening her Python worker's fd 3: %s; listing its descriptors: %s", b["dir"], b["fd"], b["fds"])
	}
	if a["fds"] != "opened" {
		t.Fatalf("alice listing her own Python worker's descriptors: %s", a["fds"])
	}
	if _, err := os.Stat(a["cwd"]); !os.IsNotExist(err) {
		t.Fatalf("alice's task directory %s outlived its command: %v", a["cwd"], err)
	}
}

// TestTenantAccount (issue 11): a mapped tenant's commands run as its
// account, groups included, in its home; with accounts required, an
// unmapped tenant's command is refused as denied and never runs.
func TestTenantAccount(t *testing.T) {
	exectest.NeedRoot(t)
	root := t.TempDir()
	acct := exectest.NewAccount(t, root)
	ts := exectest.NewTable(t, tenant.Isolation{Dir: filepath.Join(root, "node"), UIDs: tenant.UIDRange{First: 200000, Last: 265535},
		Accounts: map[string]tenant.Account{"carol": acct}, RequireAccount: true})
	e := newExec(t, Config{Workers: 1, Tenants: ts})
	defer e.Close()
	c, r := spy(t, e, "carol", "/nothing", "/nothing", 0)
	if r.Error != nil {
		t.Fatalf("carol: %+v %s", r.Error, r.Stderr)
	}
	groups := make([]string, len(acct.Groups))
	for i, g := range acct.Groups {
		groups[i] = strconv.Itoa(int(g))
	}
	got := strings.Fields(c["groups"])
	slices.Sort(groups)
	slices.Sort(got)
	if c["uid"] != strconv.Itoa(int(acct.UID)) || c["gid"] != strconv.Itoa(int(acct.GID)) || !slices.Equal(got, groups) ||
		filepath.Dir(c["cwd"]) != acct.Home || c["home"] != acct.Home {
		t.Fatalf("carol's command ran as %s:%s groups %s in %s (HOME %s); want %+v", c["uid"], c["gid"], c["groups"], c["cwd"], c["home"], acct)
	}
	marker := filepath.Join(root, "ran")
	r, err := e.Execute(t.Context(), exec.Task{Tenant: "dave", Function: shFn("touch", "touch {f}"), Kwargs: raw(`{"f": "` + marker + `"}`)})
	if err != nil || r.Error == nil || r.Error.Kind != fault.Denied || !strings.Contains(r.Error.Message, "no local account") {
		t.Fatalf("dave, unmapped, with accounts required: %v %+v", err, r.Error)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("dave's refused command ran: %v", err)
	}
}

// TestTenantDirectory: with a table of directories alone (no root
// needed), each tenant's commands run in a fresh directory inside its own
// working directory, with HOME that directory.
func TestTenantDirectory(t *testing.T) {
	ts := exectest.NewTable(t, tenant.Isolation{Dir: t.TempDir()})
	e := newExec(t, Config{Workers: 1, Tenants: ts})
	defer e.Close()
	a, r := spy(t, e, "alice", "/nothing", "/nothing", 0)
	if r.Error != nil {
		t.Fatalf("alice: %+v %s", r.Error, r.Stderr)
	}
	b, _ := spy(t, e, "bob", "/nothing", "/nothing", 0)
	want, err := ts.Identity("alice")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(a["cwd"]) != want.Dir || a["home"] != want.Dir || a["own"] != "opened" || filepath.Dir(b["cwd"]) == want.Dir {
		t.Fatalf("alice ran in %s (HOME %s, own %s), bob in %s; alice's directory is %s", a["cwd"], a["home"], a["own"], b["cwd"], want.Dir)
	}
}
