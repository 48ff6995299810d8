package node

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/exec/tenant"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/internal/atomicfile"
	"github.com/fxmesh/fxmesh/p2p"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/multiformats/go-multiaddr"
	"go.yaml.in/yaml/v3"
)

// File names inside a node's directory.
const (
	ConfigFile     = "config.yaml"
	KeyFile        = "node.key"
	MultiaddrsFile = "multiaddrs"
)

// DefaultListen is where a node listens when its config names nothing. It is
// loopback on purpose: an operator opens a node to the network by editing
// listen in config.yaml.
var DefaultListen = []string{"/ip4/127.0.0.1/tcp/0"}

// Config is a node's config.yaml. Every field may be edited by an operator;
// the zero value of each is documented at the field.
type Config struct {
	// Name is a human name for the endpoint; "" means the host name.
	Name string `yaml:"name"`
	// Owner is the user ID that owns the endpoint and may always use it.
	Owner string `yaml:"owner"`
	// Listen lists multiaddrs to listen on; empty means DefaultListen.
	Listen []string `yaml:"listen"`
	// Bootstrap lists multiaddrs (with /p2p/ID) of peers to join through.
	Bootstrap []string `yaml:"bootstrap"`
	// Public admits every user to this endpoint's functions.
	Public bool `yaml:"public"`
	// Allowed lists user IDs admitted besides the owner.
	Allowed []string `yaml:"allowed"`
	// Labels are free-form key/value pairs matched by requirements.
	Labels map[string]string `yaml:"labels"`
	// Datasets names the datasets held here, for routing to the data.
	Datasets []string `yaml:"datasets"`
	// Hardware and Software were detected by fxnode init.
	Hardware routing.Hardware `yaml:"hardware"`
	Software routing.Software `yaml:"software"`
	// Python is the interpreter of the warm worker pool; "" means the first
	// interpreter in software.python_paths, else python3. A virtualenv's
	// bin/python works; shims are resolved to the real executable. One the
	// worker uids cannot run (under /root, say) gives way to
	// /usr/bin/python3, with a line in the log.
	Python string `yaml:"python,omitempty"`
	// Workers is the size of the warm Python pool, all users together; zero
	// means the CPU count. A worker serves one user (the invocation's
	// signer) all its life.
	Workers int `yaml:"workers,omitempty"`
	// WorkerUIDs, such as "200000-265535", is a range of unprivileged uids:
	// the Python workers and shell commands of each user without an
	// account (see Users) run as a uid of the range of their own, in a
	// working directory of their own (DIR/workers/tenants/, mode 0700).
	// Needs fxnode to run as root. "" means DefaultWorkerUIDs when fxnode
	// runs as root (workers never run as root); an fxnode not root runs
	// functions on its host for its owner alone.
	WorkerUIDs string `yaml:"worker_uids,omitempty"`
	// Users maps user IDs to local POSIX account names: the workers and
	// shell commands of a mapped user run as that account (its uid, gid and groups) in its
	// home directory. Needs fxnode to run as root.
	Users map[string]string `yaml:"users,omitempty"`
	// RequireMapping denies every user that Users does not map.
	RequireMapping bool `yaml:"require_mapping,omitempty"`
	// Functions, if not empty, lists the only functions served here: each
	// a function ID, OWNER/NAME (every version) or an owner's user ID.
	Functions []string `yaml:"functions,omitempty"`
	// MaxQueue is how many inputs may wait for a worker before new
	// invocations are refused as overloaded; zero means 100000.
	MaxQueue int `yaml:"max_queue,omitempty"`
	// MaxInputBytes and MaxOutputBytes bound an invocation and one result;
	// zero means 10 MiB each.
	MaxInputBytes  int `yaml:"max_input_bytes,omitempty"`
	MaxOutputBytes int `yaml:"max_output_bytes,omitempty"`
	// MaxTimeout caps the walltime a caller may ask for, and is the
	// walltime of tasks that ask for none; zero means no cap (the
	// executors' default of 10 minutes applies to tasks that ask for none).
	MaxTimeout time.Duration `yaml:"max_timeout,omitempty"`
	// TaskRetention is how long finished tasks are kept; zero means 7 days.
	TaskRetention time.Duration `yaml:"task_retention,omitempty"`
	// ClockSkew is the clock difference tolerated on invocations; zero
	// means 30s.
	ClockSkew time.Duration `yaml:"clock_skew,omitempty"`
	// SyncAdmissions syncs every admission to disk before its task runs
	// (concurrent ones share a sync). Without it an admission is written
	// at once and synced within the task store's flush interval (20ms): a
	// killed fxnode loses nothing, and after a crash of the machine the
	// endpoint refuses invocations issued before it restarted, so that
	// none can run twice. It costs a disk sync per admission; on a disk
	// that syncs in 0.2 ms, about a third of the throughput.
	SyncAdmissions bool `yaml:"sync_admissions,omitempty"`
	// RecordTTL is how long a published endpoint record stays valid; zero
	// means 30 minutes. The node republishes at a third of it.
	RecordTTL time.Duration `yaml:"record_ttl,omitempty"`
	// CatalogOwnerQuota is how many catalog records this node keeps for one
	// owner (one per function name, deleted ones included, and one per
	// version's code); records beyond it are refused here, not blamed on
	// the peers that relay them. Zero means catalog.DefaultOwnerQuota
	// (10,000).
	CatalogOwnerQuota int `yaml:"catalog_owner_quota,omitempty"`
	// Containers says how functions registered with a container image
	// run: the runtime (detected when not named), and each container's
	// network, limits, user, mounts and GPUs. The zero value detects the
	// runtime and keeps every safe default (see ContainersConfig).
	Containers ContainersConfig `yaml:"containers"`
	// HTTPListen, HOST:PORT such as 127.0.0.1:8080, serves the web view
	// of the mesh and /metrics (Prometheus) there; "" serves nothing. A
	// HOST that is not loopback (an address of another interface, a name
	// other than localhost, or none, as in ":8080") needs HTTPToken.
	HTTPListen string `yaml:"http_listen,omitempty"`
	// HTTPToken, when set, is asked of every request to HTTPListen, pages
	// and /metrics alike: as "Authorization: Bearer TOKEN", or once as
	// ?token=TOKEN, which sets a cookie. At least 16 characters.
	HTTPToken string `yaml:"http_token,omitempty"`
	// AuditLog is a file that gets one JSON line per task event (admitted,
	// refused, started, finished), never arguments or results; relative
	// to the node's directory. It is rotated past 100 MiB, 5 old files
	// kept. "" keeps no audit log.
	AuditLog string `yaml:"audit_log,omitempty"`
	// LogFormat is text (the default) or json: the format of fxnode's log
	// on standard error.
	LogFormat string `yaml:"log_format,omitempty"`
	// Batch, its keys at the top level (provider, partition, max_blocks,
	// …), runs Python and shell functions in a batch scheduler's blocks;
	// the zero value runs them on the local pool (see BatchConfig).
	Batch BatchConfig `yaml:",inline"`
}

