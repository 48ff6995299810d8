package sim

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fxmesh/fxmesh/node"
	"github.com/fxmesh/fxmesh/routing"
)

// chromium finds Debian's chromium. Without it the test is skipped, except
// in CI (CI or FXMESH_BROWSER_TESTS set), where .ci/run installs it and
// its absence is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("FXMESH_BROWSER_TESTS") != "" {
		t.Fatal("chromium is not installed, and CI must run the browser test: apt-get install chromium")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}

// newBrowser starts headless chromium (without its sandbox: the tests run
// as root) for the test's life, and returns a tab's context.
func newBrowser(t *testing.T, ctx context.Context, browser string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")), chromedp.WindowSize(1400, 700))
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	return bctx
}

// row is an endpoint as the page lists it.
type row struct {
	Name   string `json:"name"`
	Online string `json:"online"`
}

// TestWebViewInChromium opens the bootstrap's web view in headless
// Chromium and checks, without reloading the page, that it lists every
// endpoint by name, that an endpoint killed shows offline within the
// heartbeat timeout, and that the filter gpus>=1 hides the endpoints
// without GPUs. It leaves a screenshot in its temporary directory, and a
// copy in FXMESH_SCREENSHOT_DIR when that is set, to look at.
func TestWebViewInChromium(t *testing.T) {
	browser := chromium(t)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	names := []string{"gpu-a", "cpu-b", "cpu-c"}
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: len(names),
		ConfigureBootstrap: func(cfg *node.Config) { cfg.HTTPListen = "127.0.0.1:0" },
		Configure: func(i int, cfg *node.Config) {
			cfg.Name = names[i]
			cfg.Workers = 1
			cfg.Hardware = routing.Hardware{CPUs: 2, MemoryBytes: 4 << 30, Arch: "amd64", OS: "linux"}
			if i == 0 {
				cfg.Hardware.GPUs = []routing.GPU{{Model: "NVIDIA H100", MemoryBytes: 80 << 30}}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	t.Logf("mesh up after %s", time.Since(begin).Round(time.Millisecond))
	url := "http://" + m.Bootstrap.HTTPAddr() + "/"

	bctx := newBrowser(t, ctx, browser)
	if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitVisible("#endpoints")); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Logf("page open after %s", time.Since(begin).Round(time.Millisecond))
	// How a batch endpoint's blocks read (no endpoint here has a batch
	// scheduler: the page's own function, on the record's fields).
	blocks, err := chromedp.Run(bctx, chromedp.Evaluate[string](
		`batchText({provider: "slurm", partition: "debug", pending: 1, running: 2, workers: 4, error: "sbatch: error: invalid partition"})`))
	if want := "slurm (debug): 1 pending, 2 running blocks, 4 workers; error: sbatch: error: invalid partition"; err != nil || blocks != want {
		t.Errorf("the page's blocks text = %q (%v), want %q", blocks, err, want)
	}
	// A mark that a reload would lose.
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`window.fxmeshNotReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	rows := func() map[string]string {
		rs, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](
			`[...document.querySelectorAll("#endpoints tbody tr:not(.empty)")].map(r => ({name: r.dataset.name, online: r.dataset.online}))`))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range rs {
			out[r.Name] = r.Online
		}
		return out
	}
	// until polls the page until cond holds of its rows, or d passes.
	until := func(d time.Duration, what string, cond func(map[string]string) bool) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			got := rows()
			if cond(got) {
				return time.Since(start)
			}
			if time.Since(start) > d {
				t.Fatalf("%s: not within %s; the page lists %v", what, d, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	listed := until(30*time.Second, "every endpoint listed online", func(rs map[string]string) bool {
		for _, n := range names {
			if rs[n] != "true" {
				return false
			}
		}
		return len(rs) == len(names)
	})
	t.Logf("every endpoint listed %s after the page opened", listed.Round(time.Millisecond))

	// Kill cpu-c: the page shows it offline within the heartbeat timeout
	// of its last heartbeat, which came at most a beat before the kill;
	// the deadline adds that beat and one more for the page's poll and a
	// loaded machine.
	if err := m.Endpoints[2].Close(); err != nil {
		t.Fatal(err)
	}
	timeout := routing.DefaultHeartbeatInterval * routing.DefaultMissedBeats
	took := until(timeout+2*routing.DefaultHeartbeatInterval, "cpu-c shown offline", func(rs map[string]string) bool {
		return rs["cpu-c"] == "false" && rs["gpu-a"] == "true" && rs["cpu-b"] == "true"
	})
	t.Logf("cpu-c shown offline %s after it was killed (heartbeat timeout %s)", took.Round(time.Millisecond), timeout)
	if kept, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.fxmeshNotReloaded === true`)); err != nil || !kept {
		t.Fatalf("the page was reloaded (%v)", err)
	}

	// The filter box: gpus>=1 leaves gpu-a alone.
	if err := chromedp.Do(bctx, chromedp.SendKeys("#filter", "gpus>=1")); err != nil {
		t.Fatal(err)
	}
	until(10*time.Second, "the filter gpus>=1 applied", func(rs map[string]string) bool {
		return len(rs) == 1 && rs["gpu-a"] == "true"
	})
	if count, err := chromedp.Run(bctx, chromedp.Text("#count")); err != nil || !strings.Contains(count, "1 of 3") {
		t.Errorf("count line %q (%v), want 1 of 3 shown", count, err)
	}

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "webview.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot of %d bytes is no PNG", len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if dir := os.Getenv("FXMESH_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "webview.png"), png, 0o644)
	}
}
