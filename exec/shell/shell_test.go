//go:build unix

package shell

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
)

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func newExec(t testing.TB, cfg Config) *Executor {
	t.Helper()
	if cfg.WorkDir == "" {
		cfg.WorkDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func shFn(id, command string) exec.Function {
	return exec.Function{ID: id, Kind: exec.KindShell, Command: command}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func outputJSON(code int, stdout, stderr string) json.RawMessage {
	b, _ := json.Marshal(output{code, stdout, stderr})
	return b
}

const testMaxOutput = 4 << 10

func TestConformance(t *testing.T) {
	echo := shFn("echo", "echo {n} and {word}")
	exectest.Run(t, func(t *testing.T) exec.Executor {
		return newExec(t, Config{Workers: 4, Limits: exec.Limits{MaxOutputBytes: testMaxOutput}})
	}, exectest.Fixtures{
		Compute: func(i int) exectest.Case {
			return exectest.Case{
				Function: echo,
				Kwargs:   raw(fmt.Sprintf(`{"n": %d, "word": "w%d"}`, i, i)),
				Want:     outputJSON(0, fmt.Sprintf("%d and w%d\n", i, i), ""),
			}
		},
		Fail:           exectest.Case{Function: shFn("fail", `sh -c "exit 3"`)},
		Sleep:          exectest.Case{Function: shFn("sleep", "sleep 30")},
		Print:          exectest.Case{Function: shFn("print", "echo hello from the shell"), WantStdout: "hello from the shell\n"},
		BigOutput:      exectest.Case{Function: shFn("big", "seq 1 50000"), WantStdout: "1\n2\n3\n"},
		MaxOutputBytes: testMaxOutput,
	})
}

func execute(t *testing.T, e *Executor, command, kwargs string) exec.Result {
	t.Helper()
	r, err := e.Execute(t.Context(), exec.Task{Function: shFn("t", command), Kwargs: raw(kwargs)})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return r
}

// TestNoShell: values reach the program as literal arguments, however
// they look to a shell.
func TestNoShell(t *testing.T) {
	e := newExec(t, Config{})
	defer e.Close()
	var rnd [8]byte
	rand.Read(rnd[:])
	pwned := filepath.Join(os.TempDir(), "pwned-"+hex.EncodeToString(rnd[:]))
	for _, v := range []string{
		"; touch " + pwned,
		"$(touch " + pwned + ")",
		"`touch " + pwned + "`",
		"| touch " + pwned,
		"&& touch " + pwned,
		"\n touch " + pwned,
		"'; touch " + pwned + "; '",
		"\"; touch " + pwned + "; \"",
		"$HOME ~ * {x} {{",
	} {
		t.Run(v, func(t *testing.T) {
			kw, _ := json.Marshal(map[string]string{"msg": v})
			for _, tmpl := range []string{"echo {msg}", `echo "{msg}"`, "echo '{msg}'", "echo x{msg}x"} {
				r := execute(t, e, tmpl, string(kw))
				if r.Error != nil {
					t.Fatalf("%s: %v", tmpl, r.Error)
				}
				want := v + "\n"
				if strings.HasSuffix(tmpl, "x") {
					want = "x" + v + "x\n"
				}
				if r.Stdout != want {
					t.Errorf("%s printed %q, want %q", tmpl, r.Stdout, want)
				}
			}
			if _, err := os.Stat(pwned); err == nil {
				os.Remove(pwned)
				t.Fatalf("%s exists: a value reached a shell", pwned)
			}
		})
	}
}

func TestExecute(t *testing.T) {
	e := newExec(t, Config{Limits: exec.Limits{MaxResultBytes: 200}})
	defer e.Close()
	tests := []struct {
		name, command, kwargs string
		stdout                string
		exit                  int
		kind                  fault.Kind
		msg                   string
	}{
		{"numbers and bools", "echo {i} {f} {e} {b} {neg}", `{"i": 3, "f": 1.50, "e": 1e3, "b": true, "neg": -2}`, "3 1.50 1000 true -2\n", 0, "", ""},
		{"placeholder in a word", "echo --out={file}.txt", `{"file": "a b"}`, "--out=a b.txt\n", 0, "", ""},
		{"quoted blanks", `printf '%s|' 'a  b' "c d" {x}`, `{"x": "e  f"}`, "a  b|c d|e  f|", 0, "", ""},
		{"empty arguments", `printf '[%s]' '' {x} ""`, `{"x": ""}`, "[][][]", 0, "", ""},
		{"braces", "echo {{}} {{x}}", ``, "{} {x}\n", 0, "", ""},
		{"stderr", `sh -c "echo oops >&2; exit 2"`, ``, "", 2, fault.User, "exit status 2"},
		{"signal", `sh -c "kill -SEGV $$"`, ``, "", 128 + 11, fault.User, "signal 11"},
		{"missing argument", "echo {a} {b}", `{"a": 1}`, "", 0, fault.Invalid, `missing argument "b"`},
		{"unknown argument", "echo {a}", `{"a": 1, "c": 2}`, "", 0, fault.Invalid, `unknown argument "c"`},
		{"null argument", "echo {a}", `{"a": null}`, "", 0, fault.Invalid, "null"},
		{"object argument", "echo {a}", `{"a": {}}`, "", 0, fault.Invalid, "arrays and objects"},
		{"bad template", "echo {a", `{"a": 1}`, "", 0, fault.Invalid, "opens no {name}"},
		{"no such program", "no-such-program-fx {a}", `{"a": 1}`, "", 0, fault.User, "not found"},
		{"result too large", "seq 1 100", ``, "", 0, fault.TooLarge, "over the limit of 200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := execute(t, e, tc.command, tc.kwargs)
			if tc.kind == "" {
				if r.Error != nil {
					t.Fatalf("Error = %+v (stderr %q)", r.Error, r.Stderr)
				}
				if r.Stdout != tc.stdout {
					t.Errorf("Stdout = %q, want %q", r.Stdout, tc.stdout)
				}
				if string(r.Value) != string(outputJSON(0, tc.stdout, "")) {
					t.Errorf("Value = %s", r.Value)
				}
				return
			}
			if r.Error == nil || r.Error.Kind != tc.kind || !strings.Contains(r.Error.Message, tc.msg) {
				t.Fatalf("Error = %+v, want kind %s with %q", r.Error, tc.kind, tc.msg)
			}
			if r.ExitCode != tc.exit {
				t.Errorf("ExitCode = %d, want %d", r.ExitCode, tc.exit)
			}
		})
	}
	r, err := e.Execute(t.Context(), exec.Task{Function: shFn("t", "echo {a}"), Args: raw(`[1]`), Kwargs: raw(`{"a":1}`)})
	if err != nil || r.Error == nil || r.Error.Kind != fault.Invalid {
		t.Errorf("positional args: err %v, Error %+v; want an invalid task", err, r.Error)
	}
}

// TestWorkDir: each task runs in a fresh directory, removed afterwards.
func TestWorkDir(t *testing.T) {
	parent := t.TempDir()
	e := newExec(t, Config{WorkDir: parent})
	defer e.Close()
	var dirs []string
	for range 2 {
		r := execute(t, e, `sh -c "pwd; ls; touch left-behind"`, ``)
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		dir, rest, _ := strings.Cut(r.Stdout, "\n")
		if rest != "" {
			t.Errorf("a fresh directory holds %q", rest)
		}
		if filepath.Dir(dir) != parent {
			t.Errorf("ran in %s, not under %s", dir, parent)
		}
		dirs = append(dirs, dir)
	}
	if dirs[0] == dirs[1] {
		t.Errorf("two tasks ran in %s", dirs[0])
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Errorf("%s still holds %d entries", parent, len(left))
	}
	if _, err := New(Config{WorkDir: filepath.Join(parent, "missing")}); !fault.Is(err, fault.Invalid) {
		t.Errorf("New with a missing work dir: %v", err)
	}
}

// TestTimeoutKillsGroup: a timeout kills what the command started too.
func TestTimeoutKillsGroup(t *testing.T) {
	e := newExec(t, Config{})
	defer e.Close()
	// The background sleep never ends by itself, and holds the command's
	// output open: Execute returns only if the timeout kills it too.
	type outcome struct {
		r   exec.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := e.Execute(context.Background(), exec.Task{
			Function: shFn("t", `sh -c "sleep 3600 & echo $!; wait"`),
			Timeout:  2 * time.Second,
		})
		done <- outcome{r, err}
	}()
	var r exec.Result
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatal(o.err)
		}
		r = o.r
	case <-time.After(time.Minute):
		t.Fatal("Execute has not returned a minute after its 2s timeout: it waits for the background sleep")
	}
	if r.Error == nil || r.Error.Kind != fault.Timeout || r.ExitCode != 128+9 {
		t.Fatalf("Error %+v, ExitCode %d; want a timeout and 137", r.Error, r.ExitCode)
	}
	var pid int
	if _, err := fmt.Sscan(r.Stdout, &pid); err != nil {
		t.Fatalf("stdout %q: %v", r.Stdout, err)
	}
	t.Cleanup(func() {
		if alive(pid) { // the test failed: leave no hour-long sleep behind
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background sleep %d outlived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{{Workers: -1}, {DefaultTimeout: -1}, {Limits: exec.Limits{MaxResultBytes: -1}}} {
		if _, err := New(cfg); !fault.Is(err, fault.Invalid) {
			t.Errorf("New(%+v) = %v, want kind invalid", cfg, err)
		}
	}
}

// TestUmaskAndPATH: a command runs with umask 077 and PATH of the system's
// directories, whatever this process's umask and PATH and Config.Env's
// PATH are: a file it makes is 0600, and a program found only through this
// process's PATH is not found. Both ways of setting the umask are covered:
// a thread of its own (Linux), and a shell before the program.
func TestUmaskAndPATH(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "fx-only-here"), []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(filepath.ListSeparator)+os.Getenv("PATH"))
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, viaShell := range []bool{false, true} {
		t.Run(fmt.Sprintf("via shell %v", viaShell), func(t *testing.T) {
			trampolineOnly = viaShell
			defer func() { trampolineOnly = false }()
			e := newExec(t, Config{Env: []string{"PATH=" + bin + ":/usr/bin", "HOME=/nowhere"}})
			defer e.Close()
			r := execute(t, e, `sh -c 'umask; echo "$PATH"; echo x > f; stat -c %a f' {x}`, `{"x": "-"}`)
			if want := "0077\n" + PATH + "\n600\n"; r.Error != nil || r.Stdout != want {
				t.Fatalf("umask, PATH and a new file's mode: %q (%+v); want %q", r.Stdout, r.Error, want)
			}
			r = execute(t, e, "fx-only-here", "")
			if r.Error == nil || r.Error.Type != "StartError" || !strings.Contains(r.Error.Message, "not found in "+PATH) {
				t.Fatalf("a program only this process's PATH finds: %q, %+v", r.Stdout, r.Error)
			}
		})
	}
}
