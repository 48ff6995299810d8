package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's shell blocks, run as a new user would run them.
//
// TestReadme copies the repository's files (those git tracks, as a fresh
// clone has them, with the working tree's changes) into a temporary
// directory and runs every ```sh, ```bash, ```shell and ```console block
// of README.md there, in order, in one bash: with HOME a fresh empty directory (no FX_HOME, no
// FX_BOOTSTRAP), a plain PATH with go on it, and nothing installed. So
// `make build` builds bin/, and fx is on PATH once the README says to put it
// there. A ```python block is written to the file that the line before it
// names ("save as `sq.py`:"). In a ```console block, lines starting with
// "$ " are commands and the lines after one are what it must print.
//
// A command the README shows as one that keeps running (fxnode dev,
// bootstrap and run, fx serve; with or without its "&", since a reader
// gives it a terminal of its own) is started in the background, and the
// next command waits for the event that says it is ready: fxnode dev's
// "export FX_BOOTSTRAP=" line, a node's DIR/multiaddrs, fx serve's
// "serving" line. Everything else must exit 0; the first command that does
// not fails the test, naming its README line.
//
// The run has namespaces of its own (it needs root): a PID namespace, so
// that every process it started ends with it; a network namespace with
// loopback alone, so that the bootstrap's fixed port 4001 is its own; a
// mount namespace with an empty tmpfs on /srv, where the README puts its
// nodes' directories.
//
// A block that cannot run here is marked in README.md, right before it, by
// an HTML comment a reader does not see:
//
//	<!-- readme-test: skip (REASON) -->            the block is not run
//	<!-- readme-test: skip "PREFIX" (REASON) -->   its commands starting with PREFIX are not run
//
// Anything else after "readme-test:" is an error, as is a directive not
// followed by a block, or one whose PREFIX matches no command.

// readmeCmd is one command of the README, or a file it says to save.
type readmeCmd struct {
	line int    // README line where it starts
	text string // as written, continuation lines included
	// background: a long-running command, without its "&" and comment;
	// ready is the bash condition that says it is ready.
	background bool
	ready      string
	// save: write text to this file instead of running it.
	save string
	// want is what a console block shows the command printing; checked
	// when wantSet.
	want    string
	wantSet bool
}

// readmeSkip is a block, or commands of one, the README marks as not run.
type readmeSkip struct {
	line   int    // the block's first line
	prefix string // "" for the whole block
	reason string
}

var (
	readmeFence     = regexp.MustCompile("^```\\s*([A-Za-z0-9_+-]*)\\s*$")
	readmeDirective = regexp.MustCompile(`^<!--\s*readme-test:(.*?)-->\s*$`)
	readmeSkipRe    = regexp.MustCompile(`^\s*skip\s*(?:"([^"]+)"\s*)?\(([^()]*[^()\s][^()]*)\)\s*$`)
	readmeSaveAs    = regexp.MustCompile("(?i)save (?:it )?as `([^`/]+)`:\\s*$")
	readmeDir       = regexp.MustCompile(`--dir[= ]+("[^"]*"|'[^']*'|\S+)`)
	// readmeRecursive are the commands that would run TestReadme again.
	readmeRecursive = regexp.MustCompile(`^(make\s+test|go\s+test)(\s|$)`)
)

// readmeLongRunning are the commands that keep running, and the bash
// condition that says each is ready, made from the command's text;
// readme_ready evaluates it with $readme_log the command's output.
var readmeLongRunning = []struct {
	re    *regexp.Regexp
	ready func(cmd string) (string, error)
}{
	{regexp.MustCompile(`^(\S*/)?fxnode\s+dev\b`), func(string) (string, error) {
		return `grep -q '^export FX_BOOTSTRAP=' "$readme_log"`, nil
	}},
	{regexp.MustCompile(`^(\S*/)?fxnode\s+(bootstrap|run)\b`), func(cmd string) (string, error) {
		m := readmeDir.FindStringSubmatch(cmd)
		if m == nil {
			return "", errors.New("names no --dir, whose multiaddrs would say it is ready")
		}
		return fmt.Sprintf(`grep -q 'listening on:' "$readme_log" && test -s %s/multiaddrs`, m[1]), nil
	}},
	{regexp.MustCompile(`^(\S*/)?fx\s+serve\b`), func(string) (string, error) {
		return `grep -qE 'serving local API|another fx serve answers' "$readme_log"`, nil
	}},
}

