package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"released", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "2003a3b5c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6"}, {Key: "vcs.time", Value: "2026-11-26T15:40:12Z"}, {Key: "vcs.modified", Value: "false"}}},
			"v0.3.0 (commit 2003a3b5c1d2, 2026-11-26T15:40:12Z, go1.26.0)"},
		{"a dirty tree", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "2003a3b5c1d2e3f4"}, {Key: "vcs.modified", Value: "true"}}},
			"(devel) (commit 2003a3b5c1d2+dirty, go1.26.0)"},
		{"no vcs stamp", &debug.BuildInfo{GoVersion: "go1.26.0"}, "(devel) (commit unknown, go1.26.0)"},
	}
	for _, tc := range tests {
		if got := format(tc.bi, true); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	commit = "0123456789abcdef"
	defer func() { commit = "" }()
	if got := format(&debug.BuildInfo{GoVersion: "go1.26.0"}, true); got != "(devel) (commit 0123456789ab, go1.26.0)" {
		t.Errorf("commit from -ldflags: %q", got)
	}
	if got := format(nil, false); got != "unknown (no build information in the binary)" {
		t.Errorf("no build info: %q", got)
	}
}
