package fxmesh_test

// The architecture, tested: which package may import which (STYLE.md,
// "Package directions"), and that every package says what it is for.
//
// TestArchitecture lists the module's packages with `go list` and checks
// them; TestImportRules and TestPackageDocRules feed the same checks
// synthetic packages, to show that each rule fails when broken. To run one
// rule alone: go test -run 'TestArchitecture/imports/identity-alone' .

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// module is the import path of this module.
const module = "github.com/fxmesh/fxmesh"

// pkg is what the checks know of one package.
type pkg struct {
	Path        string   // import path
	Name        string   // package name; "main" for a command
	Dir         string   // its directory
	GoFiles     []string // its non-test Go files, in Dir
	Imports     []string // imports of GoFiles
	TestImports []string // imports of its _test.go files, internal and external
}

// scope says which of a package's files a rule governs.
type scope int

const (
	scopeCode  scope = iota // the non-test files
	scopeTests              // the _test.go files
	scopeBoth               // all of them
)

// importRule forbids some packages some imports.
type importRule struct {
	id     string                // short name, for -run and failures
	says   string                // the rule, in a sentence
	scope  scope                 // which files it governs
	from   func(rel string) bool // whether it governs a package of ours, by path relative to the module ("" is the root)
	forbid func(imp string) bool // whether such a package may not import imp (a full import path)
}

