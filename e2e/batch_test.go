package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec/exectest"
	"github.com/fxmesh/fxmesh/fault"
)

// markSource records each run of an input in a file of the endpoint that
// ran it (named by the worker's parent, the fxnode process), so that runs
// are counted where they happen, not from what the client was told.
const markSource = `
import os, time

def mark(i, d):
    with open(os.path.join(d, "%d.runs" % os.getppid()), "a") as f:
        f.write("%d\n" % i)
    time.sleep(0.02)
    return i
`

// runsOf counts the runs of each input recorded in dir, and those of the
// endpoint process pid.
func runsOf(t *testing.T, dir string, pid int) (all map[int]int, byPid int) {
	t.Helper()
	all = map[int]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.runs"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Fields(string(b)) {
			i, err := strconv.Atoi(line)
			if err != nil {
				continue // a line cut short by a kill
			}
			all[i]++
			if filepath.Base(f) == fmt.Sprintf("%d.runs", pid) {
				byPid++
			}
		}
	}
	return all, byPid
}

// TestBatchKilledEndpointAtMostOnce spreads a batch over two endpoints and
// kills one (SIGKILL) half-way through its share. Without --retries no
// input runs twice, counted on the endpoints, and the inputs the killed
// endpoint had taken are reported failed (system); with --retries 1 every
// input has exactly one result.
func TestBatchKilledEndpointAtMostOnce(t *testing.T) {
	processes(t)
	for _, retries := range []int{0, 1} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) {
			root := t.TempDir()
			home := filepath.Join(root, "home")
			user, err := fx(t, home, "id", "init")
			if err != nil {
				t.Fatal(err)
			}
			boot := startNode(t, filepath.Join(root, "boot"), "bootstrap", "--dir", filepath.Join(root, "boot"), "--listen", "/ip4/127.0.0.1/tcp/0")
			var eps []*proc
			for _, name := range []string{"a", "b"} {
				dir := filepath.Join(root, name)
				fxnodeInit(t, home, dir, "--name", name, "--owner", strings.TrimSpace(user), "--bootstrap", boot.addr())
				eps = append(eps, startNode(t, dir, "run", "--dir", dir))
			}
			src := filepath.Join(root, "mark.py")
			if err := os.WriteFile(src, []byte(markSource), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := fx(t, home, "function", "register", "mark", "--python", src, "--entry", "mark", "--bootstrap", boot.addr()); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "both endpoints listed", func() error {
				list, err := listEndpoints(t, home, boot.addr())
				if err == nil && len(list) != 2 {
					err = fmt.Errorf("%d endpoints", len(list))
				}
				return err
			})
			runs := exectest.SharedDir(t) // the workers write into it, as worker uids
			const n = 600
			var in strings.Builder
			for i := range n {
				fmt.Fprintf(&in, "{\"args\": [%d, %q]}\n", i, runs)
			}
			input := filepath.Join(root, "in.jsonl")
			if err := os.WriteFile(input, []byte(in.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			var (
				out    string
				runErr error
				wg     sync.WaitGroup
			)
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, runErr = fx(t, home, "batch", "mark", "--input", input, "--retries", strconv.Itoa(retries), "--bootstrap", boot.addr())
			}()
			victim := eps[0]
			pid := victim.cmd.Process.Pid
			deadline := time.Now().Add(60 * time.Second)
			for {
				if _, mine := runsOf(t, runs, pid); mine >= 40 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the endpoint to kill ran nothing of the batch")
				}
				time.Sleep(10 * time.Millisecond)
			}
			victim.signal(syscall.SIGKILL)
			<-victim.done
			wg.Wait()

			results := map[int]int{}
			lost := 0
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				var r struct {
					Index int `json:"index"`
					Error *struct {
						Kind    string `json:"kind"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("output line %q: %v", sc.Text(), err)
				}
				results[r.Index]++
				if r.Error != nil {
					if r.Error.Kind != string(fault.System) || !strings.Contains(r.Error.Message, "may have run") {
						t.Errorf("input %d failed: %+v", r.Index, *r.Error)
					}
					lost++
				}
			}
			for i := range n {
				if results[i] != 1 {
					t.Fatalf("input %d has %d results", i, results[i])
				}
			}
			all, mine := runsOf(t, runs, pid)
			twice := 0
			for i := range n {
				if all[i] > 1 {
					twice++
				}
			}
			t.Logf("retries=%d: killed endpoint ran %d inputs; %d inputs reported lost; %d inputs ran twice; fx: %v", retries, mine, lost, twice, runErr)
			switch retries {
			case 0:
				if twice > 0 {
					t.Fatalf("%d inputs ran twice without --retries", twice)
				}
				if lost == 0 {
					t.Fatal("no input reported lost with the killed endpoint")
				}
				if code := exitCode(runErr); code != fault.System.ExitCode() {
					t.Fatalf("fx batch exited %d (%v), want %d", code, runErr, fault.System.ExitCode())
				}
			case 1:
				if lost > 0 || runErr != nil {
					t.Fatalf("with --retries 1: %d inputs lost, fx: %v", lost, runErr)
				}
			}
		})
	}
}
