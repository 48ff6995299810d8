package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// memTotal reads MemTotal from /proc/meminfo.
func memTotal(t *testing.T) uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Skip("no /proc/meminfo")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(fields[1], 10, 64)
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal")
	return 0
}

// TestMeshOfRealBinaries is issue 2's acceptance: a bootstrap and three
// endpoints as processes; fx lists them; one endpoint is stopped, the
// bootstrap is killed, and the rest of the mesh is still seen.
func TestMeshOfRealBinaries(t *testing.T) {
	processes(t)
	root := t.TempDir()
	home := filepath.Join(root, "home")
	if _, err := fx(t, home, "id", "init"); err != nil {
		t.Fatal(err)
	}
	boot := startNode(t, filepath.Join(root, "boot"), "bootstrap", "--dir", filepath.Join(root, "boot"), "--listen", "/ip4/127.0.0.1/tcp/0")
	var eps []*proc
	names := []string{"ep-a", "ep-b", "ep-c"}
	for _, name := range names {
		dir := filepath.Join(root, name)
		out, err := runInit(dir, name, boot.addr())
		if err != nil {
			t.Fatalf("fxnode init: %v: %s", err, out)
		}
	}
	start := time.Now()
	for _, name := range names {
		dir := filepath.Join(root, name)
		eps = append(eps, startNode(t, dir, "run", "--dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0"))
	}
	t.Logf("three endpoints ready %s after start", time.Since(start).Round(time.Millisecond))

	// Each endpoint's record is in the DHT once it is ready: listing them
	// needs no more than a lookup (the deadline is for a hung one).
	var got []endpoint
	eventually(t, time.Minute, "three endpoints listed", func() error {
		var err error
		if got, err = listEndpoints(t, home, boot.addr()); err != nil {
			return err
		}
		if len(got) != 3 {
			return fmt.Errorf("listed %d endpoints", len(got))
		}
		return nil
	})
	t.Logf("three endpoints listed %s after start", time.Since(start).Round(time.Millisecond))
	var gotNames []string
	mem := memTotal(t)
	for _, e := range got {
		gotNames = append(gotNames, e.Name)
		if !e.Online {
			t.Errorf("%s not online", e.Name)
		}
		if e.Hardware.CPUs != runtime.NumCPU() {
			t.Errorf("%s: cpus = %d, want %d", e.Name, e.Hardware.CPUs, runtime.NumCPU())
		}
		if diff := float64(e.Hardware.MemoryBytes) - float64(mem); diff > 0.05*float64(mem) || -diff > 0.05*float64(mem) {
			t.Errorf("%s: memory_bytes = %d, machine has %d", e.Name, e.Hardware.MemoryBytes, mem)
		}
		if e.Hardware.Arch != runtime.GOARCH || e.UpdatedAt.IsZero() || len(e.Addrs) == 0 {
			t.Errorf("%s: incomplete record %+v", e.Name, e)
		}
	}
	sort.Strings(gotNames)
	if strings.Join(gotNames, ",") != strings.Join(names, ",") {
		t.Fatalf("listed %v, want %v", gotNames, names)
	}

	// Stop ep-a cleanly: it must be gone or offline within 30 s.
	eps[0].signal(syscall.SIGTERM)
	select {
	case <-eps[0].done:
	case <-time.After(10 * time.Second):
		t.Fatal("ep-a did not exit within 10s of SIGTERM")
	}
	if code := eps[0].cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("ep-a exited %d after SIGTERM", code)
	}
	eventually(t, 30*time.Second, "ep-a offline or gone", func() error {
		got, err := listEndpoints(t, home, boot.addr())
		if err != nil {
			return err
		}
		for _, e := range got {
			if e.Name == "ep-a" && e.Online {
				return fmt.Errorf("ep-a still online")
			}
		}
		return nil
	})

	// Kill the bootstrap: entering through ep-b still shows ep-b and ep-c.
	boot.signal(syscall.SIGKILL)
	<-boot.done
	eventually(t, 15*time.Second, "remaining endpoints listed without the bootstrap", func() error {
		got, err := listEndpoints(t, home, eps[1].addr())
		if err != nil {
			return err
		}
		online := map[string]bool{}
		for _, e := range got {
			if e.Online {
				online[e.Name] = true
			}
		}
		if len(online) != 2 || !online["ep-b"] || !online["ep-c"] {
			return fmt.Errorf("online: %v", online)
		}
		return nil
	})
}

func runInit(dir, name, boot string) (string, error) {
	out, err := execCommand(bin.fxnode, "init", "--dir", dir, "--name", name, "--bootstrap", boot).CombinedOutput()
	return string(out), err
}
