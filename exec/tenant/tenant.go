package tenant

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

// Isolation says how far apart tenants are kept. The zero value adds
// nothing to separate processes: every tenant runs as this process's user.
type Isolation struct {
	// Dir, when not "", holds a working directory for each tenant
	// (Dir/tenants/t-HASH, mode 0700, owned by the tenant's uid) and the
	// table of the uids given to tenants (Dir/uids.json). Required with
	// UIDs or Accounts.
	Dir string
	// UIDs, when not zero, is the range of unprivileged uids from which a
	// tenant without an account gets one of its own; its processes run as
	// that uid and as the group of the same number, with no supplementary
	// groups. Needs this process to run as root.
	UIDs UIDRange
	// Accounts maps tenants to local POSIX accounts: their processes run
	// as the account (uid, gid, supplementary groups) in its home
	// directory. Needs this process to run as root.
	Accounts map[string]Account
	// RequireAccount refuses, as fault.Denied, the tenants that Accounts
	// does not map (the endpoint's own tenant "" excepted).
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
		return UIDRange{}, fault.E(fault.Invalid, "exec/tenant: uid range", "%q is not FIRST-LAST, two uids", s)
	case first == 0:
		return UIDRange{}, fault.E(fault.Invalid, "exec/tenant: uid range", "%q includes root (uid 0)", s)
	case last < first:
		return UIDRange{}, fault.E(fault.Invalid, "exec/tenant: uid range", "%q ends before it starts", s)
	}
	return UIDRange{uint32(first), uint32(last)}, nil
}

// Account is a local POSIX account that a tenant's processes run as.
type Account struct {
	Name   string   // the account's name, for messages
	UID    uint32   // not 0
	GID    uint32   // its primary group
	Groups []uint32 // its supplementary groups
	Home   string   // its home directory: the tenant's working directory
}

func (iso *Isolation) validate() error {
	if iso.Switches() && !CanSwitch() {
		return fault.E(fault.Invalid, "exec/tenant: config", "processes can run as other users (a uid range, or accounts) only when this process runs as root; it runs as uid %d", os.Geteuid())
	}
	if !iso.UIDs.IsZero() {
		if _, err := ParseUIDRange(iso.UIDs.String()); err != nil {
			return err
		}
	}
	if iso.Switches() && iso.Dir == "" {
		return fault.E(fault.Invalid, "exec/tenant: config", "isolation by uid needs a directory for the tenants (Isolation.Dir)")
	}
	for t, a := range iso.Accounts {
		switch {
		case a.UID == 0 || a.GID == 0:
			return fault.E(fault.Invalid, "exec/tenant: config", "tenant %s maps to account %q of uid %d, gid %d: tenants never run as root", t, a.Name, a.UID, a.GID)
		case !filepath.IsAbs(a.Home):
			return fault.E(fault.Invalid, "exec/tenant: config", "account %q has home %q, not an absolute path", a.Name, a.Home)
		case !iso.UIDs.IsZero() && a.UID >= iso.UIDs.First && a.UID <= iso.UIDs.Last:
			return fault.E(fault.Invalid, "exec/tenant: config", "account %q has uid %d, inside the worker uid range %s", a.Name, a.UID, iso.UIDs)
		}
	}
	return nil
}

// Switches reports whether tenants run under uids other than this
// process's.
func (iso *Isolation) Switches() bool { return !iso.UIDs.IsZero() || len(iso.Accounts) > 0 }

// Identity is how a tenant's processes run: as whom, where, with which
// HOME. The zero Identity is this process's user, with nothing changed.
type Identity struct {
	Cred    *Credential // nil: as this process's user
	Dir     string      // the tenant's working directory; "" for none
	Home    string      // HOME; "" leaves the environment's
	Account string      // the account's name, "" for none
}

// Credential is a uid, a gid and supplementary groups.
type Credential struct {
	UID, GID uint32
	Groups   []uint32
}

// Table gives each tenant its Identity, once: it allocates uids, keeps
// their table, and makes the tenants' working directories. It is safe for
// concurrent use; a nil *Table isolates nothing.
type Table struct {
	iso Isolation

	mu   sync.Mutex          // guards uids, ids and the table file
	uids map[string]uint32   // the table: tenant -> uid from iso.UIDs
	ids  map[string]Identity // prepared tenants
}

// tableFile is the name of the uid table in Isolation.Dir.
const tableFile = "uids.json"

