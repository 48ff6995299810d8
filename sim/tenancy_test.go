package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/node"
)

// spySource reports who and where it runs and what it sees of the node
// and of another user's worker; seen is a module global that survives
// between calls in one worker.
const spySource = `
import os
seen = None

def spy(mark, pid, key, other):
    global seen
    out = {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(),
           "groups": sorted(os.getgroups()), "cwd": os.getcwd(), "prev": seen}
    seen = mark
    tries = [("key", lambda: open(key, "rb").read())]
    if pid:
        tries.append(("fd", lambda: open("/proc/%d/fd/3" % pid, "rb")))
    if other:
        tries.append(("dir", lambda: os.listdir(other)))
    for name, try_ in tries:
        try:
            try_()
            out[name] = "opened"
        except OSError as e:
            out[name] = type(e).__name__
    return out
`

type spyReport struct {
	PID    int      `json:"pid"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups"`
	Cwd    string   `json:"cwd"`
	Prev   *string  `json:"prev"`
	Key    string   `json:"key"`
	FD     string   `json:"fd"`
	Dir    string   `json:"dir"`
}

// sharedPython is an interpreter every uid may run (pyenv's under /root
// is not), for endpoints whose workers switch uids.
func sharedPython(t *testing.T) string {
	t.Helper()
	const p = "/usr/bin/python3"
	if _, err := os.Stat(p); err != nil {
		t.Skip("no /usr/bin/python3, an interpreter every uid may run")
	}
	return p
}