var fieldComments = map[string]string{
	"name":       "A human name for this endpoint.",
	"owner":      "User ID of the owner (fx id show). The owner may always use this endpoint.",
	"listen":     "Multiaddrs to listen on. Loopback by default; use /ip4/0.0.0.0/tcp/4001 to serve a network.",
	"bootstrap":  "Multiaddrs of bootstrap peers, each ending in /p2p/ID.",
	"public":     "true admits every user; otherwise only the owner and the users in allowed.",
	"allowed":    "User IDs admitted besides the owner.",
	"labels":     "Free-form key: value labels, matched exactly by requirements (label:K=V).",
	"datasets":   "Datasets held at this site, so that work can be routed to the data.",
	"hardware":   "Detected by fxnode init; edit to correct or to hide devices.",
	"software":   "Detected by fxnode init: Python interpreters, container runtimes, batch scheduler.",
	"record_ttl": "How long the published endpoint record stays valid (default 30m).",
	"python":     "Interpreter of the warm Python workers, e.g. /opt/venv/bin/python (default: first detected); one the worker uids cannot run gives way to /usr/bin/python3.",
	"workers":    "Number of warm Python workers, all users together (default: CPU count). A worker serves one user.",

	"worker_uids":     "Range of unprivileged uids: each user's workers and shell commands run as a uid of its own (needs fxnode as root; default as root: 200000-265535).",
	"users":           "Map of user IDs to local account names: a mapped user's workers run as that account, in its home (needs root).",
	"require_mapping": "true denies every user that users does not map to a local account.",

	"provider":          "Batch scheduler that runs Python and shell functions in blocks (pilot jobs): local, slurm or pbs.",
	"partition":         "Partition the blocks go to (Slurm); queue: for PBS. Default: the scheduler's.",
	"walltime":          "Walltime of each block, HH:MM:SS.",
	"workers_per_node":  "Tasks one block node runs at once (default 1); cpus_per_block defaults to it.",
	"max_blocks":        "Blocks submitted at most at once (default 1); min_blocks stay, init_blocks start with the endpoint.",
	"max_idletime":      "A block idle this long is cancelled (default 2m).",
	"worker_init":       "Shell lines the block's job runs before the worker (module load, activating an environment).",
	"scheduler_options": "Extra directive lines of the block's job script, one a line.",
	"drain_period":      "A block takes no new task in this last part of its walltime.",

	"catalog_owner_quota": "Catalog records kept for one owner: one per function name and one per version (default 10000).",

	"functions":        "The only functions served here: function IDs, OWNER/NAME (every version) or owner user IDs (default: any).",
	"max_queue":        "Inputs that may wait for a worker before invocations are refused as overloaded (default 100000).",
	"max_input_bytes":  "Largest invocation, in bytes (default and most 10485760, 10 MiB).",
	"max_output_bytes": "Largest result, in bytes (default and most 10485760, 10 MiB).",
	"max_timeout":      "Cap on the walltime a caller may ask for, and the walltime of tasks that ask none, e.g. 1h (default: no cap).",
	"task_retention":   "How long finished tasks and their results are kept for fx status and fx result (default 168h, 7 days).",
	"clock_skew":       "Clock difference tolerated on invocations (default 30s).",
	"sync_admissions":  "true syncs each admission to disk before its task runs: safer after a machine crash, a third of the throughput.",

	"containers": "Functions with a container image: runtime (docker, podman, none; default: detect), network (none|bridge, default none),\n" +
		"cpus (default 1), memory (default 512m), user (uid:gid, default 65534:65534; image: the image's), mounts (the only host paths\n" +
		"containers see: - {host: /data, container: /data, writable: false}), per_image (warm containers per image and user, default 2),\n" +
		"idle_timeout (default 5m), gpus (for functions requiring GPUs: all, device=0,1, none; default all when hardware lists GPUs),\n" +
		"pull (pull an absent image before its first container; default false: such a function is refused), pull_timeout (default 5m).",

	"http_listen": "HOST:PORT of the web view and /metrics, e.g. 127.0.0.1:8080 (default: off). Not loopback: http_token is required.",
	"http_token":  "Token every request to http_listen must carry (Authorization: Bearer TOKEN, or ?token=TOKEN once); 16 characters or more.",
	"audit_log":   "File of JSON lines, one per task event (admitted, refused, started, finished), never arguments or results; rotated at 100 MiB, 5 kept.",
	"log_format":  "Format of fxnode's log on standard error: text (default) or json.",
}