// importRules are the package directions of STYLE.md.
func importRules() []importRule {
	return []importRule{
		{
			id:    "exec-stdlib",
			says:  "exec and its implementations import only the standard library, fault and exec",
			scope: scopeCode,
			from:  func(rel string) bool { return under(rel, "exec") },
			forbid: func(imp string) bool {
				return !isStd(imp) && !oursUnder(imp, "fault") && !oursUnder(imp, "exec")
			},
		},
		{
			id:    "exec-tests",
			says:  "exec's tests import neither libp2p nor multiformats, and nothing of fxmesh but exec and fault",
			scope: scopeTests,
			from:  func(rel string) bool { return under(rel, "exec") },
			forbid: func(imp string) bool {
				if isP2P(imp) {
					return true
				}
				_, ours := ourRel(imp)
				return ours && !oursUnder(imp, "fault") && !oursUnder(imp, "exec")
			},
		},
		{
			id:    "exec-tenant-leaf",
			says:  "exec/tenant, which the executors share, imports only the standard library and fault",
			scope: scopeCode,
			from:  func(rel string) bool { return under(rel, "exec/tenant") },
			forbid: func(imp string) bool {
				return !isStd(imp) && !oursUnder(imp, "fault")
			},
		},
		{
			id:     "no-cmd",
			says:   "nothing imports a command",
			scope:  scopeBoth,
			from:   func(rel string) bool { return !under(rel, "cmd") },
			forbid: func(imp string) bool { return oursUnder(imp, "cmd") },
		},
		{
			id:     "cmd-internal",
			says:   "a command imports no other command, only the commands' shared packages in cmd/internal",
			scope:  scopeBoth,
			from:   func(rel string) bool { return under(rel, "cmd") },
			forbid: func(imp string) bool { return oursUnder(imp, "cmd") && !oursUnder(imp, "cmd/internal") },
		},
		{
			id:    "identity-alone",
			says:  "identity imports no other package of fxmesh",
			scope: scopeBoth,
			from:  func(rel string) bool { return under(rel, "identity") },
			forbid: func(imp string) bool {
				_, ours := ourRel(imp)
				return ours && !oursUnder(imp, "identity")
			},
		},
		{
			id:    "identity-core-only",
			says:  "identity imports, beyond the standard library, only go-libp2p's core packages",
			scope: scopeCode,
			from:  func(rel string) bool { return under(rel, "identity") },
			forbid: func(imp string) bool {
				_, ours := ourRel(imp)
				return !isStd(imp) && !ours && !under(imp, "github.com/libp2p/go-libp2p/core")
			},
		},
		{
			id:    "batchverify-leaf",
			says:  "batchverify imports only the standard library and github.com/hdevalence/ed25519consensus, which owns the curve arithmetic",
			scope: scopeCode,
			from:  func(rel string) bool { return under(rel, "batchverify") },
			forbid: func(imp string) bool {
				return !isStd(imp) && !under(imp, "github.com/hdevalence/ed25519consensus")
			},
		},
		{
			id:    "routing-catalog-no-node",
			says:  "routing and catalog import neither node, sim nor exec",
			scope: scopeBoth,
			from:  func(rel string) bool { return under(rel, "routing") || under(rel, "catalog") },
			forbid: func(imp string) bool {
				return oursUnder(imp, "node") || oursUnder(imp, "sim") || oursUnder(imp, "exec")
			},
		},
		{
			id:    "routing-catalog-core-only",
			says:  "routing and catalog use no libp2p package outside go-libp2p/core",
			scope: scopeBoth,
			from:  func(rel string) bool { return under(rel, "routing") || under(rel, "catalog") },
			forbid: func(imp string) bool {
				return under(imp, "github.com/libp2p") && !under(imp, "github.com/libp2p/go-libp2p/core")
			},
		},
		{
			id:    "node-private",
			says:  "only the commands, sim, e2e (the honest client beside the real binaries) and node's own packages import node",
			scope: scopeBoth,
			from: func(rel string) bool {
				return !under(rel, "cmd") && !under(rel, "sim") && !under(rel, "e2e") && !under(rel, "node")
			},
			forbid: func(imp string) bool { return oursUnder(imp, "node") },
		},
		{
			id:    "catalog-deps",
			says:  "catalog imports, beyond the standard library, only identity, fault, wire and require of fxmesh, its codecs, and go-libp2p's core: its storage is behind catalog.Backend",
			scope: scopeCode,
			from:  func(rel string) bool { return rel == "catalog" },
			forbid: func(imp string) bool {
				if isStd(imp) {
					return false
				}
				if _, ours := ourRel(imp); ours {
					return !oursUnder(imp, "identity") && !oursUnder(imp, "fault") && !oursUnder(imp, "wire") && !oursUnder(imp, "require")
				}
				for _, ok := range []string{"github.com/fxamacker/cbor/v2", "github.com/ipfs/go-cid", "github.com/multiformats/go-multihash", "github.com/libp2p/go-libp2p/core"} {
					if under(imp, ok) {
						return false
					}
				}
				return true
			},
		},
		{
			id:    "bbolt-adapters",
			says:  "only the storage adapters, catalog/boltstore and node/taskstore, import bbolt",
			scope: scopeBoth,
			from: func(rel string) bool {
				return !under(rel, "catalog/boltstore") && !under(rel, "node/taskstore")
			},
			forbid: func(imp string) bool { return under(imp, "go.etcd.io/bbolt") },
		},
		{
			id:    "wire-leaf",
			says:  "wire imports, beyond the standard library, only fault, the CBOR module and go-libp2p's protocol IDs",
			scope: scopeCode,
			from:  func(rel string) bool { return under(rel, "wire") },
			forbid: func(imp string) bool {
				return !isStd(imp) && !oursUnder(imp, "fault") && imp != "github.com/fxamacker/cbor/v2" && imp != "github.com/libp2p/go-libp2p/core/protocol"
			},
		},
		{
			id:    "client-private",
			says:  "only the commands, sim, e2e and client's own packages import client; the daemon (node) does not",
			scope: scopeCode,
			from: func(rel string) bool {
				return !under(rel, "cmd") && !under(rel, "sim") && !under(rel, "e2e") && !under(rel, "client")
			},
			forbid: func(imp string) bool { return oursUnder(imp, "client") },
		},
		{
			id:    "client-private-tests",
			says:  "only the tests of the commands, sim, e2e, node (which need a client) and client import client",
			scope: scopeTests,
			from: func(rel string) bool {
				return !under(rel, "cmd") && !under(rel, "sim") && !under(rel, "e2e") && !under(rel, "client") && !under(rel, "node")
			},
			forbid: func(imp string) bool { return oursUnder(imp, "client") },
		},
		{
			id:    "localapi-over-client",
			says:  "the local API (client/localapi) is served over client's API: of fxmesh it imports only client, identity and fault, and of libp2p only peer IDs",
			scope: scopeCode,
			from:  func(rel string) bool { return rel == "client/localapi" },
			forbid: func(imp string) bool {
				if rel, ours := ourRel(imp); ours {
					return rel != "client" && rel != "identity" && rel != "fault"
				}
				return under(imp, "github.com/libp2p") && imp != "github.com/libp2p/go-libp2p/core/peer"
			},
		},
		{
			id:    "cmd-thin",
			says:  "the commands import, of fxmesh, only client, client/localapi, node, node/hostinfo, identity, fault and sim/model (fxnode sim --model)",
			scope: scopeCode,
			from:  func(rel string) bool { return under(rel, "cmd") },
			forbid: func(imp string) bool {
				rel, ours := ourRel(imp)
				if !ours {
					return false
				}
				switch rel {
				case "client", "client/localapi", "node", "node/hostinfo", "identity", "fault", "sim/model":
					return false
				}
				return !under(rel, "cmd") // a command's own packages are its business
			},
		},
		{
			id:    "sim-model-pure",
			says:  "sim/model (which fxnode imports) uses, of fxmesh, only the pure cores (routing, catalog, require, identity, fault), and no libp2p outside go-libp2p/core",
			scope: scopeCode,
			from:  func(rel string) bool { return under(rel, "sim/model") },
			forbid: func(imp string) bool {
				if rel, ours := ourRel(imp); ours {
					switch rel {
					case "routing", "catalog", "require", "identity", "fault":
						return false
					}
					return true
				}
				return under(imp, "github.com/libp2p") && !under(imp, "github.com/libp2p/go-libp2p/core")
			},
		},
		{
			id:    "p2p-private",
			says:  "only node, client, sim and e2e's tests import p2p",
			scope: scopeBoth,
			from: func(rel string) bool {
				return !under(rel, "p2p") && !under(rel, "node") && !under(rel, "client") && !under(rel, "sim") && !under(rel, "e2e")
			},
			forbid: func(imp string) bool { return oursUnder(imp, "p2p") },
		},
		{
			id:    "fault-alone",
			says:  "fault imports nothing of fxmesh",
			scope: scopeBoth,
			from:  func(rel string) bool { return under(rel, "fault") },
			forbid: func(imp string) bool {
				_, ours := ourRel(imp)
				return ours && !oursUnder(imp, "fault")
			},
		},
		{
			id:    "webview-sees-no-inputs",
			says:  "node/webview, the web view, imports nothing that holds a task's inputs or results (exec, invoke, node/taskstore, node/admission) and nothing of the daemon (node)",
			scope: scopeCode,
			from:  func(rel string) bool { return under(rel, "node/webview") },
			forbid: func(imp string) bool {
				rel, ours := ourRel(imp)
				return ours && (under(rel, "exec") || under(rel, "invoke") || rel == "node" || under(rel, "node/taskstore") || under(rel, "node/admission"))
			},
		},
		{
			id:     "audit-leaf",
			says:   "node/audit, the audit log, imports only the standard library",
			scope:  scopeCode,
			from:   func(rel string) bool { return under(rel, "node/audit") },
			forbid: func(imp string) bool { return !isStd(imp) },
		},
		{
			id:    "require-leaf",
			says:  "require, the grammar of requirements that catalog and routing share, imports only the standard library and fault",
			scope: scopeBoth,
			from:  func(rel string) bool { return under(rel, "require") },
			forbid: func(imp string) bool {
				return !isStd(imp) && !oursUnder(imp, "fault") && !oursUnder(imp, "require")
			},
		},
		{
			id:    "exec-schedulers-apart",
			says:  "the scheduler providers (exec/slurm, exec/pbs) and the command runner they share import, of fxmesh, only fault, exec, exec/pilot and exec/internal/schedcmd",
			scope: scopeCode,
			from: func(rel string) bool {
				return under(rel, "exec/slurm") || under(rel, "exec/pbs") || under(rel, "exec/internal/schedcmd")
			},
			forbid: func(imp string) bool {
				rel, ours := ourRel(imp)
				return ours && rel != "exec" && !oursUnder(imp, "fault") && !oursUnder(imp, "exec/pilot") && !oursUnder(imp, "exec/internal/schedcmd")
			},
		},
	}
}

