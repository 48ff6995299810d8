package hostinfo

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fxmesh/fxmesh/require"
	"github.com/fxmesh/fxmesh/routing"
)

// modulesProbe prints, for each distribution importlib.metadata finds on
// the interpreter's sys.path, its name and version, tab-separated, one a
// line, in the order of sys.path (the one imported first comes first).
const modulesProbe = `import sys
try:
    from importlib import metadata
except ImportError:
    sys.exit(0)
for d in metadata.distributions():
    try:
        n, v = d.metadata["Name"], d.version
    except Exception:
        continue
    if n:
        sys.stdout.write("%s\t%s\n" % (n, v or ""))
`

// Modules lists the Python distributions importable by the interpreter
// python (a path), as the interpreter itself finds them with
// importlib.metadata, run once under opts.Timeout in this process's
// environment (PYTHONPATH included). noUserSite runs it with -s, without
// the user's site directory: for workers that run as other users, whose
// site directories are not this user's. The list is ParseModules'; dropped
// counts the distributions left out to keep within the bounds of a record.
func Modules(ctx context.Context, opts Options, python string, noUserSite bool) (mods []routing.Module, dropped int, err error) {
	d := detector{Options: opts.withDefaults()}
	args := []string{"-c", modulesProbe}
	if noUserSite {
		args = append([]string{"-s"}, args...)
	}
	out, err := d.run(ctx, python, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("hostinfo: list python modules: %w", err)
	}
	mods, dropped = ParseModules(out)
	return mods, dropped, nil
}

// ParseModules reads the lines of Modules' probe (NAME, a tab, VERSION)
// into a record's list of modules: names normalised
// (require.NormalizeModule), sorted, once each (the first line of a name
// wins, as the first on sys.path is imported), a version too long or not
// printable kept as "". Lines without a valid name are skipped. When the
// list would pass routing.MaxModules or routing.MaxModulesBytes, the
// modules past the bound, in order of name, are left out and counted in
// dropped.
func ParseModules(out []byte) (mods []routing.Module, dropped int) {
	var all []routing.Module
	for line := range strings.Lines(string(out)) {
		name, version, _ := strings.Cut(strings.TrimRight(line, "\r\n"), "\t")
		all = append(all, routing.Module{Name: strings.TrimSpace(name), Version: strings.TrimSpace(version)})
	}
	return BoundModules(all)
}

// BoundModules returns mods as a record may list them: valid names
// normalised, sorted, once each (the first of a name wins), a version a
// record cannot hold as "", and no more than routing.MaxModules within
// routing.MaxModulesBytes; dropped counts those left out past the bounds.
func BoundModules(mods []routing.Module) (kept []routing.Module, dropped int) {
	seen := map[string]bool{}
	var all []routing.Module
	for _, m := range mods {
		if !require.ValidModuleName(m.Name) {
			continue
		}
		m.Name = require.NormalizeModule(m.Name)
		if seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		if len(m.Version) > routing.MaxModuleVersion || !printableWord(m.Version) {
			m.Version = ""
		}
		all = append(all, m)
	}
	slices.SortStableFunc(all, func(a, b routing.Module) int { return cmp.Compare(a.Name, b.Name) })
	size := 0
	for i, m := range all {
		size += len(m.Name) + len(m.Version)
		if i >= routing.MaxModules || size > routing.MaxModulesBytes {
			return all[:i], len(all) - i
		}
	}
	return all, 0
}

// printableWord reports whether s holds only printable ASCII without spaces.
func printableWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
