package schedcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// DefaultTimeout bounds one command when neither Runner.Timeout nor the
// context sets an earlier deadline.
const DefaultTimeout = 30 * time.Second

// Output limits: a scheduler's listing of a large cluster is megabytes;
// more than this is not a listing we can use. Variables for the tests.
var (
	maxStdout = 64 << 20
	maxStderr = 64 << 10
)

// Runner runs commands. The zero value is ready: commands found on PATH,
// DefaultTimeout each.
type Runner struct {
	// Op prefixes errors ("slurm", "pbs").
	Op string
	// Bin, when not "", is the directory of the scheduler's commands;
	// "" looks them up on PATH.
	Bin string
	// Timeout bounds each command; zero is DefaultTimeout.
	Timeout time.Duration
}

// ErrMissing is the error, wrapped, of a command that is not installed.
var ErrMissing = errors.New("not installed here")

// Account is a local account a command runs as.
type Account struct {
	Name     string
	UID, GID uint32
	Groups   []uint32
	Home     string
}

// LookupAccount finds the local account name. Running commands as another
// account needs this process to run as root.
func LookupAccount(op, name string) (*Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fault.E(fault.Invalid, op, "account %q: %v", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fault.E(fault.Invalid, op, "account %q: uid %q, gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fault.E(fault.Invalid, op, "account %q is root: jobs are never submitted as root for a user", name)
	}
	a := &Account{Name: name, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fault.E(fault.Invalid, op, "groups of account %q: %v", name, err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			a.Groups = append(a.Groups, uint32(n))
		}
	}
	if uint32(uid) != uint32(os.Geteuid()) && os.Geteuid() != 0 {
		return nil, fault.E(fault.Denied, op, "submitting as account %q needs root; this process runs as uid %d", name, os.Geteuid())
	}
	return a, nil
}

// Cmd is one command to run.
type Cmd struct {
	Name string   // the program: "sbatch"
	Args []string // its arguments
	Dir  string   // its working directory; "" for this process's
	As   *Account // the account it runs as; nil for this process's
}

// Result is what a command printed; Err is set when it did not run, ran
// out of time, or exited non-zero, and says so with its standard error.
type Result struct {
	Stdout []byte
	Stderr string // trimmed
	Exit   int    // its exit status; -1 when it did not run or was killed
	Err    error
}

// Run runs c and waits for it, within the runner's timeout.
func (r *Runner) Run(ctx context.Context, c Cmd) Result {
	op := r.Op
	if op == "" {
		op = "scheduler"
	}
	op += ": " + c.Name
	path := c.Name
	if r.Bin != "" {
		path = filepath.Join(r.Bin, c.Name)
	}
	if _, err := osexec.LookPath(path); err != nil {
		return Result{Exit: -1, Err: fault.E(fault.Unavailable, op, "%w (%v)", ErrMissing, err)}
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, path, c.Args...)
	cmd.Dir = c.Dir
	cmd.WaitDelay = time.Second
	cmd.Stdin = nil
	var stdout, stderr capped
	stdout.max, stderr.max = maxStdout, maxStderr
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if a := c.As; a != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: a.Groups}}
		cmd.Env = accountEnv(os.Environ(), a)
	}
	err := cmd.Run()
	res := Result{Stdout: stdout.buf.Bytes(), Stderr: strings.TrimSpace(stderr.buf.String()), Exit: cmd.ProcessState.ExitCode()}
	if stdout.over {
		res.Err = fault.E(fault.TooLarge, op, "printed more than %d bytes", maxStdout)
		return res
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.Exit = -1
		res.Err = fault.E(fault.Timeout, op, "no answer within %v%s", timeout, said(res.Stderr))
	default:
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			res.Err = fault.E(kindOf(res.Stderr), op, "%v%s", err, said(res.Stderr))
		} else {
			res.Exit = -1
			res.Err = fault.E(fault.Unavailable, op, "%v%s", err, said(res.Stderr))
		}
	}
	return res
}

// said appends what a command printed on its standard error.
func said(stderr string) string {
	if stderr == "" {
		return ""
	}
	return ": " + stderr
}

// kindOf classifies a failed command by what it printed: a controller or
// server it cannot reach is unavailable; the rest (a refused job, an
// unknown partition or account) is invalid.
func kindOf(stderr string) fault.Kind {
	s := strings.ToLower(stderr)
	for _, w := range []string{"unable to contact", "connection refused", "socket timed out", "cannot connect", "communication failure", "timed out", "unavailable"} {
		if strings.Contains(s, w) {
			return fault.Unavailable
		}
	}
	return fault.Invalid
}

// accountEnv is env with HOME, USER and LOGNAME of a.
func accountEnv(env []string, a *Account) []string {
	out := make([]string, 0, len(env)+3)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "USER", "LOGNAME":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HOME="+a.Home, "USER="+a.Name, "LOGNAME="+a.Name)
}

// capped keeps at most max bytes of what is written to it, and notes more.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// GiveDir makes dir, a block's own directory, and the files directly in it
// (its credential) owned by a, so that a job running as a can write its
// output there and read what the endpoint left for it. Nothing is
// followed through a symbolic link; subdirectories are left as they are.
func GiveDir(op, dir string, a *Account) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fault.E(fault.Invalid, op, "job directory: %v", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := os.Lchown(filepath.Join(dir, e.Name()), int(a.UID), int(a.GID)); err != nil {
			return fmt.Errorf("%s: job directory: %w", op, err)
		}
	}
	if err := os.Lchown(dir, int(a.UID), int(a.GID)); err != nil {
		return fmt.Errorf("%s: job directory: %w", op, err)
	}
	return nil
}

// CheckWord refuses, as invalid, a value written into a job script's
// directive that could end the line or the word: whitespace, quotes,
// control characters.
func CheckWord(op, what, v string) error {
	for _, r := range v {
		if r <= ' ' || r == 0x7f || r == '"' || r == '\'' || r == '\\' || r == '`' || r == '$' {
			return fault.E(fault.Invalid, op, "%s %q: has %q, which a job script's directive cannot hold", what, v, r)
		}
	}
	return nil
}

// CheckLine refuses, as invalid, a line of a job script that holds a line
// break or another control character.
func CheckLine(op, what, v string) error {
	for _, r := range v {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return fault.E(fault.Invalid, op, "%s %q: has a control character %q", what, v, r)
		}
	}
	return nil
}