// ourRel returns imp relative to the module, and whether it is in it.
func ourRel(imp string) (string, bool) {
	if imp == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(imp, module+"/")
	return rel, ok
}

// oursUnder reports whether imp is the package root of this module or one
// below it.
func oursUnder(imp, root string) bool {
	rel, ok := ourRel(imp)
	return ok && under(rel, root)
}

// under reports whether the slash-separated path p (an import path, or one
// relative to the module) is root or below it.
func under(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

// isStd reports whether imp is of the standard library: its first element,
// unlike a module path's, has no dot.
func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

// isP2P reports whether imp is of libp2p or multiformats.
func isP2P(imp string) bool {
	return under(imp, "github.com/libp2p") || under(imp, "github.com/multiformats")
}

// violation is one import a rule forbids.
type violation struct {
	rule   importRule
	pkg    string // import path of the importer
	imp    string // what it imports
	inTest bool   // whether a _test.go file imports it
}

func (v violation) String() string {
	where := ""
	if v.inTest {
		where = " in its tests"
	}
	return fmt.Sprintf("%s imports %s%s, but %s [%s]", v.pkg, v.imp, where, v.rule.says, v.rule.id)
}

// checkImports returns the imports of pkgs that rules forbid, by package,
// rule and import. Packages outside the module are not checked.
func checkImports(pkgs []pkg, rules []importRule) []violation {
	var vs []violation
	for _, p := range pkgs {
		rel, ours := ourRel(p.Path)
		if !ours {
			continue
		}
		for _, r := range rules {
			if !r.from(rel) {
				continue
			}
			check := func(imports []string, inTest bool) {
				for _, imp := range slices.Sorted(slices.Values(imports)) {
					if imp != p.Path && r.forbid(imp) {
						vs = append(vs, violation{rule: r, pkg: p.Path, imp: imp, inTest: inTest})
					}
				}
			}
			if r.scope == scopeCode || r.scope == scopeBoth {
				check(p.Imports, false)
			}
			if r.scope == scopeTests || r.scope == scopeBoth {
				// An import already reported for the code is not repeated.
				var testOnly []string
				for _, imp := range p.TestImports {
					if r.scope == scopeTests || !slices.Contains(p.Imports, imp) {
						testOnly = append(testOnly, imp)
					}
				}
				check(testOnly, true)
			}
		}
	}
	return vs
}

// checkPackageDoc checks that the package of name in fsys, whose non-test
// files are goFiles, has a doc.go whose comment starts "Package <name>". A
// command may keep its comment in any of its files, and may start it
// "Command ..." (or, as go doc does, with its name capitalised).
func checkPackageDoc(fsys fs.FS, name, dirName string, goFiles []string) error {
	if len(goFiles) == 0 {
		return nil // tests only: not a package anything builds
	}
	files := []string{"doc.go"}
	if name == "main" {
		files = append(files, goFiles...)
	} else if !slices.Contains(goFiles, "doc.go") {
		return errors.New("no doc.go")
	}
	for _, f := range files {
		if !slices.Contains(goFiles, f) {
			continue
		}
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			return err
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, src, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if file.Doc == nil {
			continue
		}
		return checkDocText(name, dirName, file.Doc.Text())
	}
	if name == "main" {
		return errors.New("no package comment")
	}
	return errors.New("doc.go has no package comment")
}

// checkDocText checks a package comment's first sentence.
func checkDocText(name, dirName, text string) error {
	starts := func(prefix string) bool {
		rest, ok := strings.CutPrefix(text, prefix)
		return ok && rest != "" && strings.ContainsRune(" \n.:", rune(rest[0]))
	}
	if starts("Package " + name) {
		return nil
	}
	if name == "main" && dirName != "" && (starts("Command") || starts(strings.ToUpper(dirName[:1])+dirName[1:])) {
		return nil
	}
	first, _, _ := strings.Cut(text, "\n")
	if name == "main" {
		return fmt.Errorf("package comment starts %q, want \"Command ...\" or \"Package main ...\"", first)
	}
	return fmt.Errorf("package comment starts %q, want \"Package %s ...\"", first, name)
}

// listed is the part of `go list -json` the checks read.
type listed struct {
	Dir          string
	ImportPath   string
	Name         string
	GoFiles      []string
	CgoFiles     []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *listError
	DepsErrors   []*listError
}

type listError struct {
	ImportStack []string
	Pos         string
	Err         string
}

func (e *listError) String() string {
	s := e.Err
	if e.Pos != "" {
		s = e.Pos + ": " + s
	}
	if len(e.ImportStack) > 0 {
		s += " (imported by " + strings.Join(e.ImportStack, " <- ") + ")"
	}
	return s
}

// listPackages lists the packages of the module in dir. It returns the
// errors go list found in them (a package that cannot be loaded, an import
// nothing provides) apart, so the rules still check what could be listed.
func listPackages(ctx context.Context, dir string) (pkgs []pkg, loadErrs []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-e",
		"-json=Dir,ImportPath,Name,GoFiles,CgoFiles,Imports,TestImports,XTestImports,Error,DepsErrors",
		"./...")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("go list: %w\n%s", err, stderr.Bytes())
	}
	seen := map[string]bool{}
	dec := json.NewDecoder(&stdout)
	for {
		var l listed
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("go list: decode: %w", err)
		}
		for _, e := range append([]*listError{l.Error}, l.DepsErrors...) {
			if e == nil {
				continue
			}
			if s := e.String(); !seen[s] {
				seen[s] = true
				loadErrs = append(loadErrs, fmt.Sprintf("%s: %s", l.ImportPath, s))
			}
		}
		var testImports []string
		for _, imp := range slices.Concat(l.TestImports, l.XTestImports) {
			if imp != l.ImportPath && !slices.Contains(testImports, imp) {
				testImports = append(testImports, imp)
			}
		}
		pkgs = append(pkgs, pkg{
			Path:        l.ImportPath,
			Name:        l.Name,
			Dir:         l.Dir,
			GoFiles:     slices.Concat(l.GoFiles, l.CgoFiles),
			Imports:     l.Imports,
			TestImports: testImports,
		})
	}
	return pkgs, loadErrs, nil
}

