package node

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/fxmesh/fxmesh/exec/tenant"
)

// WorkersDir is the directory, inside a node's, of the tenants' working
// directories and uid table (of Python workers and shell commands alike),
// when they run as uids of their own.
const WorkersDir = "workers"

// DefaultWorkerUIDs is the range of worker uids of an fxnode that runs as
// root with worker_uids unset: as root, the workers of users without an
// account never run as root.
const DefaultWorkerUIDs = "200000-265535"

// fallbackPython is the interpreter the workers run when the configured
// or detected one is out of the worker uids' reach (pyenv's, under
// /root): Debian's.
const fallbackPython = "/usr/bin/python3"

// isolation is the tenants' Isolation that the config asks for:
// worker_uids (DefaultWorkerUIDs when unset and root says fxnode runs as
// root), and the accounts of users looked up in the system's user
// database. The endpoint makes one tenant.Table of it, which its Python
// pool and shell executor share.
func (c *Config) isolation(dir string, root bool) (tenant.Isolation, error) {
	var iso tenant.Isolation
	uids := c.WorkerUIDs
	if uids == "" && root {
		uids = DefaultWorkerUIDs
	}
	if uids == "" && len(c.Users) == 0 {
		return iso, nil
	}
	iso.Dir = filepath.Join(dir, WorkersDir)
	iso.RequireAccount = c.RequireMapping
	if uids != "" {
		r, err := tenant.ParseUIDRange(uids)
		if err != nil {
			return iso, fmt.Errorf("node: config worker_uids: %w", err)
		}
		iso.UIDs = r
	}
	if len(c.Users) > 0 {
		iso.Accounts = make(map[string]tenant.Account, len(c.Users))
	}
	for id, name := range c.Users {
		a, err := lookupAccount(name)
		if err != nil {
			return iso, fmt.Errorf("node: config users: %s: %w", id, err)
		}
		iso.Accounts[id] = a
	}
	return iso, nil
}

// mapped is the set of user IDs that users maps.
func (c *Config) mapped() map[string]bool {
	m := make(map[string]bool, len(c.Users))
	for id := range c.Users {
		m[id] = true
	}
	return m
}

// lookupAccount reads a local account: uid, gid, groups and home.
func lookupAccount(name string) (tenant.Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return tenant.Account{}, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return tenant.Account{}, fmt.Errorf("account %q has uid %q, gid %q: not numbers", name, u.Uid, u.Gid)
	}
	a := tenant.Account{Name: name, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
	gids, err := u.GroupIds()
	if err != nil {
		return tenant.Account{}, fmt.Errorf("groups of account %q: %w", name, err)
	}
	for _, g := range gids {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return tenant.Account{}, fmt.Errorf("account %q is in group %q: not a number", name, g)
		}
		a.Groups = append(a.Groups, uint32(n))
	}
	return a, nil
}

// runsAsRoot reports whether fxnode runs as root; tests replace it.
var runsAsRoot = func() bool { return os.Geteuid() == 0 }

// hostOwnerOnly is why an endpoint of isolation iso runs functions on its
// host for its owner alone (admission.Policy.HostOwnerOnly), or "": an
// endpoint that cannot run users' workers as uids of their own (fxnode
// not root) never lets them share its uid, where one user's code could
// reach another's workers and the node's key.
func hostOwnerOnly(iso tenant.Isolation) string {
	if iso.Switches() {
		return ""
	}
	return fmt.Sprintf("this fxnode (uid %d) cannot run users' Python workers and shell commands as uids of their own (that needs root), so theirs would share its uid, where one could reach another's and the node's key; "+
		"run fxnode as root to serve other users on the host (functions in containers are served to every user admitted)", os.Geteuid())
}