func (f *fixture) spy(c *client.Client, fn *client.ResolvedFunction, mark string, pid int, key, other string) spyReport {
	f.t.Helper()
	args, _ := json.Marshal([]any{mark, pid, key, other})
	res, err := f.run(c, fn, string(args), "", 0)
	if err != nil {
		f.t.Fatalf("%s: %v", mark, err)
	}
	if res.Error != nil {
		f.t.Fatalf("%s: %+v", mark, res.Error)
	}
	var r spyReport
	if err := json.Unmarshal(res.Value, &r); err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) registerSource(name, source string) *client.ResolvedFunction {
	f.t.Helper()
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	fn := catalog.Function{Name: name, Kind: catalog.KindPython, Source: source, Entry: name}
	if _, err := u.Register(f.ctx, fn, catalog.Access{Public: true}); err != nil {
		f.t.Fatal(err)
	}
	res, err := u.Resolve(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// TestUsersNeverShareAWorker (issue 11, acceptance 4): two users calling
// one function on one endpoint never share a worker process: the second
// never sees the first's PID or module global; as root, by default (no
// worker_uids, no python: the detected interpreter, pyenv's under /root
// here, gives way to /usr/bin/python3), each runs under a uid of its own
// and the second cannot open the first's worker's fd 3, the node's key or
// the first's directory.
func TestUsersNeverShareAWorker(t *testing.T) {
	root := os.Geteuid() == 0
	f := newFixture(t, func(cfg *node.Config) {
		cfg.Public = true
	})
	spy := f.registerSource("spy", spySource)
	bobKey, _ := identity.GenerateKey()
	bob, err := f.mesh.Client(f.ctx, bobKey)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	key := filepath.Join(f.mesh.Dir, "ep0", node.KeyFile)

	a1 := f.spy(f.client, spy, "alice", 0, key, "")
	a2 := f.spy(f.client, spy, "alice again", 0, key, "")
	if a2.PID != a1.PID || a2.Prev == nil || *a2.Prev != "alice" {
		t.Fatalf("alice's second call ran in pid %d after %d (prev %v): not her warm worker", a2.PID, a1.PID, a2.Prev)
	}
	if !root {
		// An fxnode not root cannot keep them apart: it runs functions on
		// its host for its owner alone.
		args, _ := json.Marshal([]any{"bob", a1.PID, key, a1.Cwd})
		if _, err := f.run(bob, spy, string(args), "", 0); fault.KindOf(err) != fault.Denied || !strings.Contains(err.Error(), "for its owner alone") {
			t.Fatalf("bob's call to an endpoint not root: %v; want denied", err)
		}
		t.Skipf("uids: not root (uid %d), so the endpoint serves its owner alone; as root (CI) the rest runs", os.Geteuid())
	}
	b := f.spy(bob, spy, "bob", a1.PID, key, a1.Cwd)
	if b.PID == a1.PID || b.Prev != nil {
		t.Fatalf("bob ran in pid %d (prev %v); alice's worker is %d", b.PID, b.Prev, a1.PID)
	}
	for _, r := range []spyReport{a1, b} {
		if r.UID < 200000 || r.UID > 265535 || r.GID != r.UID || len(r.Groups) != 0 {
			t.Errorf("a worker ran as %d:%d groups %v, want a uid of the default range %s and nothing else", r.UID, r.GID, r.Groups, node.DefaultWorkerUIDs)
		}
		if r.Key != "PermissionError" {
			t.Errorf("a worker opening the node's key: %s", r.Key)
		}
	}
	if a1.UID == b.UID {
		t.Fatalf("alice and bob share uid %d", b.UID)
	}
	if b.FD != "PermissionError" || b.Dir != "PermissionError" {
		t.Fatalf("bob opening alice's worker's fd 3: %s; listing her directory %s: %s", b.FD, a1.Cwd, b.Dir)
	}
	if !strings.HasPrefix(a1.Cwd, filepath.Join(f.mesh.Dir, "ep0", node.WorkersDir)) {
		t.Fatalf("alice's working directory %s is not under the node's", a1.Cwd)
	}
}

// shellSpy is a shell template that reports, a line key=value each, who
// and where it runs, and what became of opening a key file, listing a
// directory, opening a worker's fd 3 and listing its descriptors:
// "opened", or the shell's error.
const shellSpy = `sh -c '
echo uid=$(id -u); echo gid=$(id -g); echo groups=$(id -G); echo cwd=$(pwd -P)
echo key=$( (exec 9<"$1") 2>&1 && echo opened)
echo dir=$(ls "$2" 2>&1 >/dev/null && echo opened)
echo fd=$( (exec 9</proc/$3/fd/3) 2>&1 && echo opened)
echo fds=$(ls /proc/$3/fd 2>&1 >/dev/null && echo opened)
' sh {key} {other} {pid}`

func (f *fixture) registerShell(name, command string) *client.ResolvedFunction {
	f.t.Helper()
	u := &client.UserCatalog{Key: f.owner, Mesh: f.client}
	if _, err := u.Register(f.ctx, catalog.Function{Name: name, Kind: catalog.KindShell, Command: command}, catalog.Access{Public: true}); err != nil {
		f.t.Fatal(err)
	}
	res, err := u.Resolve(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// shellSpy runs the shell spy as c's user and returns its report.
func (f *fixture) shellSpy(c *client.Client, fn *client.ResolvedFunction, key, other string, pid int) map[string]string {
	f.t.Helper()
	kw, _ := json.Marshal(map[string]any{"key": key, "other": other, "pid": pid})
	res, err := f.run(c, fn, "", string(kw), 0)
	if err != nil {
		f.t.Fatal(err)
	}
	var out struct{ Stdout, Stderr string }
	if res.Error != nil || json.Unmarshal(res.Value, &out) != nil {
		f.t.Fatalf("shell spy: %+v %s", res.Error, res.Value)
	}
	rep := map[string]string{}
	for line := range strings.Lines(out.Stdout) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		rep[k] = v
	}
	return rep
}

// TestShellRunsAsItsUser (issue 11, shell functions): as root with
// worker_uids, a user's shell command runs as the uid its Python workers
// have, inside the same working directory; another user's command runs as
// a uid of its own and cannot open the node's key, the first user's
// directory, or her Python worker's fd 3 and descriptors.
func TestShellRunsAsItsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("shell commands run as users' uids only when fxnode runs as root; this test runs as uid %d (CI runs as root)", os.Geteuid())
	}
	f := newFixture(t, func(cfg *node.Config) {
		cfg.Public = true
		cfg.Python = sharedPython(t)
		cfg.WorkerUIDs = "200000-265535"
	})
	spy := f.registerSource("spy", spySource)
	sh := f.registerShell("shspy", shellSpy)
	bobKey, _ := identity.GenerateKey()
	bob, err := f.mesh.Client(f.ctx, bobKey)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	key := filepath.Join(f.mesh.Dir, "ep0", node.KeyFile)

	py := f.spy(f.client, spy, "alice", 0, "", "")
	a := f.shellSpy(f.client, sh, key, "/", py.PID)
	b := f.shellSpy(bob, sh, key, py.Cwd, py.PID)
	t.Logf("alice's Python: %+v\nalice's shell: %v\nbob's shell: %v", py, a, b)
	if a["uid"] != fmt.Sprint(py.UID) || a["gid"] != fmt.Sprint(py.GID) || filepath.Dir(a["cwd"]) != py.Cwd {
		t.Fatalf("alice's shell command ran as %s:%s in %s; her Python worker as %d:%d in %s", a["uid"], a["gid"], a["cwd"], py.UID, py.GID, py.Cwd)
	}
	if a["fds"] != "opened" {
		t.Fatalf("alice's command listing her own worker's descriptors: %s", a["fds"])
	}
	var buid int
	if _, err := fmt.Sscan(b["uid"], &buid); err != nil || buid < 200000 || buid > 265535 || b["uid"] == a["uid"] || b["gid"] != b["uid"] || b["groups"] != b["uid"] {
		t.Fatalf("bob's shell command ran as %s:%s groups %s; alice's as %s", b["uid"], b["gid"], b["groups"], a["uid"])
	}
	for _, what := range []string{"key", "dir", "fd", "fds"} {
		if !strings.Contains(b[what], "Permission denied") {
			t.Errorf("bob's shell command, %s: %s", what, b[what])
		}
	}
	if !strings.Contains(a["key"], "Permission denied") {
		t.Errorf("alice's shell command opening the node's key: %s", a["key"])
	}
}

// TestOneUIDTable: an endpoint's Python pool and shell executor share one
// table of uids. With a range of three (the endpoint's own workers hold
// one, alice's another), bob is chosen so that his uid's hash names
// alice's: a shell executor with a table of its own would run his command
// as her uid; the shared one gives him the third.
func TestOneUIDTable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("uids need fxnode to run as root; this test runs as uid %d (CI runs as root)", os.Geteuid())
	}
	const first, size = 200000, 3
	f := newFixture(t, func(cfg *node.Config) {
		cfg.Public = true
		cfg.Python = sharedPython(t)
		cfg.WorkerUIDs = fmt.Sprintf("%d-%d", first, first+size-1)
	})
	spy := f.registerSource("spy", spySource)
	sh := f.registerShell("shspy", shellSpy)
	a := f.spy(f.client, spy, "alice", 0, "", "")
	// The uid that bob's hash names first, as exec/tenant allocates.
	hashed := func(id fmt.Stringer) uint32 {
		h := sha256.Sum256([]byte(id.String()))
		return first + uint32(binary.BigEndian.Uint64(h[:8])%size)
	}
	var bobKey *identity.Key
	for bobKey == nil || hashed(bobKey.ID()) != a.UID {
		bobKey, _ = identity.GenerateKey()
	}
	bob, err := f.mesh.Client(f.ctx, bobKey)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	b := f.shellSpy(bob, sh, "", a.Cwd, a.PID)
	if b["uid"] == fmt.Sprint(a.UID) || !strings.Contains(b["fds"], "Permission denied") {
		t.Fatalf("bob's shell command ran as uid %s, alice's Python worker as %d; bob listing its descriptors: %s", b["uid"], a.UID, b["fds"])
	}
}