func TestArchitecture(t *testing.T) {
	pkgs, loadErrs, err := listPackages(t.Context(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	t.Run("go list", func(t *testing.T) {
		for _, e := range loadErrs {
			t.Errorf("go list: %s", e)
		}
	})
	t.Run("imports", func(t *testing.T) {
		for _, r := range importRules() {
			t.Run(r.id, func(t *testing.T) {
				for _, v := range checkImports(pkgs, []importRule{r}) {
					t.Error(v)
				}
			})
		}
	})
	t.Run("task states", func(t *testing.T) {
		for _, p := range pkgs {
			if _, ours := ourRel(p.Path); !ours || p.Dir == "" {
				continue
			}
			for _, f := range p.GoFiles {
				src, err := os.ReadFile(filepath.Join(p.Dir, f))
				if err != nil {
					t.Fatal(err)
				}
				for _, at := range stateLiterals(f, src) {
					t.Errorf("%s: a task state compared with a string literal; use the invoke.State constants", filepath.Join(p.Dir, at))
				}
			}
		}
	})
	t.Run("package docs", func(t *testing.T) {
		for _, p := range pkgs {
			rel, ours := ourRel(p.Path)
			if !ours || p.Dir == "" {
				continue
			}
			dirName := rel[strings.LastIndex(rel, "/")+1:]
			if err := checkPackageDoc(os.DirFS(p.Dir), p.Name, dirName, p.GoFiles); err != nil {
				t.Errorf("%s: %v", p.Path, err)
			}
		}
	})
}

func TestImportRules(t *testing.T) {
	ours := func(rel string) string { return module + "/" + rel }
	libp2pCore := "github.com/libp2p/go-libp2p/core/peer"
	tests := []struct {
		name string
		pkgs []pkg
		want []string // "rule pkg import", in checkImports' order
	}{
		{
			name: "the intended directions",
			pkgs: []pkg{
				{Path: ours("fault"), Imports: []string{"errors", "fmt"}},
				{Path: ours("identity"), Imports: []string{"crypto/rand", libp2pCore, "github.com/libp2p/go-libp2p/core/crypto"}, TestImports: []string{"testing", libp2pCore}},
				{Path: ours("exec"), Imports: []string{"context", "os/exec", ours("fault")}, TestImports: []string{"testing"}},
				{Path: ours("exec/python"), Imports: []string{"os/exec", ours("exec"), ours("exec/tenant"), ours("fault")}, TestImports: []string{ours("exec/exectest"), "github.com/google/go-cmp/cmp"}},
				{Path: ours("exec/tenant"), Imports: []string{"os", "syscall", ours("fault")}, TestImports: []string{"testing", ours("fault")}},
				{Path: ours("exec/container"), Imports: []string{"os/exec", ours("exec"), ours("exec/shell"), ours("fault")}, TestImports: []string{ours("exec/exectest"), ours("exec/python")}},
				{Path: ours("routing"), Imports: []string{libp2pCore, ours("identity"), ours("fault")}},
				{Path: ours("batchverify"), Imports: []string{"crypto/ed25519", "github.com/hdevalence/ed25519consensus"}, TestImports: []string{"filippo.io/edwards25519"}},
				{Path: ours("catalog"), Imports: []string{"github.com/fxamacker/cbor/v2", "github.com/libp2p/go-libp2p/core", ours("identity"), ours("wire")}},
				{Path: ours("catalog/boltstore"), Imports: []string{ours("catalog"), ours("fault"), "go.etcd.io/bbolt", "go.etcd.io/bbolt/errors"}, TestImports: []string{"go.etcd.io/bbolt"}},
				{Path: ours("node/taskstore"), Imports: []string{"go.etcd.io/bbolt"}, TestImports: []string{"go.etcd.io/bbolt"}},
				{Path: ours("wire"), Imports: []string{"bufio", ours("fault"), "github.com/fxamacker/cbor/v2", "github.com/libp2p/go-libp2p/core/protocol"}},
				{Path: ours("node/hostinfo"), Imports: []string{"os/exec", ours("routing"), ours("fault")}},
				{Path: ours("node/config"), Imports: []string{ours("node/hostinfo")}},
				{Path: ours("require"), Imports: []string{"math/big", "regexp", ours("fault")}, TestImports: []string{"testing", ours("fault"), ours("require")}},
				{Path: ours("node"), Imports: []string{ours("node/hostinfo"), ours("routing"), ours("catalog"), ours("catalog/boltstore"), ours("exec"), ours("exec/python"), "github.com/libp2p/go-libp2p", "github.com/libp2p/go-libp2p-kad-dht"}},
				{Path: ours("sim"), Imports: []string{ours("node"), "github.com/libp2p/go-libp2p/p2p/net/mock"}},
				{Path: ours("cmd/fxnode"), Name: "main", Imports: []string{ours("node"), ours("node/hostinfo"), ours("client"), ours("identity"), ours("sim/model")}},
				{Path: ours("sim/model"), Imports: []string{ours("routing"), ours("catalog"), ours("identity"), libp2pCore}},
				{Path: ours("cmd/fx"), Name: "main", Imports: []string{ours("client"), ours("identity"), ours("fault")}},
				{Path: ours("client"), Imports: []string{ours("p2p"), ours("wire"), ours("routing"), ours("catalog"), ours("invoke")}},
				{Path: ours("node"), Imports: []string{ours("p2p"), ours("wire")}, TestImports: []string{ours("client")}},
				{Path: module, TestImports: []string{"go/parser"}},
				{Path: "example.com/other", Imports: []string{ours("cmd/fx")}}, // not ours: not checked
			},
		},
		{
			name: "catalog imports node's host and a web framework",
			pkgs: []pkg{{Path: ours("catalog"), Imports: []string{ours("wire"), ours("p2p"), "github.com/gin-gonic/gin"}}},
			want: []string{
				"catalog-deps catalog " + ours("p2p"),
				"catalog-deps catalog github.com/gin-gonic/gin",
				"p2p-private catalog " + ours("p2p"),
			},
		},
		{
			name: "catalog, its tests, and the daemon import bbolt",
			pkgs: []pkg{
				{Path: ours("catalog"), Imports: []string{"go.etcd.io/bbolt", ours("catalog/boltstore")}, TestImports: []string{"go.etcd.io/bbolt/errors"}},
				{Path: ours("node"), Imports: []string{"go.etcd.io/bbolt"}},
				{Path: ours("catalog/boltstorex"), Imports: []string{"go.etcd.io/bbolt"}},
			},
			want: []string{
				"bbolt-adapters catalog go.etcd.io/bbolt",
				"bbolt-adapters catalog go.etcd.io/bbolt/errors (test)",
				"bbolt-adapters catalog/boltstorex go.etcd.io/bbolt",
				"bbolt-adapters node go.etcd.io/bbolt",
				"catalog-deps catalog " + ours("catalog/boltstore"),
				"catalog-deps catalog go.etcd.io/bbolt",
			},
		},
		{
			name: "wire imports identity and a libp2p host",
			pkgs: []pkg{{Path: ours("wire"), Imports: []string{"bufio", ours("identity"), "github.com/libp2p/go-libp2p/core/host", "github.com/libp2p/go-libp2p/core/protocol"}}},
			want: []string{
				"wire-leaf wire " + ours("identity"),
				"wire-leaf wire github.com/libp2p/go-libp2p/core/host",
			},
		},
		{
			name: "the commands reach past the client and the daemon",
			pkgs: []pkg{
				{Path: ours("cmd/fx"), Name: "main", Imports: []string{ours("client"), ours("routing"), ours("catalog"), ours("invoke"), ours("fault")}},
				{Path: ours("cmd/fxnode"), Name: "main", Imports: []string{ours("node"), ours("node/hostinfo"), ours("node/taskstore"), ours("exec"), ours("batchverify")}},
			},
			want: []string{
				"cmd-thin cmd/fx " + ours("catalog"),
				"cmd-thin cmd/fx " + ours("invoke"),
				"cmd-thin cmd/fx " + ours("routing"),
				"cmd-thin cmd/fxnode " + ours("batchverify"),
				"cmd-thin cmd/fxnode " + ours("exec"),
				"cmd-thin cmd/fxnode " + ours("node/taskstore"),
			},
		},
		{
			name: "the model imports the simulation, the daemon and a libp2p host, and a command imports the simulation",
			pkgs: []pkg{
				{Path: ours("sim/model"), Imports: []string{ours("sim"), ours("node"), "github.com/libp2p/go-libp2p/p2p/net/mock", ours("routing")}},
				{Path: ours("cmd/fxnode"), Name: "main", Imports: []string{ours("sim")}},
			},
			want: []string{
				"cmd-thin cmd/fxnode " + ours("sim"),
				"sim-model-pure sim/model " + ours("sim"),
				"sim-model-pure sim/model " + ours("node"),
				"sim-model-pure sim/model github.com/libp2p/go-libp2p/p2p/net/mock",
			},
		},
		{
			name: "the daemon imports the client, and routing's tests do",
			pkgs: []pkg{
				{Path: ours("node"), Imports: []string{ours("client")}, TestImports: []string{ours("client")}},
				{Path: ours("routing"), TestImports: []string{ours("client")}},
			},
			want: []string{
				"client-private node " + ours("client"),
				"client-private-tests routing " + ours("client") + " (test)",
			},
		},
		{
			name: "routing and a command import p2p",
			pkgs: []pkg{
				{Path: ours("routing"), Imports: []string{ours("p2p")}},
				{Path: ours("cmd/fx"), Name: "main", Imports: []string{ours("p2p")}},
			},
			want: []string{"cmd-thin cmd/fx " + ours("p2p"), "p2p-private cmd/fx " + ours("p2p"), "p2p-private routing " + ours("p2p")},
		},
		{
			name: "exec imports libp2p",
			pkgs: []pkg{{Path: ours("exec"), Imports: []string{"context", libp2pCore}}},
			want: []string{"exec-stdlib exec " + libp2pCore},
		},
		{
			name: "exec implementation imports multiformats and routing",
			pkgs: []pkg{{Path: ours("exec/shell"), Imports: []string{"github.com/multiformats/go-multiaddr", ours("exec"), ours("routing")}}},
			want: []string{
				"exec-stdlib exec/shell github.com/multiformats/go-multiaddr",
				"exec-stdlib exec/shell " + ours("routing"),
			},
		},
		{
			name: "batchverify imports identity, libp2p and the curve",
			pkgs: []pkg{{Path: ours("batchverify"), Imports: []string{"crypto/sha512", "github.com/hdevalence/ed25519consensus", "filippo.io/edwards25519", ours("identity"), libp2pCore}}},
			want: []string{
				"batchverify-leaf batchverify filippo.io/edwards25519",
				"batchverify-leaf batchverify " + ours("identity"),
				"batchverify-leaf batchverify " + libp2pCore,
			},
		},
		{
			name: "exec/tenant imports exec and an executor",
			pkgs: []pkg{{Path: ours("exec/tenant"), Imports: []string{"os", ours("exec"), ours("exec/python")}}},
			want: []string{
				"exec-tenant-leaf exec/tenant " + ours("exec"),
				"exec-tenant-leaf exec/tenant " + ours("exec/python"),
			},
		},
		{
			name: "exec imports a third-party module",
			pkgs: []pkg{{Path: ours("exec/container"), Imports: []string{"github.com/docker/docker/client"}}},
			want: []string{"exec-stdlib exec/container github.com/docker/docker/client"},
		},
		{
			name: "exec tests import libp2p and node",
			pkgs: []pkg{{Path: ours("exec/slurm"), Imports: []string{ours("exec")}, TestImports: []string{"testing", "github.com/libp2p/go-libp2p", ours("node"), "go.uber.org/goleak"}}},
			want: []string{
				"exec-tests exec/slurm " + ours("node") + " (test)",
				"exec-tests exec/slurm github.com/libp2p/go-libp2p (test)",
				"node-private exec/slurm " + ours("node") + " (test)",
			},
		},
		{
			name: "a scheduler provider imports another, and an executor",
			pkgs: []pkg{
				{Path: ours("exec/slurm"), Imports: []string{ours("exec/pilot"), ours("exec/internal/schedcmd"), ours("fault"), ours("exec/pbs")}},
				{Path: ours("exec/internal/schedcmd"), Imports: []string{"os/exec", ours("exec/tenant")}},
			},
			want: []string{
				"exec-schedulers-apart exec/slurm " + ours("exec/pbs"),
				"exec-schedulers-apart exec/internal/schedcmd " + ours("exec/tenant"),
			},
		},
		{
			name: "a library imports a command",
			pkgs: []pkg{{Path: ours("node"), Imports: []string{ours("cmd/fxnode")}}},
			want: []string{"no-cmd node " + ours("cmd/fxnode")},
		},
		{
			name: "a command imports a command in its tests",
			pkgs: []pkg{{Path: ours("cmd/fx"), Name: "main", TestImports: []string{ours("cmd/fxnode/internal/flags")}}},
			want: []string{"no-cmd cmd/fx " + ours("cmd/fxnode/internal/flags") + " (test)"},
		},
		{
			name: "identity imports fault",
			pkgs: []pkg{{Path: ours("identity"), Imports: []string{ours("fault")}}},
			want: []string{"identity-alone identity " + ours("fault")},
		},
		{
			name: "identity tests import routing",
			pkgs: []pkg{{Path: ours("identity"), TestImports: []string{ours("routing")}}},
			want: []string{"identity-alone identity " + ours("routing") + " (test)"},
		},
		{
			name: "identity imports the DHT",
			pkgs: []pkg{{Path: ours("identity"), Imports: []string{"github.com/libp2p/go-libp2p-kad-dht"}}},
			want: []string{"identity-core-only identity github.com/libp2p/go-libp2p-kad-dht"},
		},
		{
			name: "routing imports node",
			pkgs: []pkg{{Path: ours("routing"), Imports: []string{ours("node")}}},
			want: []string{
				"routing-catalog-no-node routing " + ours("node"),
				"node-private routing " + ours("node"),
			},
		},
		{
			name: "catalog imports sim and an exec implementation",
			pkgs: []pkg{{Path: ours("catalog"), Imports: []string{ours("sim"), ours("exec/python")}}},
			want: []string{
				"catalog-deps catalog " + ours("exec/python"),
				"catalog-deps catalog " + ours("sim"),
				"routing-catalog-no-node catalog " + ours("exec/python"),
				"routing-catalog-no-node catalog " + ours("sim"),
			},
		},
		{
			name: "routing imports libp2p outside core",
			pkgs: []pkg{{Path: ours("routing"), Imports: []string{"github.com/libp2p/go-libp2p", "github.com/libp2p/go-libp2p-kad-dht", "github.com/libp2p/go-libp2p/p2p/host/basic", libp2pCore}}},
			want: []string{
				"routing-catalog-core-only routing github.com/libp2p/go-libp2p",
				"routing-catalog-core-only routing github.com/libp2p/go-libp2p-kad-dht",
				"routing-catalog-core-only routing github.com/libp2p/go-libp2p/p2p/host/basic",
			},
		},
		{
			name: "catalog tests import pubsub",
			pkgs: []pkg{{Path: ours("catalog"), TestImports: []string{"github.com/libp2p/go-libp2p-pubsub"}}},
			want: []string{"routing-catalog-core-only catalog github.com/libp2p/go-libp2p-pubsub (test)"},
		},
		{
			name: "a library imports node's subpackage",
			pkgs: []pkg{{Path: ours("fxclient"), Imports: []string{ours("node/hostinfo")}}},
			want: []string{"node-private fxclient " + ours("node/hostinfo")},
		},
		{
			name: "the root imports node in its tests",
			pkgs: []pkg{{Path: module, TestImports: []string{ours("node")}}},
			want: []string{"node-private  " + ours("node") + " (test)"},
		},
		{
			name: "fault imports identity",
			pkgs: []pkg{{Path: ours("fault"), Imports: []string{ours("identity")}, TestImports: []string{ours("identity")}}},
			want: []string{"fault-alone fault " + ours("identity")},
		},
		{
			name: "require imports routing and a third-party module",
			pkgs: []pkg{{Path: ours("require"), Imports: []string{"strings", ours("fault"), ours("routing"), "github.com/fxamacker/cbor/v2"}}},
			want: []string{
				"require-leaf require github.com/fxamacker/cbor/v2",
				"require-leaf require " + ours("routing"),
			},
		},
		{
			name: "the web view imports the task store and invoke",
			pkgs: []pkg{{Path: ours("node/webview"), Imports: []string{"net/http", ours("routing"), ours("node/taskstore"), ours("invoke")}}},
			want: []string{
				"webview-sees-no-inputs node/webview " + ours("invoke"),
				"webview-sees-no-inputs node/webview " + ours("node/taskstore"),
			},
		},
		{
			name: "the audit log imports fault",
			pkgs: []pkg{{Path: ours("node/audit"), Imports: []string{"os", ours("fault")}}},
			want: []string{"audit-leaf node/audit " + ours("fault")},
		},
		{
			name: "require tests import catalog",
			pkgs: []pkg{{Path: ours("require"), TestImports: []string{"testing", ours("catalog")}}},
			want: []string{"require-leaf require " + ours("catalog") + " (test)"},
		},
	}

	covered := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range checkImports(tc.pkgs, importRules()) {
				rel, _ := ourRel(v.pkg)
				s := v.rule.id + " " + rel + " " + v.imp
				if v.inTest {
					s += " (test)"
				}
				got = append(got, s)
				if v.String() == "" || !strings.Contains(v.String(), v.rule.says) {
					t.Errorf("violation %q does not state its rule", v)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("violations:\n got %q\nwant %q", got, want)
			}
		})
		for _, w := range tc.want {
			id, _, _ := strings.Cut(w, " ")
			covered[id] = true
		}
	}
	for _, r := range importRules() {
		if !covered[r.id] {
			t.Errorf("no case breaks rule %s", r.id)
		}
	}
}