// New checks iso, makes its directory and reads the uid table it holds.
func New(iso Isolation) (*Table, error) {
	if err := iso.validate(); err != nil {
		return nil, err
	}
	t := &Table{iso: iso, uids: map[string]uint32{}, ids: map[string]Identity{}}
	if iso.Dir == "" {
		return t, nil
	}
	if err := os.MkdirAll(filepath.Join(iso.Dir, "tenants"), 0o700); err != nil {
		return nil, fmt.Errorf("exec/tenant: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(iso.Dir, tableFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("exec/tenant: %w", err)
	default:
		if err := json.Unmarshal(b, &t.uids); err != nil {
			return nil, fault.E(fault.Invalid, "exec/tenant", "%s: %v", filepath.Join(iso.Dir, tableFile), err)
		}
	}
	return t, nil
}

// Isolation returns what t was made with; the zero value for a nil t.
func (t *Table) Isolation() Isolation {
	if t == nil {
		return Isolation{}
	}
	return t.iso
}

// Credentials returns a credential of each kind that tenants may run as:
// the first uid of the range, and each account. Executors check with them
// that every tenant can run their programs.
func (t *Table) Credentials() map[string]*Credential {
	out := map[string]*Credential{}
	if t == nil {
		return out
	}
	if !t.iso.UIDs.IsZero() {
		out["worker uid "+strconv.FormatUint(uint64(t.iso.UIDs.First), 10)] = &Credential{UID: t.iso.UIDs.First, GID: t.iso.UIDs.First}
	}
	for _, a := range t.iso.Accounts {
		out["account "+a.Name] = &Credential{a.UID, a.GID, a.Groups}
	}
	return out
}

// Identity returns how tenant's processes run, allocating its uid and
// making its working directory the first time. A tenant refused by
// RequireAccount gets a fault.Denied error.
func (t *Table) Identity(tenant string) (Identity, error) {
	if t == nil {
		return Identity{}, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[tenant]; ok {
		return id, nil
	}
	if tenant != "" && t.iso.RequireAccount {
		if _, ok := t.iso.Accounts[tenant]; !ok {
			return Identity{}, fault.E(fault.Denied, "exec/tenant", "user %s has no local account on this endpoint, and one is required", tenant)
		}
	}
	var id Identity
	if a, ok := t.iso.Accounts[tenant]; ok {
		id = Identity{Cred: &Credential{a.UID, a.GID, a.Groups}, Dir: a.Home, Home: a.Home, Account: a.Name}
		if st, err := os.Stat(a.Home); err != nil || !st.IsDir() {
			return Identity{}, fault.E(fault.System, "exec/tenant", "home %q of account %q is not a directory", a.Home, a.Name)
		}
		t.ids[tenant] = id
		return id, nil
	}
	if t.iso.Dir == "" {
		t.ids[tenant] = id
		return id, nil
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if !t.iso.UIDs.IsZero() {
		var err error
		if uid, err = t.allocateLocked(tenant); err != nil {
			return Identity{}, err
		}
		gid = uid
		id.Cred = &Credential{UID: uid, GID: gid, Groups: []uint32{}}
	}
	id.Dir = filepath.Join(t.iso.Dir, "tenants", dirName(tenant))
	id.Home = id.Dir
	if err := os.Mkdir(id.Dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return Identity{}, fmt.Errorf("exec/tenant: tenant directory: %w", err)
	}
	if err := os.Lchown(id.Dir, int(uid), int(gid)); err != nil {
		return Identity{}, fmt.Errorf("exec/tenant: tenant directory: %w", err)
	}
	if err := os.Chmod(id.Dir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("exec/tenant: tenant directory: %w", err)
	}
	t.ids[tenant] = id
	return id, nil
}

// dirName names a tenant's directory; user IDs are long, and the
// endpoint's own tenant is "".
func dirName(tenant string) string {
	h := sha256.Sum256([]byte(tenant))
	return "t-" + hex.EncodeToString(h[:12])
}

// allocateLocked gives tenant a uid of the range that no other tenant has:
// the one its hash names, or the next free one after it. The table is
// written before the uid is used, so that a restarted endpoint gives every
// tenant the uid it had.
func (t *Table) allocateLocked(tenant string) (uint32, error) {
	rg := t.iso.UIDs
	if uid, ok := t.uids[tenant]; ok && uid >= rg.First && uid <= rg.Last {
		return uid, nil
	}
	used := make(map[uint32]bool, len(t.uids))
	for _, u := range t.uids {
		used[u] = true
	}
	size := uint64(rg.Last-rg.First) + 1
	if uint64(len(used)) >= size {
		return 0, fault.E(fault.Unavailable, "exec/tenant", "every uid of the worker range %s is taken (%d tenants); widen it", rg, len(t.uids))
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
	t.uids[tenant] = uid
	if err := t.saveLocked(); err != nil {
		delete(t.uids, tenant)
		return 0, err
	}
	return uid, nil
}

// saveLocked writes the uid table, atomically.
func (t *Table) saveLocked() error {
	b, err := json.MarshalIndent(t.uids, "", " ")
	if err != nil {
		return fmt.Errorf("exec/tenant: uid table: %w", err)
	}
	path := filepath.Join(t.iso.Dir, tableFile)
	f, err := os.CreateTemp(t.iso.Dir, tableFile+".*")
	if err != nil {
		return fmt.Errorf("exec/tenant: uid table: %w", err)
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
		return fmt.Errorf("exec/tenant: uid table: %w", err)
	}
	return nil
}

// Env is the environment of a tenant's process: env (nil: this process's)
// with HOME its own, and for an account USER and LOGNAME its name. With no
// Home, env is returned as it is.
func Env(env []string, id Identity) []string {
	if id.Home == "" {
		return env
	}
	if env == nil {
		env = os.Environ()
	}
	set := map[string]string{"HOME": id.Home}
	if id.Account != "" {
		set["USER"], set["LOGNAME"] = id.Account, id.Account
	}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			out = append(out, kv)
		}
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}
