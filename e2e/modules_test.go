package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
)

// twoEndpoints starts a bootstrap and two endpoints of a fresh user, named
// names[0] and names[1]; env[i] is added to the
// environment of endpoint i and edit[i], when not nil, rewrites its
// config.yaml (given the user's ID too) before it starts. It returns the user's FX_HOME and ID, the
// --bootstrap flag, the endpoints' IDs by name, and their processes.
func twoEndpoints(t *testing.T, names [2]string, env [2][]string, edit [2]func(cfg, user string) string) (home, user, b string, ids map[string]string, eps [2]*proc) {
	t.Helper()
	processes(t)
	root := t.TempDir()
	home = filepath.Join(root, "home")
	out, err := fx(t, home, "id", "init")
	if err != nil {
		t.Fatal(err)
	}
	user = strings.TrimSpace(out)
	boot := startNode(t, filepath.Join(root, "boot"), "bootstrap", "--dir", filepath.Join(root, "boot"), "--listen", "/ip4/127.0.0.1/tcp/0")
	b = "--bootstrap=" + boot.addr()
	for i, name := range names {
		dir := filepath.Join(root, name)
		fxnodeInit(t, home, dir, "--name", name, "--owner", user, "--bootstrap", boot.addr())
		cfgPath := filepath.Join(dir, "config.yaml")
		cfg, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		text := string(cfg)
		if edit[i] != nil {
			text = edit[i](text, user)
		}
		if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		eps[i] = startNodeEnv(t, bin.fxnode, env[i], dir, "run", "--dir", dir)
	}
	ids = map[string]string{}
	eventually(t, time.Minute, "both endpoints listed online", func() error {
		got, err := listEndpoints(t, home, boot.addr())
		if err != nil {
			return err
		}
		for _, e := range got {
			if e.Online {
				ids[e.Name] = e.ID
			}
		}
		if ids[names[0]] == "" || ids[names[1]] == "" {
			return fmt.Errorf("online: %v", ids)
		}
		return nil
	})
	return home, user, b, ids, eps
}

// registerPython registers entry of source as function name, with flags.
func registerPython(t *testing.T, home, b, name, source, entry string, flags ...string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), name+".py")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"function", "register", name, "--python", src, "--entry", entry, b}, flags...)
	if _, err := fx(t, home, args...); err != nil {
		t.Fatal(err)
	}
}

const fakeModuleSource = `
def use_fake():
    import fxmesh_fake_mod
    return fxmesh_fake_mod.WHERE
`