// TestMappedUsers (issue 11, acceptance 5): with users mapped to local
// accounts (fxnode as root), a mapped user's function runs as the account;
// with require_mapping, an unmapped user is refused as denied; both hold
// for shell functions too.
func TestMappedUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("mapping users to accounts needs fxnode to run as root; this test runs as uid %d (CI runs as root)", os.Geteuid())
	}
	for _, tool := range []string{"useradd", "userdel"} {
		if _, err := osexec.LookPath(tool); err != nil {
			t.Skip("no " + tool + " to create a test account")
		}
	}
	python := sharedPython(t)
	owner, _ := identity.GenerateKey()
	name := fmt.Sprintf("fxs%d", os.Getpid()%100000)
	_ = osexec.Command("userdel", name).Run() // a leftover of a killed run
	home := filepath.Join(t.TempDir(), name)
	if out, err := osexec.Command("useradd", "-m", "-d", home, "-U", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = osexec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 1, Owner: owner, Configure: func(_ int, cfg *node.Config) {
		cfg.Workers, cfg.Public, cfg.Python = 2, true, python
		cfg.WorkerUIDs = "200000-265535"
		cfg.Users = map[string]string{owner.ID().String(): name}
		cfg.RequireMapping = true
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := m.Client(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := &fixture{t: t, ctx: ctx, mesh: m, ep: m.Endpoints[0], owner: owner, client: c}
	spy := f.registerSource("spy", spySource)

	r := f.spy(c, spy, "mapped", 0, "", "")
	if fmt.Sprint(r.UID) != u.Uid || fmt.Sprint(r.GID) != u.Gid || r.Cwd != home {
		t.Fatalf("the mapped user's function ran as %d:%d in %s; want %s:%s in %s", r.UID, r.GID, r.Cwd, u.Uid, u.Gid, home)
	}

	bob, err := m.Client(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	_, err = f.run(bob, spy, `["unmapped", 0, "", ""]`, "", 0)
	if fault.KindOf(err) != fault.Denied || !strings.Contains(err.Error(), "no local account") {
		t.Fatalf("an unmapped user with require_mapping: %v", err)
	}

	// Shell functions too: the mapped user's command runs as the account,
	// in its home; the unmapped user's is refused.
	sh := f.registerShell("shspy", shellSpy)
	s := f.shellSpy(c, sh, "/nothing", "/nothing", 0)
	if s["uid"] != u.Uid || s["gid"] != u.Gid || filepath.Dir(s["cwd"]) != home {
		t.Fatalf("the mapped user's shell command ran as %s:%s in %s; want %s:%s in %s", s["uid"], s["gid"], s["cwd"], u.Uid, u.Gid, home)
	}
	_, err = f.run(bob, sh, "", `{"key": "", "other": "", "pid": 0}`, 0)
	if fault.KindOf(err) != fault.Denied || !strings.Contains(err.Error(), "no local account") {
		t.Fatalf("an unmapped user's shell command with require_mapping: %v", err)
	}
}