// optionalSettings are written, commented out, at the end of a config.yaml
// that does not set them, so that an operator finds them.
var optionalSettings = []struct{ key, example string }{
	{"http_listen", "127.0.0.1:8080"},
	{"http_token", ""}, // a fresh random token, see SaveConfig
	{"audit_log", "audit.log"},
	{"log_format", "text"},
}

func (c *Config) validate() error {
	var errs []error
	for _, a := range c.Listen {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			errs = append(errs, fmt.Errorf("listen %q: %w", a, err))
		}
	}
	for _, a := range c.Bootstrap {
		if _, err := p2p.ParseAddrInfo(a); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap %q: %w", a, err))
		}
	}
	if c.Owner != "" {
		if _, err := identity.ParseID(c.Owner); err != nil {
			errs = append(errs, fmt.Errorf("owner: %w", err))
		}
	}
	for _, a := range c.Allowed {
		if _, err := identity.ParseID(a); err != nil {
			errs = append(errs, fmt.Errorf("allowed: %w", err))
		}
	}
	if c.Workers < 0 || c.MaxQueue < 0 || c.MaxInputBytes < 0 || c.MaxOutputBytes < 0 || c.TaskRetention < 0 || c.ClockSkew < 0 || c.MaxTimeout < 0 {
		errs = append(errs, errors.New("workers, max_queue, limits, max_timeout, task_retention and clock_skew must not be negative"))
	}
	if c.MaxInputBytes > maxPayload || c.MaxOutputBytes > maxPayload {
		errs = append(errs, fmt.Errorf("max_input_bytes and max_output_bytes may be at most %d (10 MiB)", maxPayload))
	}
	if c.RecordTTL < 0 {
		errs = append(errs, errors.New("record_ttl is negative"))
	}
	if c.CatalogOwnerQuota < 0 {
		errs = append(errs, errors.New("catalog_owner_quota is negative"))
	}
	if c.WorkerUIDs != "" {
		if _, err := tenant.ParseUIDRange(c.WorkerUIDs); err != nil {
			errs = append(errs, fmt.Errorf("worker_uids: %w", err))
		}
	}
	for id, account := range c.Users {
		if _, err := identity.ParseID(id); err != nil {
			errs = append(errs, fmt.Errorf("users: %w", err))
		}
		if account == "" || strings.ContainsAny(account, ":/\n") {
			errs = append(errs, fmt.Errorf("users: %s maps to %q, not an account name", id, account))
		}
	}
	if c.RequireMapping && len(c.Users) == 0 {
		errs = append(errs, errors.New("require_mapping is true but users maps no one: every user would be denied"))
	}
	if err := c.Containers.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateHTTP(); err != nil {
		errs = append(errs, err)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", c.LogFormat))
	}
	if err := c.Batch.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	return nil
}