// TestModuleRequirement is issue 16's module= point with real Python
// workers: of two endpoints, only "sci" sees the distribution
// fxmesh_fake_mod (a site directory on its PYTHONPATH holds the module and
// its .dist-info). Its record lists it: fxnode init listed the modules
// without that PYTHONPATH, and the start listed them again with it. A
// function registered with --require module=fxmesh_fake_mod is routed to
// sci, a version it lacks is explained, and a function run on the other
// endpoint fails with a message that names the module and sci.
func TestModuleRequirement(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a mesh")
	}
	site := exectest.SharedDir(t) // the workers read it, as worker uids
	if err := os.WriteFile(filepath.Join(site, "fxmesh_fake_mod.py"), []byte("WHERE = 'sci'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(site, "fxmesh_fake_mod-1.2.3.dist-info")
	if err := os.Mkdir(info, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := "Metadata-Version: 2.1\nName: fxmesh_fake_mod\nVersion: 1.2.3\n"
	if err := os.WriteFile(filepath.Join(info, "METADATA"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	home, _, b, ids, _ := twoEndpoints(t, [2]string{"plain", "sci"}, [2][]string{nil, {"PYTHONPATH=" + site}}, [2]func(string, string) string{})
	registerPython(t, home, b, "fake", fakeModuleSource, "use_fake", "--require", "module=fxmesh_fake_mod")
	registerPython(t, home, b, "fake-anywhere", fakeModuleSource, "use_fake")

	// Routed by the function's requirement: to sci, whatever the load.
	out, explain, err := fxWithStderr(t, home, "run", "fake", "--explain", b)
	if err != nil || strings.TrimSpace(out) != `"sci"` {
		t.Fatalf("fx run fake: %q, %v\n%s", out, err, explain)
	}
	if !strings.Contains(explain, "rejected: needs module=fxmesh_fake_mod, has no Python module fxmesh-fake-mod") {
		t.Fatalf("--explain does not say why plain was passed over:\n%s", explain)
	}
	// A version newer than sci's: no endpoint, and the error says what each has.
	_, err = fx(t, home, "run", "fake-anywhere", "--require", "module=fxmesh_fake_mod>=2", b)
	if err == nil || !strings.Contains(err.Error(), "no endpoint meets module=fxmesh_fake_mod>=2") ||
		!strings.Contains(err.Error(), "has fxmesh-fake-mod 1.2.3") || exitCode(err) != fault.NotFound.ExitCode() {
		t.Fatalf("fx run with a version no endpoint has: %v", err)
	}

	// On plain, the import fails: the message names the module and sci.
	_, stderr, err := fxWithStderr(t, home, "run", "fake-anywhere", "--endpoint", ids["plain"], b)
	if err == nil {
		t.Fatal("fx run on the endpoint without the module succeeded")
	}
	t.Logf("fx run on plain says:\n%s", stderr)
	for _, want := range []string{
		"imports Python module fxmesh_fake_mod, which endpoint plain (" + ids["plain"] + ") does not have",
		"endpoints that have it: sci (" + ids["sci"] + ", fxmesh-fake-mod 1.2.3)",
		"--require module=fxmesh_fake_mod",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("fx run on plain: stderr does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "Traceback") {
		t.Errorf("fx run on plain printed the raw traceback:\n%s", stderr)
	}
	if code := exitCode(err); code != fault.User.ExitCode() {
		t.Errorf("fx run on plain exited %d, want %d (the function's error)", code, fault.User.ExitCode())
	}
}

// TestAllowlistRouting is issue 16's allowlist point with real endpoints:
// "strict" serves only OWNER/sub (its functions: allowlist, advertised in
// its record); a routed run of add goes to "open", and --explain says why
// strict was passed over; sub may go to strict; once open is stopped, the
// routed run of add fails saying that the endpoint left does not serve it.
func TestAllowlistRouting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a mesh")
	}
	restrict := func(cfg, user string) string { return setTopLevel(cfg, "functions", "\n  - "+user+"/sub") }
	home, _, b, ids, eps := twoEndpoints(t, [2]string{"open", "strict"}, [2][]string{}, [2]func(string, string) string{nil, restrict})
	registerPython(t, home, b, "add", e2eSource, "add")
	registerPython(t, home, b, "sub", e2eSource, "add")

	// add: strict would refuse it, so it goes to open.
	out, explain, err := fxWithStderr(t, home, "run", "add", "--args", "[40, 2]", "--explain", b)
	if err != nil || strings.TrimSpace(out) != "42" {
		t.Fatalf("fx run add: %q, %v\n%s", out, err, explain)
	}
	if !strings.Contains(explain, "rejected: does not serve this function") || rankedFirst(explain) != "open" {
		t.Fatalf("--explain of add does not pass over strict for its allowlist:\n%s", explain)
	}
	// sub: both serve it (strict by OWNER/NAME); on strict it runs.
	out, explain, err = fxWithStderr(t, home, "run", "sub", "--args", "[1, 2]", "--explain", b)
	if err != nil || strings.TrimSpace(out) != "3" || strings.Contains(explain, "does not serve") {
		t.Fatalf("fx run sub: %q, %v\n%s", out, err, explain)
	}
	if out, err := fx(t, home, "run", "sub", "--args", "[1, 2]", "--endpoint", ids["strict"], b); err != nil || strings.TrimSpace(out) != "3" {
		t.Fatalf("fx run sub on strict: %q, %v", out, err)
	}

	// Only strict left: the routed run of add says why it has no endpoint.
	eps[0].signal(syscall.SIGTERM)
	<-eps[0].done
	_, err = fx(t, home, "run", "add", "--args", "[40, 2]", b)
	if err == nil || !strings.Contains(err.Error(), "no eligible endpoint:") || !strings.Contains(err.Error(), "1 does not serve this function") {
		t.Fatalf("fx run add with only strict up: %v", err)
	}
}

// setTopLevel sets the top-level key of a config.yaml to value (what
// follows "key:"), in place of the key's lines if it has some.
func setTopLevel(cfg, key, value string) string {
	var out []string
	skipping := false
	for _, line := range strings.Split(strings.TrimRight(cfg, "\n"), "\n") {
		if strings.HasPrefix(line, key+":") {
			skipping = true
			continue
		}
		if skipping && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "-")) {
			continue
		}
		skipping = false
		out = append(out, line)
	}
	return strings.Join(append(out, key+":"+value), "\n") + "\n"
}

// rankedFirst is the name --explain ranks first, or "".
func rankedFirst(explain string) string {
	for _, line := range strings.Split(explain, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "1" {
			return f[1]
		}
	}
	return ""
}
