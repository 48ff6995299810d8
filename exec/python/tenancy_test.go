package python

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	fxexec "github.com/fxmesh/fxmesh/exec"
)

// probeFn reports the worker it runs in, and remembers the mark of the
// call before in a module global.
var probeFn = pyFn("probe", `
import os
seen = None

def f(mark):
    global seen
    prev, seen = seen, mark
    return {"pid": os.getpid(), "prev": prev}
`, "f")

type probed struct {
	PID  int     `json:"pid"`
	Prev *string `json:"prev"`
}

func (p probed) prev() string {
	if p.Prev == nil {
		return "none"
	}
	return strconv.Quote(*p.Prev)
}

func runProbe(t *testing.T, p *Pool, tenant, mark string) probed {
	t.Helper()
	r, err := p.Execute(t.Context(), fxexec.Task{Tenant: tenant, Function: probeFn, Args: raw(fmt.Sprintf("[%q]", mark))})
	if err != nil {
		t.Fatalf("Execute for %q: %v", tenant, err)
	}
	if r.Error != nil {
		t.Fatalf("Execute for %q: %+v", tenant, r.Error)
	}
	var pr probed
	if err := json.Unmarshal(r.Value, &pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

// TestTenantsNeverShareWorker: a tenant's second call hits its warm
// worker; another tenant never gets that worker, nor sees its globals,
// even with one worker in all: the idle worker is killed and a fresh one
// started.
func TestTenantsNeverShareWorker(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			p := newPool(t, Config{Workers: workers})
			defer p.Close()
			a1 := runProbe(t, p, "alice", "a1")
			a2 := runProbe(t, p, "alice", "a2")
			if a2.PID != a1.PID || a2.Prev == nil || *a2.Prev != "a1" {
				t.Fatalf("alice's second call ran in pid %d (prev %s), want her warm worker %d (prev a1)", a2.PID, a2.prev(), a1.PID)
			}
			b := runProbe(t, p, "bob", "b1")
			if b.PID == a1.PID || b.Prev != nil {
				t.Fatalf("bob ran in pid %d with prev %s; alice's worker is %d", b.PID, b.prev(), a1.PID)
			}
			a3 := runProbe(t, p, "alice", "a3")
			if a3.PID == b.PID {
				t.Fatalf("alice ran in bob's worker %d", b.PID)
			}
			if workers == 1 {
				// Her worker was reclaimed for bob: killed, never handed over.
				if a3.PID == a1.PID || a3.Prev != nil {
					t.Fatalf("with one worker alice ran in pid %d (prev %s) after bob; her old one was %d", a3.PID, a3.prev(), a1.PID)
				}
				waitDead(t, a1.PID)
			}
			if st := p.Stats(); st.Workers != workers || st.Idle != workers || st.Queued != 0 {
				t.Fatalf("Stats = %+v", st)
			}
		})
	}
}

// waitDead waits until process pid is gone.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTenantFairness: with the pool full of one tenant's tasks and more
// of them queued, another tenant's task gets the first worker freed, not
// the last. (Alice's last task starts about 2.4 s after the first worker
// is freed: bob's fresh worker has that long to start.)
func TestTenantFairness(t *testing.T) {
	p := newPool(t, Config{Workers: 2})
	defer p.Close()
	slow := pyFn("slow", "import time\ndef f():\n    time.sleep(0.3)\n    return 0\n", "f")
	const nA = 10
	var (
		mu      sync.Mutex
		started = map[string][]time.Time{}
		wg      sync.WaitGroup
	)
	call := func(tenant string) {
		defer wg.Done()
		r, err := p.Execute(t.Context(), fxexec.Task{Tenant: tenant, Function: slow})
		if err == nil && r.Error != nil {
			err = r.Error
		}
		if err != nil {
			t.Errorf("%s: %v", tenant, err)
			return
		}
		mu.Lock()
		started[tenant] = append(started[tenant], r.Started)
		mu.Unlock()
	}
	wg.Add(nA)
	for range nA {
		go call("alice")
	}
	waitStats(t, p, func(st fxexec.Stats) bool { return st.Queued == nA-2 })
	wg.Add(1)
	go call("bob")
	waitStats(t, p, func(st fxexec.Stats) bool { return st.Queued == nA-1 })
	wg.Wait()
	last := time.Time{}
	for _, s := range started["alice"] {
		if s.After(last) {
			last = s
		}
	}
	if len(started["bob"]) != 1 || !started["bob"][0].Before(last) {
		t.Fatalf("bob's task started at %v, after alice's last at %v: it waited behind all of hers", started["bob"], last)
	}
}

func waitStats(t *testing.T, p *Pool, ok func(fxexec.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(p.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v after 20s", p.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestTenantsWaitForEachOther: many tenants, more than workers, calling
// at once all finish, each in workers of its own.
func TestTenantsWaitForEachOther(t *testing.T) {
	p := newPool(t, Config{Workers: 2})
	defer p.Close()
	var (
		mu    sync.Mutex
		owner = map[int]string{} // pid -> tenant
		wg    sync.WaitGroup
	)
	for i := range 24 {
		tenant := fmt.Sprintf("t%d", i%5)
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr := runProbe(t, p, tenant, tenant)
			mu.Lock()
			defer mu.Unlock()
			if o, ok := owner[pr.PID]; ok && o != tenant {
				t.Errorf("pid %d served %s and %s", pr.PID, o, tenant)
			}
			owner[pr.PID] = tenant
			if pr.Prev != nil && *pr.Prev != tenant {
				t.Errorf("%s saw the mark %q", tenant, *pr.Prev)
			}
		}()
	}
	wg.Wait()
	waitStats(t, p, func(st fxexec.Stats) bool { return st.Idle == 2 && st.Running == 0 && st.Queued == 0 })
}

// TestBatchOfATenant: a batch runs on workers of its tenant alone.
func TestBatchOfATenant(t *testing.T) {
	p := newPool(t, Config{Workers: 2})
	defer p.Close()
	a := runProbe(t, p, "alice", "alice")
	e := runProbe(t, p, "", "endpoint") // the endpoint's own work: a tenant too
	inputs := make([]fxexec.Input, 40)
	for i := range inputs {
		inputs[i] = fxexec.Input{Args: raw(`["bob"]`)}
	}
	var mu sync.Mutex
	err := p.ExecuteBatch(t.Context(), fxexec.Batch{Tenant: "bob", Function: probeFn, Inputs: inputs}, func(i int, r fxexec.Result) {
		mu.Lock()
		defer mu.Unlock()
		var pr probed
		if r.Error != nil || json.Unmarshal(r.Value, &pr) != nil {
			t.Errorf("input %d: %+v %s", i, r.Error, r.Value)
			return
		}
		if pr.PID == a.PID || pr.PID == e.PID || pr.Prev != nil && *pr.Prev != "bob" {
			t.Errorf("input %d of bob's batch ran in pid %d (prev %s); alice's worker is %d, the endpoint's %d", i, pr.PID, pr.prev(), a.PID, e.PID)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