func (c *Config) listen() []string {
	if len(c.Listen) == 0 {
		return DefaultListen
	}
	return c.Listen
}

func (c *Config) recordTTL() time.Duration {
	if c.RecordTTL <= 0 {
		return 30 * time.Minute
	}
	return c.RecordTTL
}

// maxPayload bounds max_input_bytes and max_output_bytes: a result, its
// output and its envelope must fit one frame of the wire (wire.MaxFrame).
const maxPayload = 10 << 20

func (c *Config) maxInput() int  { return orDefault(c.MaxInputBytes, maxPayload) }
func (c *Config) maxOutput() int { return orDefault(c.MaxOutputBytes, maxPayload) }

// capTimeout applies max_timeout to a caller's walltime (0: none asked).
func (c *Config) capTimeout(t time.Duration) time.Duration {
	if c.MaxTimeout > 0 && (t <= 0 || t > c.MaxTimeout) {
		return c.MaxTimeout
	}
	return t
}
func (c *Config) maxQueue() int { return orDefault(c.MaxQueue, 100000) }
func (c *Config) pythonPath() string {
	if c.Python != "" {
		return c.Python
	}
	if len(c.Software.PythonPaths) > 0 {
		return c.Software.PythonPaths[0]
	}
	return ""
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// LoadConfig reads DIR/config.yaml; a missing file gives the zero Config.
func LoadConfig(dir string) (*Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return &c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("node: config %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// SaveConfig writes c to DIR/config.yaml with a comment above each field.
func SaveConfig(dir string, c *Config) error {
	if err := c.validate(); err != nil {
		return err
	}
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	set := map[string]bool{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		set[doc.Content[i].Value] = true
		if cm, ok := fieldComments[doc.Content[i].Value]; ok {
			doc.Content[i].HeadComment = cm
		}
	}
	var unset []string
	for _, o := range optionalSettings {
		if !set[o.key] {
			example := o.example
			if o.key == "http_token" {
				example = randomToken()
			}
			unset = append(unset, "# "+fieldComments[o.key], "# "+o.key+": "+example)
		}
	}
	if len(unset) > 0 {
		doc.FootComment = strings.Join(unset, "\n")
	}
	if c.Batch.Provider == "" && len(doc.Content) > 0 {
		doc.Content[0].FootComment = batchComments
	}
	var buf bytes.Buffer
	buf.WriteString("# fxnode configuration. Edit freely; fxnode run reads it at start.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	buf.WriteString(defaultSettings(&doc))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, ConfigFile), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	return nil
}

// defaultSettings lists, commented out, each setting of Config that doc
// (an encoded Config) leaves out because it has its default value, with
// its comment: config.yaml then shows every setting there is.
func defaultSettings(doc *yaml.Node) string {
	present := map[string]bool{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		present[doc.Content[i].Value] = true
	}
	var b strings.Builder
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" || present[key] {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n# Settings at their defaults: uncomment one and give it a value to change it.\n")
		}
		fmt.Fprintf(&b, "# %s:  # %s\n", key, fieldComments[key])
	}
	return b.String()
}

// writeMultiaddrs writes addrs one per line to DIR/multiaddrs.
func writeMultiaddrs(dir string, addrs []string) error {
	return atomicfile.Write(filepath.Join(dir, MultiaddrsFile), []byte(strings.Join(addrs, "\n")+"\n"), 0o644)
}

// randomToken is a fresh token of 32 hex digits, for the commented-out
// http_token that SaveConfig writes.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
