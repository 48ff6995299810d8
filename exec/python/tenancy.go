package python

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/fxmesh/fxmesh/fault"
)

// Isolation says how far apart the pool keeps its tenants. Whatever it
// says, a worker serves one tenant only (see the package documentation);
// the zero value adds nothing to that: every worker runs as this process's
// user, in Config.Dir.
type Isolation struct {
	// Dir, when not "", holds a working directory for each tenant
	// (Dir/tenants/t-HASH, mode 0700, owned by the tenant's uid) and the
	// table of the uids given to tenants (Dir/uids.json). Required with
	// UIDs or Accounts.
	Dir string
	// UIDs, when not zero, is the range of unprivileged uids from which a
	// tenant without an account gets one of its own; its workers run as
	// that uid and as the group of the same number, with no supplementary
	// groups. Needs this process to run as root.
	UIDs UIDRange
	// Accounts maps tenants to local POSIX accounts: their workers run as
	// the account (uid, gid, supplementary groups) in its home directory.
	// Needs this process to run as root.
	Accounts map[string]Account
	// RequireAccount refuses, as fault.Denied, the tasks of tenants that
	// Accounts does not map (the endpoint's own tenant "" excepted).
	RequireAccount bool
}

// UIDRange is an inclusive range of uids; the zero value is none.
type UIDRange struct{ First, Last uint32 }

// IsZero reports whether r is no range.
func (r UIDRange) IsZero() bool { return r == UIDRange{} }

// String gives the form ParseUIDRange reads.
func (r UIDRange) String() string {
	return strconv.FormatUint(uint64(r.First), 10) + "-" + strconv.FormatUint(uint64(r.Last), 10)
}

// ParseUIDRange reads "FIRST-LAST", an inclusive range of uids that leaves
// out root (uid 0).
func ParseUIDRange(s string) (UIDRange, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	first, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	last, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return UIDRange{}, fault.E(fault.Invalid, "exec/python: uid range", "%q is not FIRST-LAST, two uids", s)
	case first == 0:
		return UIDRange{}, fault.E(fault.Invalid, "exec/python: uid range", "%q includes root (uid 0)", s)
	case last < first:
		return UIDRange{}, fault.E(fault.Invalid, "exec/python: uid range", "%q ends before it starts", s)
	}
	return UIDRange{uint32(first), uint32(last)}, nil
}

// Account is a local POSIX account that a tenant's workers run as.
type Account struct {
	Name   string   // the account's name, for messages
	UID    uint32   // not 0
	GID    uint32   // its primary group
	Groups []uint32 // its supplementary groups
	Home   string   // its home directory: the workers' working directory
}

func (iso *Isolation) validate() error {
	if !iso.UIDs.IsZero() {
		if _, err := ParseUIDRange(iso.UIDs.String()); err != nil {
			return err
		}
	}
	if (!iso.UIDs.IsZero() || len(iso.Accounts) > 0) && iso.Dir == "" {
		return fault.E(fault.Invalid, "exec/python: config", "isolation by uid needs a directory for the tenants (Isolation.Dir)")
	}
	for t, a := range iso.Accounts {
		switch {
		case a.UID == 0 || a.GID == 0:
			return fault.E(fault.Invalid, "exec/python: config", "tenant %s maps to account %q of uid %d, gid %d: workers never run as root", t, a.Name, a.UID, a.GID)
		case !filepath.IsAbs(a.Home):
			return fault.E(fault.Invalid, "exec/python: config", "account %q has home %q, not an absolute path", a.Name, a.Home)
		case !iso.UIDs.IsZero() && a.UID >= iso.UIDs.First && a.UID <= iso.UIDs.Last:
			return fault.E(fault.Invalid, "exec/python: config", "account %q has uid %d, inside the worker uid range %s", a.Name, a.UID, iso.UIDs)
		}
	}
	return nil
}

// switches reports whether workers run under uids other than this
// process's.
func (iso *Isolation) switches() bool { return !iso.UIDs.IsZero() || len(iso.Accounts) > 0 }

// tenantRun is how a tenant's workers run: as whom, where, with which HOME.
type tenantRun struct {
	cred    *credential // nil: as this process's user
	dir     string      // the working directory; "" means Config.Dir
	home    string      // HOME; "" leaves the environment's
	account string      // the account's name, "" for none
}

// credential is a uid, a gid and supplementary groups.
type credential struct {
	uid, gid uint32
	groups   []uint32
}

// tenants gives each tenant its uid and working directory, once.
type tenants struct {
	iso Isolation

	mu   sync.Mutex           // guards uids, runs and the table file
	uids map[string]uint32    // the table: tenant -> uid from iso.UIDs
	runs map[string]tenantRun // prepared tenants
}

// tableFile is the name of the uid table in Isolation.Dir.
const tableFile = "uids.json"