// parseReadme reads the runnable blocks of a README in order. It is pure.
func parseReadme(md string) (cmds []readmeCmd, skipped []readmeSkip, err error) {
	lines := strings.Split(md, "\n")
	var pending []readmeSkip // directives waiting for their block
	pendingLine := 0
	lastProse := "" // the last non-blank line outside a block
	for i := 0; i < len(lines); i++ {
		ln := i + 1
		line := lines[i]
		if m := readmeDirective.FindStringSubmatch(line); m != nil {
			s := readmeSkipRe.FindStringSubmatch(m[1])
			if s == nil {
				return nil, nil, fmt.Errorf("README.md:%d: %q: a readme-test directive is skip (REASON) or skip \"PREFIX\" (REASON)", ln, strings.TrimSpace(m[1]))
			}
			pending = append(pending, readmeSkip{prefix: s[1], reason: strings.TrimSpace(s[2])})
			pendingLine = ln
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "<!--") && strings.Contains(line, "readme-test") {
			return nil, nil, fmt.Errorf("README.md:%d: a readme-test directive must be one line of its own: <!-- readme-test: skip (REASON) -->", ln)
		}
		m := readmeFence.FindStringSubmatch(line)
		if m == nil {
			if strings.TrimSpace(line) == "" {
				continue
			}
			if len(pending) > 0 {
				return nil, nil, fmt.Errorf("README.md:%d: the readme-test directive is not right before a code block", pendingLine)
			}
			lastProse = line
			continue
		}
		// A block: find its end.
		lang, start := m[1], ln
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		if i >= len(lines) {
			return nil, nil, fmt.Errorf("README.md:%d: the code block is never closed", start)
		}
		dirs := pending
		pending = nil
		var blockCmds []readmeCmd
		switch lang {
		case "sh", "bash", "shell":
			blockCmds, err = readmeShell(body, start+1, false)
		case "console":
			blockCmds, err = readmeShell(body, start+1, true)
		case "python":
			if len(dirs) == 0 || dirs[0].prefix != "" {
				s := readmeSaveAs.FindStringSubmatch(lastProse)
				if s == nil {
					return nil, nil, fmt.Errorf("README.md:%d: a python block must follow a line ending \"save as `FILE`:\", or be marked <!-- readme-test: skip (REASON) -->", start)
				}
				blockCmds = []readmeCmd{{line: start + 1, text: strings.Join(body, "\n"), save: s[1]}}
			}
		default:
			if len(dirs) > 0 {
				return nil, nil, fmt.Errorf("README.md:%d: a readme-test directive before a %q block, which is never run", start, lang)
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, d := range dirs {
			d.line = start
			if d.prefix == "" {
				blockCmds = nil
				skipped = append(skipped, d)
				continue
			}
			kept, n := blockCmds[:0], 0
			for _, c := range blockCmds {
				if strings.HasPrefix(c.text, d.prefix) {
					n++
					continue
				}
				kept = append(kept, c)
			}
			if n == 0 {
				return nil, nil, fmt.Errorf("README.md:%d: skip %q matches no command of the block", start, d.prefix)
			}
			blockCmds = kept
			skipped = append(skipped, d)
		}
		for _, c := range blockCmds {
			if m := readmeRecursive.FindStringSubmatch(c.text); m != nil {
				return nil, nil, fmt.Errorf("README.md:%d: %q would run the README's test again, in itself: mark it <!-- readme-test: skip %q (REASON) -->", c.line, c.text, m[1])
			}
		}
		cmds = append(cmds, blockCmds...)
	}
	if len(pending) > 0 {
		return nil, nil, fmt.Errorf("README.md:%d: the readme-test directive is not right before a code block", pendingLine)
	}
	return cmds, skipped, nil
}

// readmeShell splits a shell (or console) block, whose first line is
// README line first, into its commands.
func readmeShell(body []string, first int, console bool) ([]readmeCmd, error) {
	var cmds []readmeCmd
	for j := 0; j < len(body); j++ {
		line := body[j]
		if console {
			if !strings.HasPrefix(line, "$ ") {
				if len(cmds) == 0 && strings.TrimSpace(line) != "" {
					return nil, fmt.Errorf("README.md:%d: a console block's first line must be a command (\"$ …\")", first+j)
				}
				continue
			}
			line = strings.TrimPrefix(line, "$ ")
		}
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		c := readmeCmd{line: first + j, text: line}
		for strings.HasSuffix(c.text, `\`) && j+1 < len(body) {
			j++
			c.text += "\n" + body[j]
		}
		if strings.Contains(c.text, "<<") && !strings.Contains(c.text, "<<<") {
			return nil, fmt.Errorf("README.md:%d: here-documents are not supported by the README's test", c.line)
		}
		if console {
			var want []string
			for j+1 < len(body) && !strings.HasPrefix(body[j+1], "$ ") {
				j++
				want = append(want, body[j])
			}
			c.want = strings.TrimRight(strings.Join(want, "\n"), "\n ")
			c.wantSet = c.want != ""
		}
		bare, bg := readmeStripComment(c.text)
		for _, lr := range readmeLongRunning {
			if !lr.re.MatchString(bare) {
				continue
			}
			if strings.Contains(c.text, "\n") {
				return nil, fmt.Errorf("README.md:%d: a command that keeps running must be one line", c.line)
			}
			if c.wantSet {
				return nil, fmt.Errorf("README.md:%d: a command that keeps running cannot show what it prints", c.line)
			}
			ready, err := lr.ready(bare)
			if err != nil {
				return nil, fmt.Errorf("README.md:%d: %s: %v", c.line, bare, err)
			}
			c.background, c.ready, c.text = true, ready, bare
			break
		}
		if bg && !c.background {
			return nil, fmt.Errorf("README.md:%d: %q runs in the background, and the README's test knows no event that says it is ready (readmeLongRunning)", c.line, bare)
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// readmeStripComment is a one-line command without its comment and its
// trailing "&", and whether it had one.
func readmeStripComment(s string) (string, bool) {
	var single, double, esc bool
	for i, r := range s {
		if esc {
			esc = false
			continue
		}
		switch {
		case r == '\\' && !single:
			esc = true
		case r == '\'' && !double:
			single = !single
		case r == '"' && !single:
			double = !double
		case r == '#' && !single && !double && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			s = s[:i]
		}
		if len(s) == i {
			break
		}
	}
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "&") && !strings.HasSuffix(s, "&&") {
		return strings.TrimSpace(strings.TrimSuffix(s, "&")), true
	}
	return s, false
}

// shQuote quotes s for bash as one word.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readmePrelude sets up the namespaces (as root, in them), then defines
// what the generated commands call. $1 is the directory for the logs.
const readmePrelude = `set -eEo pipefail
readme_rt=$1
# Namespaces of its own: private mounts, a fresh /proc for this PID
# namespace, an empty /srv, and loopback up.
# Exit 97 says they could not be made: the test skips.
readme_setup() {
  mount --make-rprivate / &&
  mkdir -p /srv &&
  mount -t tmpfs -o mode=0755 readme-srv /srv || return
  mount -t proc proc /proc 2>/dev/null || echo "(the host's /proc stays: a new one cannot be mounted here)"
  if command -v ip >/dev/null; then
    ip link set lo up
  else
    /usr/bin/python3 -c 'import fcntl,socket,struct; s=socket.socket(); f=struct.unpack("16sh",fcntl.ioctl(s,0x8913,struct.pack("16sh",b"lo",0))[:18])[1]; fcntl.ioctl(s,0x8914,struct.pack("16sh",b"lo",f|1))'
  fi
}
readme_setup || { echo "readme-test: cannot set up the namespaces" >&2; exit 97; }
printf 'python3 is %s; go is %s\n' "$(command -v python3)" "$(command -v go)"
readme_n=0 readme_line=0 readme_text=
readme_at() { readme_line=$1 readme_text=$2 readme_n=$((readme_n+1)); printf '\nREADME.md:%s (at %ss) $ %s\n' "$1" "$SECONDS" "$2"; }
trap 'readme_rc=$?; if [ "$BASH_SUBSHELL" = 0 ]; then printf "readme-test: FAILED at README.md:%s (exit %s): %s\n" "$readme_line" "$readme_rc" "$readme_text" >&2; fi' ERR
trap 'readme_rc=$?; if [ $readme_rc != 0 ]; then for f in "$readme_rt"/bg-*.log; do [ -e "$f" ] && { f2=${f##*/bg-}; echo "--- the output of README.md:${f2%.log} (last 40 lines)"; tail -n 40 "$f"; }; done; fi' EXIT
# readme_ready LINE PID CONDITION: wait for CONDITION, while PID lives.
readme_ready() {
  local readme_log=$readme_rt/bg-$1.log deadline=$((SECONDS+120))
  until eval "$3"; do
    if ! kill -0 "$2" 2>/dev/null; then
      printf 'readme-test: FAILED at README.md:%s: it exited before it was ready: %s\n' "$1" "$readme_text" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      printf 'readme-test: FAILED at README.md:%s: not ready in 120s: %s\n' "$1" "$readme_text" >&2
      exit 1
    fi
    sleep 0.05
  done
  printf '(running in the background, ready; its output in %s)\n' "$readme_log"
}
# readme_expect LINE WANT: the command printed WANT.
readme_expect() {
  local got
  got=$(cat "$readme_rt/out")
  printf '%s\n' "$got"
  if [ "$got" != "$2" ]; then
    printf 'readme-test: FAILED at README.md:%s: it printed\n%s\nwhere the README shows\n%s\n' "$1" "$got" "$2" >&2
    exit 1
  fi
}
`

// readmeScript is the bash that runs cmds after readmePrelude.
func readmeScript(cmds []readmeCmd) string {
	var b strings.Builder
	b.WriteString(readmePrelude)
	for _, c := range cmds {
		switch {
		case c.save != "":
			fmt.Fprintf(&b, "readme_at %d %s\n", c.line, shQuote("(save as "+c.save+")"))
			fmt.Fprintf(&b, "printf '%%s\\n' %s > %s\n", shQuote(c.text), shQuote(c.save))
		case c.background:
			fmt.Fprintf(&b, "readme_at %d %s\n", c.line, shQuote(c.text+" &"))
			fmt.Fprintf(&b, "{ %s\n} >\"$readme_rt/bg-%d.log\" 2>&1 &\n", c.text, c.line)
			fmt.Fprintf(&b, "readme_ready %d $! %s\n", c.line, shQuote(c.ready))
		case c.wantSet:
			fmt.Fprintf(&b, "readme_at %d %s\n", c.line, shQuote(c.text))
			fmt.Fprintf(&b, "{ %s\n} >\"$readme_rt/out\"\n", c.text)
			fmt.Fprintf(&b, "readme_expect %d %s\n", c.line, shQuote(c.want))
		default:
			fmt.Fprintf(&b, "readme_at %d %s\n", c.line, shQuote(c.text))
			fmt.Fprintf(&b, "%s\n", c.text)
		}
	}
	b.WriteString("printf '\\nreadme-test: ran %s commands\\n' \"$readme_n\"\n")
	return b.String()
}

// TestReadme runs README.md's shell blocks in order, as a new user does
// from a fresh clone (see the comment at the top of this file).
func TestReadme(t *testing.T) {
	md, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds, skipped, err := parseReadme(string(md))
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		t.Skip("end-to-end: builds fxnode and fx and runs the README's commands; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("the README's commands run in namespaces of their own (a private loopback for the bootstrap's port 4001, /srv), which needs root")
	}
	for _, s := range skipped {
		what := "the block"
		if s.prefix != "" {
			what = fmt.Sprintf("%q in the block", s.prefix)
		}
		t.Logf("README.md:%d: %s not run (%s)", s.line, what, s.reason)
	}
	root := t.TempDir()
	clone, home, rt := filepath.Join(root, "fxmesh"), filepath.Join(root, "home"), filepath.Join(root, "rt")
	for _, d := range []string{home, rt} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	copyRepo(t, "..", clone)
	script := filepath.Join(rt, "readme.sh")
	if err := os.WriteFile(script, []byte(readmeScript(cmds)), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := readmeEnv(home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/bash", script, rt)
	cmd.Dir, cmd.Env = clone, env
	// The PID namespace's first process is bash: when it ends, every
	// process the README started ends with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS}
	var out bytes.Buffer
	cmd.Stdout = &lockedWriter{w: &out}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot make the namespaces the README's commands run in: %v", err)
		}
		t.Fatal(err)
	}
	err = cmd.Wait()
	took := time.Since(start).Round(100 * time.Millisecond)
	text := cmd.Stdout.(*lockedWriter).String()
	if exitCode(err) == 97 {
		t.Skipf("cannot make the namespaces the README's commands run in:\n%s", text)
	}
	if err != nil {
		t.Fatalf("the README's commands, run in order in %s, failed after %s: %v\n%s", clone, took, err, text)
	}
	if want := fmt.Sprintf("readme-test: ran %d commands", len(cmds)); !strings.Contains(text, want) {
		t.Fatalf("the README's script ended without %q:\n%s", want, text)
	}
	t.Logf("the README's %d commands ran in %s", len(cmds), took)
	if testing.Verbose() {
		t.Log(text)
	}
}

// readmeEnv is a new user's environment: HOME, a plain PATH with go on it,
// and Go's caches where they are (so make build does not start cold).
func readmeEnv(home string) ([]string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(goBin, "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		return nil, fmt.Errorf("go env: %w", err)
	}
	vals := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(vals) != 3 {
		return nil, fmt.Errorf("go env printed %q", out)
	}
	env := []string{
		"HOME=" + home,
		"PATH=" + filepath.Dir(goBin) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"TERM=dumb",
		"GOCACHE=" + vals[0],
		"GOMODCACHE=" + vals[1],
		"GOPATH=" + vals[2],
		"GOTOOLCHAIN=local",
		"GOPROXY=off", // nothing to download: the module cache has it all
	}
	if v, ok := os.LookupEnv("GOFLAGS"); ok {
		env = append(env, "GOFLAGS="+v)
	}
	return env, nil
}

// copyRepo copies the files of the repository at src that a clone has
// (those git tracks, as they are in the working tree) to dst.
func copyRepo(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		from, to := filepath.Join(src, name), filepath.Join(dst, name)
		fi, err := os.Lstat(from)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, to); err != nil {
				t.Fatal(err)
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestReadmeParse: how the README's blocks become commands, and the
// mistakes in its directives that fail the test rather than skip quietly.
// It runs with -short too, over README.md itself as well.
func TestReadmeParse(t *testing.T) {
	const fence = "```"
	tests := []struct {
		name string
		md   string
		want []readmeCmd // nil when err
		skip int
		err  string
	}{
		{"commands, comments and continuations",
			"text\n" + fence + "sh\n# a comment\nmake build   # builds\nfx run x \\\n  --args '[1]'\n\n" + fence + "\n",
			[]readmeCmd{{line: 4, text: "make build   # builds"}, {line: 5, text: "fx run x \\\n  --args '[1]'"}}, 0, ""},
		{"blocks of other languages are not run",
			fence + "yaml\nworkers: 2\n" + fence + "\n" + fence + "\nRANK NAME\n" + fence + "\n", nil, 0, ""},
		{"long-running commands run in the background until ready",
			fence + "sh\nbin/fxnode dev &     # the dev mesh\nfxnode run --dir /srv/ep\nfx serve --idle-exit 1m &\n" + fence + "\n",
			[]readmeCmd{
				{line: 2, text: "bin/fxnode dev", background: true, ready: `grep -q '^export FX_BOOTSTRAP=' "$readme_log"`},
				{line: 3, text: "fxnode run --dir /srv/ep", background: true, ready: `grep -q 'listening on:' "$readme_log" && test -s /srv/ep/multiaddrs`},
				{line: 4, text: "fx serve --idle-exit 1m", background: true, ready: `grep -qE 'serving local API|another fx serve answers' "$readme_log"`},
			}, 0, ""},
		{"a console block's output is checked",
			fence + "console\n$ export A=1\n$ echo $A\n1\n" + fence + "\n",
			[]readmeCmd{{line: 2, text: "export A=1"}, {line: 3, text: "echo $A", want: "1", wantSet: true}}, 0, ""},
		{"a python block is saved as the line before says",
			"Save as `sq.py`:\n\n" + fence + "python\nprint(4)\n" + fence + "\n",
			[]readmeCmd{{line: 4, text: "print(4)", save: "sq.py"}}, 0, ""},
		{"a skipped block",
			"<!-- readme-test: skip (needs a Slurm cluster) -->\n" + fence + "sh\nsbatch x\n" + fence + "\n", nil, 1, ""},
		{"skipped commands of a block",
			"<!-- readme-test: skip \"make test\" (runs this test) -->\n\n" + fence + "sh\nmake demo\nmake test\n" + fence + "\n",
			[]readmeCmd{{line: 4, text: "make demo"}}, 1, ""},
		{"a skip without a reason", "<!-- readme-test: skip -->\n" + fence + "sh\nx\n" + fence + "\n", nil, 0, "skip (REASON)"},
		{"an unknown directive", "<!-- readme-test: run twice -->\n" + fence + "sh\nx\n" + fence + "\n", nil, 0, `"run twice"`},
		{"a directive before prose", "<!-- readme-test: skip (why) -->\nsome text\n" + fence + "sh\nx\n" + fence + "\n", nil, 0, "README.md:1: the readme-test directive is not right before a code block"},
		{"a directive at the end", "text\n<!-- readme-test: skip (why) -->\n", nil, 0, "README.md:2: the readme-test directive is not right before"},
		{"a prefix that matches nothing", "<!-- readme-test: skip \"make tset\" (why) -->\n" + fence + "sh\nmake test\n" + fence + "\n", nil, 0, `skip "make tset" matches no command`},
		{"a python block with no file", "Run this:\n" + fence + "python\nprint(4)\n" + fence + "\n", nil, 0, "save as `FILE`"},
		{"a background command with no ready event", fence + "sh\nsleep 100 &\n" + fence + "\n", nil, 0, `"sleep 100" runs in the background`},
		{"a node with no --dir", fence + "sh\nfxnode run &\n" + fence + "\n", nil, 0, "names no --dir"},
		{"a directive over two lines", "<!-- readme-test: skip\n(why) -->\n" + fence + "sh\nx\n" + fence + "\n", nil, 0, "README.md:1: a readme-test directive must be one line"},
		{"a directive quoted in prose is none", "mark it `<!-- readme-test: skip (why) -->`.\n" + fence + "sh\nx\n" + fence + "\n",
			[]readmeCmd{{line: 3, text: "x"}}, 0, ""},
		{"make test, which would run this test", fence + "sh\nmake demo\nmake test    # every test\n" + fence + "\n", nil, 0, `README.md:3: "make test    # every test" would run the README's test again`},
		{"a block never closed", fence + "sh\nmake build\n", nil, 0, "README.md:1: the code block is never closed"},
		{"a here-document", fence + "sh\ncat <<EOF\nx\nEOF\n" + fence + "\n", nil, 0, "here-documents"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmds, skipped, err := parseReadme(tc.md)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(cmds) != fmt.Sprint(tc.want) {
				t.Errorf("commands\n%+v\nwant\n%+v", cmds, tc.want)
			}
			if len(skipped) != tc.skip {
				t.Errorf("%d skips %+v, want %d", len(skipped), skipped, tc.skip)
			}
		})
	}
	t.Run("README.md", func(t *testing.T) {
		md, err := os.ReadFile("../README.md")
		if err != nil {
			t.Fatal(err)
		}
		cmds, _, err := parseReadme(string(md))
		if err != nil {
			t.Fatal(err)
		}
		var saved, bg int
		for _, c := range cmds {
			if c.save != "" {
				saved++
			}
			if c.background {
				bg++
			}
		}
		if len(cmds) < 20 || saved != 1 || bg < 4 {
			t.Errorf("README.md gives %d commands, %d of them files to save and %d in the background: fewer than it has", len(cmds), saved, bg)
		}
	})
}
