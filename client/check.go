package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/exec/shell"
	"github.com/fxmesh/fxmesh/fault"
)

// CheckShell checks a shell function's command template before it is
// registered: it must parse (exec/shell's grammar), and it may not hold
// shell syntax outside quotes — no shell runs a template, so a | or > would
// reach the program as text. The error (invalid) says where and how to
// run a shell explicitly.
func CheckShell(template string) error {
	t, err := shell.Parse(template)
	if err != nil {
		return fault.E(fault.Invalid, "", "--shell template: %v", strings.TrimPrefix(err.Error(), "exec/shell: template: "))
	}
	if syn, ok := t.ShellSyntax(); ok {
		return fault.E(fault.Invalid, "",
			"--shell template: %q at offset %d is shell syntax, but templates are not run by a shell: the program would get %q as an argument. "+
				"Quote it ('%s') if the program should get it as text; to use a shell, write it out with the values as its arguments, "+
				`for example --shell 'sh -c "grep -c \"$1\" \"$2\" | sort" sh {pattern} {file}' (the endpoint must allow sh)`,
			syn.Op, syn.Offset, syn.Op, syn.Op)
	}
	return nil
}

// pythonCheck compiles the source on stdin as file argv[1] and prints, as
// JSON, the syntax error or the names the module defines at top level.
const pythonCheck = `
import ast, json, sys
src = sys.stdin.buffer.read()
try:
    tree = ast.parse(src, sys.argv[1])
    compile(tree, sys.argv[1], "exec")
except SyntaxError as e:
    print(json.dumps({"line": e.lineno or 0, "column": e.offset or 0, "message": e.msg, "executable": sys.executable}))
    sys.exit(0)
except ValueError as e:
    print(json.dumps({"line": 0, "column": 0, "message": str(e), "executable": sys.executable}))
    sys.exit(0)
defs, others = [], []
for n in tree.body:
    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        defs.append(n.name)
    elif isinstance(n, (ast.Assign, ast.AnnAssign)):
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
            others += [x.id for x in ast.walk(t) if isinstance(x, ast.Name)]
    elif isinstance(n, (ast.Import, ast.ImportFrom)):
        others += [(a.asname or a.name).split(".")[0] for a in n.names]
print(json.dumps({"defs": defs, "others": others, "executable": sys.executable}))
`

// CheckPython compiles a Python function's source with python (the
// client's interpreter; "" skips the check: the endpoint reports errors
// at the first call) and checks that entry is a name the module defines
// at top level (a def, a class, an assignment or an import). A syntax
// error fails with the file, line, column and message; a missing entry
// names the functions the file does define. Both are invalid.
func CheckPython(ctx context.Context, python, file, source, entry string) error {
	if python == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-I", "-c", pythonCheck, file)
	cmd.Stdin = strings.NewReader(source)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		// The interpreter failed, not the source: leave it to the endpoint.
		return nil
	}
	var r struct {
		Line, Column int
		Message      string
		Defs, Others []string
		Executable   string
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return nil
	}
	if r.Executable != "" {
		// The interpreter itself, not a launcher (pyenv's shim costs a
		// process of its own at each start): the next check starts it.
		python1.Lock()
		python1.path = r.Executable
		python1.Unlock()
	}
	if r.Message != "" {
		return fault.E(fault.Invalid, "", "%s:%d:%d: %s (Python could not compile the source)", file, r.Line, r.Column, r.Message)
	}
	for _, n := range append(r.Defs, r.Others...) {
		if n == entry {
			return nil
		}
	}
	msg := fmt.Sprintf("--entry %s: %s defines no %q", entry, file, entry)
	if s := Suggest(entry, append(r.Defs, r.Others...)); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	} else if len(r.Defs) > 0 {
		msg += "; it defines " + strings.Join(r.Defs, ", ")
	}
	return fault.E(fault.Invalid, "", "%s", msg)
}

// python1 is the interpreter a check found python3 to be.
var python1 struct {
	sync.Mutex // guards path
	path       string
}

// Python returns the client's Python interpreter: the one an earlier check
// in this process resolved python3 to (sys.executable), else python3 on
// PATH; "" when there is none.
func Python() string {
	python1.Lock()
	defer python1.Unlock()
	if python1.path != "" {
		return python1.path
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		return ""
	}
	return p
}