func newTenants(iso Isolation) (*tenants, error) {
	ts := &tenants{iso: iso, uids: map[string]uint32{}, runs: map[string]tenantRun{}}
	if iso.Dir == "" {
		return ts, nil
	}
	if err := os.MkdirAll(filepath.Join(iso.Dir, "tenants"), 0o700); err != nil {
		return nil, fmt.Errorf("exec/python: tenants: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(iso.Dir, tableFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("exec/python: tenants: %w", err)
	default:
		if err := json.Unmarshal(b, &ts.uids); err != nil {
			return nil, fault.E(fault.Invalid, "exec/python: tenants", "%s: %v", filepath.Join(iso.Dir, tableFile), err)
		}
	}
	return ts, nil
}

// run returns how tenant's workers run, allocating its uid and making its
// working directory the first time.
func (ts *tenants) run(tenant string) (tenantRun, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r, ok := ts.runs[tenant]; ok {
		return r, nil
	}
	if tenant != "" && ts.iso.RequireAccount {
		if _, ok := ts.iso.Accounts[tenant]; !ok {
			return tenantRun{}, fault.E(fault.Denied, "exec/python", "user %s has no local account on this endpoint, and one is required", tenant)
		}
	}
	var r tenantRun
	if a, ok := ts.iso.Accounts[tenant]; ok {
		r = tenantRun{cred: &credential{a.UID, a.GID, a.Groups}, dir: a.Home, home: a.Home, account: a.Name}
		if st, err := os.Stat(a.Home); err != nil || !st.IsDir() {
			return tenantRun{}, fault.E(fault.System, "exec/python", "home %q of account %q is not a directory", a.Home, a.Name)
		}
		ts.runs[tenant] = r
		return r, nil
	}
	if ts.iso.Dir == "" {
		ts.runs[tenant] = r
		return r, nil
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if !ts.iso.UIDs.IsZero() {
		var err error
		if uid, err = ts.allocateLocked(tenant); err != nil {
			return tenantRun{}, err
		}
		gid = uid
		r.cred = &credential{uid: uid, gid: gid, groups: []uint32{}}
	}
	r.dir = filepath.Join(ts.iso.Dir, "tenants", tenantDirName(tenant))
	r.home = r.dir
	if err := os.Mkdir(r.dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return tenantRun{}, fmt.Errorf("exec/python: tenant directory: %w", err)
	}
	if err := os.Lchown(r.dir, int(uid), int(gid)); err != nil {
		return tenantRun{}, fmt.Errorf("exec/python: tenant directory: %w", err)
	}
	if err := os.Chmod(r.dir, 0o700); err != nil {
		return tenantRun{}, fmt.Errorf("exec/python: tenant directory: %w", err)
	}
	ts.runs[tenant] = r
	return r, nil
}

// tenantDirName names a tenant's directory; user IDs are long, and the
// endpoint's own tenant is "".
func tenantDirName(tenant string) string {
	h := sha256.Sum256([]byte(tenant))
	return "t-" + hex.EncodeToString(h[:12])
}

// allocateLocked gives tenant a uid of the range that no other tenant has:
// the one its hash names, or the next free one after it. The table is
// written before the uid is used, so that a restarted pool gives every
// tenant the uid it had.
func (ts *tenants) allocateLocked(tenant string) (uint32, error) {
	rg := ts.iso.UIDs
	if uid, ok := ts.uids[tenant]; ok && uid >= rg.First && uid <= rg.Last {
		return uid, nil
	}
	used := make(map[uint32]bool, len(ts.uids))
	for _, u := range ts.uids {
		used[u] = true
	}
	size := uint64(rg.Last-rg.First) + 1
	if uint64(len(used)) >= size {
		return 0, fault.E(fault.Unavailable, "exec/python", "every uid of the worker range %s is taken (%d tenants); widen it", rg, len(ts.uids))
	}
	h := sha256.Sum256([]byte(tenant))
	start := binary.BigEndian.Uint64(h[:8]) % size
	var uid uint32
	for i := range size {
		u := rg.First + uint32((start+i)%size)
		if !used[u] {
			uid = u
			break
		}
	}
	ts.uids[tenant] = uid
	if err := ts.saveLocked(); err != nil {
		delete(ts.uids, tenant)
		return 0, err
	}
	return uid, nil
}

// saveLocked writes the uid table, atomically.
func (ts *tenants) saveLocked() error {
	b, err := json.MarshalIndent(ts.uids, "", " ")
	if err != nil {
		return fmt.Errorf("exec/python: uid table: %w", err)
	}
	path := filepath.Join(ts.iso.Dir, tableFile)
	f, err := os.CreateTemp(ts.iso.Dir, tableFile+".*")
	if err != nil {
		return fmt.Errorf("exec/python: uid table: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("exec/python: uid table: %w", err)
	}
	return nil
}
