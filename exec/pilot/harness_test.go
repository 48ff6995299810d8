package pilot

// The tests' transport: exec knows nothing of libp2p, so here a block's
// agent dials a Unix socket of the test and presents the token that
// Prepare wrote into its block's directory; the test attaches it under
// that token, as the node attaches a stream under its peer's ID. The
// agent is this test binary, run again by the block's job script with
// PILOT_TEST_AGENT naming the block's directory.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/exec/python"
	"github.com/fxmesh/fxmesh/exec/shell"
)

const agentEnv = "PILOT_TEST_AGENT"

// refusedAccount is an account the harness's Prepare makes no block for,
// as a node whose account may not reach its block's directory.
const refusedAccount = "acct-refused"

// agentFile is what Prepare writes for a test agent.
type agentFile struct {
	Socket  string `json:"socket"`
	Token   string `json:"token"`
	Workers int    `json:"workers"`
	MaxOut  int    `json:"max_out"`
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(agentEnv); dir != "" {
		if err := runTestAgent(dir); err != nil {
			fmt.Fprintln(os.Stderr, "test agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runTestAgent is a block's agent: it dials the test's socket and serves.
func runTestAgent(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "agent.json"))
	if err != nil {
		return err
	}
	var f agentFile
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	lim := exec.Limits{MaxOutputBytes: f.MaxOut}
	py, err := python.New(python.Config{Workers: f.Workers, Limits: lim})
	if err != nil {
		return err
	}
	defer py.Close()
	sh, err := shell.New(shell.Config{Workers: f.Workers, Limits: lim})
	if err != nil {
		return err
	}
	defer sh.Close()
	conn, err := net.Dial("unix", f.Socket)
	if err != nil {
		return err
	}
	if _, err := conn.Write([]byte(f.Token + "\n")); err != nil {
		return err
	}
	host, _ := os.Hostname()
	return RunAgent(context.Background(), conn, AgentConfig{
		Executors: map[exec.Kind]exec.Executor{exec.KindPython: py, exec.KindShell: sh},
		Workers:   f.Workers, Host: host,
	})
}

// testLogger routes logs to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// rig is a manager with a local provider and the test's socket.
type rig struct {
	*Manager
	local    *Local
	ln       net.Listener
	sockDir  string
	wg       sync.WaitGroup
	marker   string // in every agent's environment, to find its processes
	attached chan string
	once     sync.Once
}

// Close closes the manager, then the socket.
func (r *rig) Close() error {
	err := r.Manager.Close()
	r.once.Do(func() {
		r.ln.Close()
		r.wg.Wait()
		os.RemoveAll(r.sockDir)
	})
	return err
}

// newRig starts a manager of local blocks; edit adjusts its config.
func newRig(t testing.TB, edit func(*Config)) *rig {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	sockDir, err := os.MkdirTemp("", "pilot")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(sockDir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	local, err := NewLocal(filepath.Join(base, "local"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := filepath.Join(base, "blocks")
	if err := os.Mkdir(blocks, 0o700); err != nil {
		t.Fatal(err)
	}
	r := &rig{local: local, ln: ln, sockDir: sockDir, marker: "pilot-test-" + randHex(6), attached: make(chan string, 64)}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Provider: local, Prefix: "fxtest-", Dir: blocks,
		WorkersPerNode: 2, MaxBlocks: 1, MinBlocks: 1,
		Heartbeat: 200 * time.Millisecond, ScalePeriod: 200 * time.Millisecond,
		Limits: exec.Limits{MaxOutputBytes: testMaxOutput},
		Logger: testLogger(t),
	}
	if edit != nil {
		edit(&cfg)
	}
	cfg.Prepare = func(name, dir, user string) (Credential, error) {
		if user == refusedAccount {
			return Credential{}, fmt.Errorf("account %s may not reach %s", user, dir)
		}
		tok := randHex(16)
		b, _ := json.Marshal(agentFile{Socket: ln.Addr().String(), Token: tok, Workers: cfg.WorkersPerNode, MaxOut: testMaxOutput})
		if err := os.WriteFile(filepath.Join(dir, "agent.json"), b, 0o600); err != nil {
			return Credential{}, err
		}
		// PILOT_BLOCK names the block to the functions it runs.
		return Credential{Identity: tok, Command: fmt.Sprintf("%s=%s MARKER=%s PILOT_BLOCK=%s exec %s", agentEnv, dir, r.marker, name, self)}, nil
	}
	m, err := New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	r.Manager = m
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tok, err := readLine(c)
			if err != nil {
				c.Close()
				continue
			}
			if err := m.Attach(tok, c); err != nil {
				c.Close()
				continue
			}
			select {
			case r.attached <- tok:
			default:
			}
		}
	}()
	return r
}

// readLine reads a line of at most 100 bytes, one byte at a time, so
// that nothing after it is taken from conn.
func readLine(c net.Conn) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	var s []byte
	for len(s) < 100 {
		if _, err := c.Read(b[:]); err != nil {
			return "", err
		}
		if b[0] == '\n' {
			return string(s), nil
		}
		s = append(s, b[0])
	}
	return "", fmt.Errorf("line too long")
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// markedProcesses lists the pids whose environment holds marker.
func markedProcesses(marker string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && strings.Contains(string(b), "MARKER="+marker) {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
				continue // a zombie: dead, waiting for its parent
			}
			out = append(out, e.Name())
		}
	}
	return out
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
