package hostinfo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
)

// pythonProbe prints an interpreter's real executable and its version; it
// runs under Python 2 as well as 3.
const pythonProbe = "import sys;print(sys.executable);print('%d.%d.%d'%sys.version_info[:3])"

// pythonNames lists the names Detect looks for on PATH, in order.
func pythonNames() []string {
	names := []string{"python3", "python"}
	for minor := 8; minor <= 14; minor++ {
		names = append(names, fmt.Sprintf("python3.%d", minor))
	}
	return names
}

// pythons returns the versions and real paths of the interpreters on PATH.
func (d detector) pythons(ctx context.Context) (versions, paths []string) {
	versions, paths = []string{}, []string{}
	seen := map[string]bool{}
	for _, name := range pythonNames() {
		p := d.lookPath(name)
		if p == "" {
			continue
		}
		// A shim is a script that picks an interpreter: only running it
		// says which. Anything else is the interpreter, maybe behind links.
		shim := isShim(p)
		run := p
		if !shim {
			run = RealPath(p)
			if seen[run] {
				continue
			}
		}
		out, err := d.run(ctx, run, "-c", pythonProbe)
		if err != nil {
			// pyenv has shims for every installed version but runs only the
			// selected ones: a failing shim is usual, a failing interpreter not.
			level := slog.LevelWarn
			if shim {
				level = slog.LevelDebug
			}
			d.Logger.Log(ctx, level, "hostinfo: probe python", "name", name, "path", run, "err", err)
			continue
		}
		exe, version, err := parsePythonProbe(out)
		if err != nil {
			d.Logger.Warn("hostinfo: probe python", "name", name, "path", run, "err", err)
			continue
		}
		resolved := run
		if shim {
			resolved = RealPath(exe)
			if isShim(resolved) {
				d.Logger.Warn("hostinfo: probe python", "name", name, "path", run, "err", errors.New("the interpreter names a shim as its executable"))
				continue
			}
		}
		if seen[resolved] {
			continue
		}
		seen[resolved] = true
		versions = append(versions, version)
		paths = append(paths, resolved)
	}
	return versions, paths
}

// isShim reports whether path is a version manager's shim (pyenv, asdf).
func isShim(path string) bool {
	return strings.Contains(filepath.ToSlash(path), "/shims/")
}

// RealPath resolves the symbolic links of path; a path that cannot be
// resolved is kept as it is.
func RealPath(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	}
	if a, err := filepath.Abs(path); err == nil {
		path = a
	}
	return path
}

// parsePythonProbe reads pythonProbe's output: the executable's path, then
// the version.
func parsePythonProbe(out []byte) (exe, version string, err error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return "", "", fmt.Errorf("hostinfo: parse python probe: %d lines, want 2: %q", len(lines), out)
	}
	exe, version = strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1])
	if exe == "" || !filepath.IsAbs(exe) {
		return "", "", fmt.Errorf("hostinfo: parse python probe: executable %q is not an absolute path", exe)
	}
	if !isVersion(version) {
		return "", "", fmt.Errorf("hostinfo: parse python probe: version %q is not N.N.N", version)
	}
	return exe, version, nil
}

// isVersion reports whether s is a version "MAJOR.MINOR.MICRO".
func isVersion(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
