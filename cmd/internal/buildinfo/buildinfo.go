package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Version is the build's version line: the module version, then the
// commit (12 hex digits, "+dirty" when the tree had changes) and its time
// when the toolchain stamped them, and the Go version:
//
//	v0.3.0 (commit 2003a3b5c1d2, 2026-11-26T15:40:12Z, go1.26.0)
//	(devel) (commit 2003a3b5c1d2+dirty, 2026-11-26T15:40:12Z, go1.26.0)
func Version() string { return format(debug.ReadBuildInfo()) }

// commit is the commit the Makefile passes with -ldflags "-X
// …/buildinfo.commit=…": used when the toolchain stamped none (GOFLAGS
// with -buildvcs=false, a git worktree, a build outside the repository).
var commit string

func format(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "unknown (no build information in the binary)"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, when string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var details []string
	if rev == "" {
		rev = commit
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		details = append(details, "commit "+rev)
		if when != "" {
			details = append(details, when)
		}
	} else {
		details = append(details, "commit unknown")
	}
	if bi.GoVersion != "" {
		details = append(details, bi.GoVersion)
	}
	return version + " (" + strings.Join(details, ", ") + ")"
}