func TestPackageDocRules(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		pkgName string
		dirName string
		wantErr string // a part of the error; "" for none
	}{
		{
			name:    "library with doc.go",
			files:   map[string]string{"doc.go": "// Package routing describes endpoints.\npackage routing\n", "hardware.go": "package routing\n"},
			pkgName: "routing", dirName: "routing",
		},
		{
			name:    "library comment over several lines",
			files:   map[string]string{"doc.go": "// Package hostinfo\n// detects the host.\npackage hostinfo\n"},
			pkgName: "hostinfo", dirName: "hostinfo",
		},
		{
			name:    "library without doc.go",
			files:   map[string]string{"catalog.go": "// Package catalog holds functions.\npackage catalog\n"},
			pkgName: "catalog", dirName: "catalog",
			wantErr: "no doc.go",
		},
		{
			name:    "doc.go without comment",
			files:   map[string]string{"doc.go": "package exec\n"},
			pkgName: "exec", dirName: "exec",
			wantErr: "doc.go has no package comment",
		},
		{
			name:    "detached comment",
			files:   map[string]string{"doc.go": "// Package exec runs tasks.\n\npackage exec\n"},
			pkgName: "exec", dirName: "exec",
			wantErr: "doc.go has no package comment",
		},
		{
			name:    "comment of another package",
			files:   map[string]string{"doc.go": "// Package execution runs tasks.\npackage exec\n"},
			pkgName: "exec", dirName: "exec",
			wantErr: `want "Package exec ..."`,
		},
		{
			name:    "comment not saying Package",
			files:   map[string]string{"doc.go": "// This package runs tasks.\npackage exec\n"},
			pkgName: "exec", dirName: "exec",
			wantErr: `starts "This package runs tasks."`,
		},
		{
			name:    "command saying Command",
			files:   map[string]string{"main.go": "// Command fxnode runs an fxmesh node.\npackage main\n"},
			pkgName: "main", dirName: "fxnode",
		},
		{
			name:    "command named as go doc does",
			files:   map[string]string{"doc.go": "// Fx calls functions on the mesh.\npackage main\n", "main.go": "package main\n"},
			pkgName: "main", dirName: "fx",
		},
		{
			name:    "command without comment",
			files:   map[string]string{"main.go": "package main\n"},
			pkgName: "main", dirName: "fx",
			wantErr: "no package comment",
		},
		{
			name:    "command with a vague comment",
			files:   map[string]string{"main.go": "// Main entry point.\npackage main\n"},
			pkgName: "main", dirName: "fx",
			wantErr: `want "Command ..."`,
		},
		{
			name:    "tests only",
			files:   map[string]string{"arch_test.go": "package fxmesh_test\n"},
			pkgName: "fxmesh", dirName: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			var goFiles []string
			for name, src := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(src)}
				if !strings.HasSuffix(name, "_test.go") {
					goFiles = append(goFiles, name)
				}
			}
			slices.Sort(goFiles)
			err := checkPackageDoc(fsys, tc.pkgName, tc.dirName, goFiles)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("checkPackageDoc: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("checkPackageDoc = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// TestListPackagesReportsErrors shows that packages go list cannot load are
// reported, not lost, and do not hide the others.
func TestListPackagesReportsErrors(t *testing.T) {
	t.Setenv("GOFLAGS", "-mod=readonly") // never look the missing import up
	t.Setenv("GOWORK", "off")
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":       "module example.com/m\n\ngo 1.22\n",
		"ok/ok.go":     "package ok\n",
		"bad/bad.go":   "package bad\n\nimport _ \"example.com/m/missing\"\n",
		"mixed/a.go":   "package a\n",
		"mixed/b.go":   "package b\n",
		"empty/README": "no Go here\n",
	}
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pkgs, loadErrs, err := listPackages(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range pkgs {
		paths = append(paths, p.Path)
	}
	if !slices.Contains(paths, "example.com/m/ok") || !slices.Contains(paths, "example.com/m/bad") {
		t.Errorf("listed %q, want ok and bad among them", paths)
	}
	for _, want := range []string{
		"example.com/m/bad: bad/bad.go:3:8: ",
		"package example.com/m/missing",
		"example.com/m/mixed: found packages a (a.go) and b (b.go)",
	} {
		if !slices.ContainsFunc(loadErrs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("errors %q lack %q", loadErrs, want)
		}
	}
}

// stateLiterals returns the places (file:line) in src where something named
// State, or a field .State, is compared (== or !=) with a string literal:
// task states are typed constants (invoke.State), never raw strings.
func stateLiterals(name string, src []byte) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, 0)
	if err != nil {
		return []string{name + ": " + err.Error()}
	}
	isState := func(e ast.Expr) bool {
		switch x := e.(type) {
		case *ast.SelectorExpr:
			return x.Sel.Name == "State"
		case *ast.Ident:
			return x.Name == "State" || x.Name == "state"
		}
		return false
	}
	isString := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && lit.Kind == token.STRING
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		be, ok := n.(*ast.BinaryExpr)
		if !ok || be.Op != token.EQL && be.Op != token.NEQ {
			return true
		}
		if isState(be.X) && isString(be.Y) || isState(be.Y) && isString(be.X) {
			out = append(out, fmt.Sprintf("%s:%d", name, fset.Position(be.Pos()).Line))
		}
		return true
	})
	return out
}

// TestStateLiterals: the check above finds what it should and nothing else.
func TestStateLiterals(t *testing.T) {
	src := []byte(`package p
func f() {
	if st.State != "done" && st.State != invoke.StateFailed {}
	if "failed" == t.Status.State {}
	if state == "running" {}
	if st.Name == "done" || st.State == s {}
}`)
	got := stateLiterals("p.go", src)
	want := []string{"p.go:3", "p.go:4", "p.go:5"}
	if !slices.Equal(got, want) {
		t.Fatalf("stateLiterals = %v, want %v", got, want)
	}
}
