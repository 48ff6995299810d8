package node

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/routing"
)

// TestDiagnose: fxnode's log keeps its warnings and errors in
// DIR/errors.log, in the format log_format names on standard error, and
// the diagnostic summary shows them, the config without its token, and
// the hardware detected.
func TestDiagnose(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cret-token-0123456789"
	if err := SaveConfig(dir, &Config{Name: "diag-box", HTTPListen: "127.0.0.1:0", HTTPToken: secret}); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	log, err := NewLog(&stderr, "json", slog.LevelInfo, dir)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("joined mesh")
	log.Warn("no bootstrap peer answered")
	log.Error("store result", "err", "disk full")
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], `{"time":`) {
		t.Errorf("standard error in json: %q", stderr.String())
	}
	var out bytes.Buffer
	err = Diagnose(context.Background(), &out, DiagOptions{Dir: dir, Hardware: routing.Hardware{CPUs: 3, Arch: "amd64", OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"fxnode ", "name: diag-box", "http_token: (set, hidden)", "cpus: 3", "no bootstrap peer answered", "disk full"} {
		if !strings.Contains(text, want) {
			t.Errorf("diag lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{secret, "joined mesh"} {
		if strings.Contains(text, not) {
			t.Errorf("diag shows %q:\n%s", not, text)
		}
	}
	if _, err := NewLog(&stderr, "yaml", slog.LevelInfo, ""); err == nil {
		t.Error("log_format yaml accepted")
	}
}
