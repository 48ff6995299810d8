package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFxnodeWebSettings drives the fxnode binary: init writes the web
// view's settings commented out; run refuses to start with http_listen off
// loopback and no token, saying why; with a token, every path (the page,
// its API, /metrics) answers 401 without it and 200 with it; diag shows
// the config with the token hidden.
func TestFxnodeWebSettings(t *testing.T) {
	processes(t)
	dir := filepath.Join(t.TempDir(), "ep")
	if out, err := exec.Command(bin.fxnode, "init", "--dir", dir, "--name", "web-box").CombinedOutput(); err != nil {
		t.Fatalf("fxnode init: %v: %s", err, out)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# http_listen: ", "# http_token: ", "# audit_log: ", "# log_format: "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("fxnode init's config.yaml lacks %q", want)
		}
	}
	setConfig := func(lines ...string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, append(append([]byte{}, b...), []byte(strings.Join(lines, "\n")+"\n")...), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	setConfig("http_listen: 0.0.0.0:0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin.fxnode, "run", "--dir", dir).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("fxnode run with http_listen 0.0.0.0:0 and no token: %v, want it to refuse to start: %s", err, out)
	}
	if !strings.Contains(string(out), "not a loopback address") || !strings.Contains(string(out), "http_token") {
		t.Errorf("fxnode run's refusal does not say why (loopback, http_token): %s", out)
	}

	const token = "e2e-token-0123456789abcdef"
	setConfig("http_listen: 127.0.0.1:0", "http_token: "+token, "audit_log: audit.log", "log_format: json")
	p := startNode(t, dir, "run", "--dir", dir)
	m := regexp.MustCompile(`"url":"(http://127\.0\.0\.1:[0-9]+/)"`).FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("fxnode run logged no web view URL in JSON: %s", p.output())
	}
	base := m[1]
	for _, path := range []string{"", "api/mesh", "metrics", "static/app.js"} {
		for _, auth := range []string{"", "Bearer " + token} {
			req, _ := http.NewRequest("GET", base+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusUnauthorized
			if auth != "" {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("GET /%s with authorization %q: %d, want %d", path, auth, resp.StatusCode, want)
			}
		}
	}
	diag, err := exec.Command(bin.fxnode, "diag", "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("fxnode diag: %v: %s", err, diag)
	}
	if strings.Contains(string(diag), token) || !strings.Contains(string(diag), "http_token: (set, hidden)") || !strings.Contains(string(diag), "name: web-box") {
		t.Errorf("fxnode diag, want the config with its token hidden:\n%s", diag)
	}
}
