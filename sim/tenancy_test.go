package sim

import (
	"context"
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
// never sees the first's PID or module global; as root, with worker_uids,
// each runs under a uid of its own and the second cannot open the first's
// worker's fd 3, the node's key or the first's directory.
func TestUsersNeverShareAWorker(t *testing.T) {
	root := os.Geteuid() == 0
	f := newFixture(t, func(cfg *node.Config) {
		cfg.Public = true
		if root {
			cfg.Python = sharedPython(t)
			cfg.WorkerUIDs = "200000-265535"
		}
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
	b := f.spy(bob, spy, "bob", a1.PID, key, a1.Cwd)
	if b.PID == a1.PID || b.Prev != nil {
		t.Fatalf("bob ran in pid %d (prev %v); alice's worker is %d", b.PID, b.Prev, a1.PID)
	}
	if !root {
		t.Skipf("uids: not root (uid %d), so workers run as this process's user; as root (CI) the rest runs", os.Geteuid())
	}
	for _, r := range []spyReport{a1, b} {
		if r.UID < 200000 || r.UID > 265535 || r.GID != r.UID || len(r.Groups) != 0 {
			t.Errorf("a worker ran as %d:%d groups %v, want a uid of worker_uids and nothing else", r.UID, r.GID, r.Groups)
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

// TestMappedUsers (issue 11, acceptance 5): with users mapped to local
// accounts (fxnode as root), a mapped user's function runs as the account;
// with require_mapping, an unmapped user is refused as denied.
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
}
