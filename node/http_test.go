package node

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/identity"
)

// TestHTTPConfig: http_listen on loopback needs no token; anywhere else
// it needs one, and Start refuses to start without, saying so.
func TestHTTPConfig(t *testing.T) {
	const tok = "0123456789abcdef"
	tests := []struct {
		listen, token string
		wantErr       string // "" for none
	}{
		{"", "", ""},
		{"127.0.0.1:8080", "", ""},
		{"127.0.0.1:0", "", ""},
		{"localhost:8080", "", ""},
		{"[::1]:8080", "", ""},
		{"127.0.0.1:8080", tok, ""},
		{"0.0.0.0:8080", tok, ""},
		{"10.1.2.3:8080", tok, ""},
		{"0.0.0.0:8080", "", "not a loopback address, and http_token is not set"},
		{":8080", "", "not a loopback address"},
		{"[::]:8080", "", "not a loopback address"},
		{"gpu-box.example.org:8080", "", "not a loopback address"},
		{"10.1.2.3:8080", "", "not a loopback address"},
		{"127.0.0.1", "", "want HOST:PORT"},
		{"127.0.0.1:http", "", "is not a number"},
		{"127.0.0.1:70000", "", "is not a number"},
		{"0.0.0.0:8080", "short", "at least 16 characters"},
		{"", tok, "http_listen is not"},
	}
	for _, tc := range tests {
		cfg := Config{HTTPListen: tc.listen, HTTPToken: tc.token}
		err := cfg.validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("listen %q token %q: %v", tc.listen, tc.token, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("listen %q token %q: %v, want an error saying %q", tc.listen, tc.token, err, tc.wantErr)
		}
	}
	k, _ := identity.GenerateKey()
	_, err := Start(context.Background(), Options{Dir: t.TempDir(), Key: k, Config: &Config{HTTPListen: "0.0.0.0:0"}})
	if err == nil || !strings.Contains(err.Error(), "http_token") {
		t.Fatalf("Start with http_listen 0.0.0.0:0 and no token: %v, want a refusal naming http_token", err)
	}
}

// TestLogFormatConfig: log_format is text or json.
func TestLogFormatConfig(t *testing.T) {
	for format, ok := range map[string]bool{"": true, "text": true, "json": true, "yaml": false} {
		if err := (&Config{LogFormat: format}).validate(); (err == nil) != ok {
			t.Errorf("log_format %q: %v", format, err)
		}
	}
}

// TestSaveConfigWritesOptionalSettings: a config.yaml that does not set
// http_listen, http_token, audit_log and log_format names each of them,
// commented out with its explanation (the token a fresh random one); it
// still loads as the same config, and one that sets them writes them
// plainly, once.
func TestSaveConfigWritesOptionalSettings(t *testing.T) {
	dir := t.TempDir()
	if err := SaveConfig(dir, &Config{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"\n# http_listen: 127.0.0.1:8080\n", "\n# http_token: ", "\n# audit_log: audit.log\n", "\n# log_format: text\n", "# HOST:PORT of the web view"} {
		if !strings.Contains(text, want) {
			t.Errorf("config.yaml lacks %q:\n%s", want, text)
		}
	}
	tok := regexp.MustCompile(`\n# http_token: ([0-9a-f]+)\n`).FindStringSubmatch(text)
	if len(tok) != 2 || len(tok[1]) != 32 {
		t.Errorf("the commented-out http_token is not a fresh token of 32 hex digits: %q", tok)
	}
	cfg, err := LoadConfig(dir)
	if err != nil || cfg.Name != "x" || cfg.HTTPListen != "" || cfg.HTTPToken != "" {
		t.Fatalf("LoadConfig = %+v, %v", cfg, err)
	}
	set := &Config{HTTPListen: "127.0.0.1:9000", AuditLog: "a.log", LogFormat: "json"}
	if err := SaveConfig(dir, set); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, ConfigFile))
	if text := string(b); strings.Contains(text, "# http_listen: 127.0.0.1:8080") || strings.Count(text, "http_listen:") != 1 ||
		!strings.Contains(text, "# http_token: ") {
		t.Errorf("config.yaml with http_listen set:\n%s", text)
	}
	if cfg, err := LoadConfig(dir); err != nil || cfg.HTTPListen != set.HTTPListen || cfg.AuditLog != set.AuditLog || cfg.LogFormat != "json" {
		t.Fatalf("LoadConfig = %+v, %v", cfg, err)
	}
}

// TestClip: a refusal's message is cut to its bound, never inside a rune.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789abc", 10, "0123456789…"},
		{"ééééé", 3, "é…"},
	} {
		if got := clip(tc.in, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
