package pilot

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// userRecorder is the local provider, noting the account (Job.User) each
// block's job was submitted as.
type userRecorder struct {
	*Local
	mu    sync.Mutex        // guards users
	users map[string]string // by job name
}

func (u *userRecorder) Submit(ctx context.Context, job Job) (string, error) {
	u.mu.Lock()
	u.users[job.Name] = job.User
	u.mu.Unlock()
	return u.Local.Submit(ctx, job)
}

func (u *userRecorder) userOf(block string) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	user, ok := u.users[block]
	return user, ok
}

// accounts maps alice and bob, and dave to an account that Prepare
// refuses; carol is not mapped.
var accounts = map[string]string{"alice": "acct-alice", "bob": "acct-bob", "dave": refusedAccount}

// whereFn names the block it ran in (the harness's agents have
// PILOT_BLOCK in their environment).
var whereFn = pyFn("where", "import os, time\ndef f(s):\n    time.sleep(s)\n    return os.environ.get('PILOT_BLOCK')\n", "f")

// accountRig is a rig of local blocks whose tenants alice and bob map to
// accounts of their own.
func accountRig(t *testing.T, edit func(*Config)) (*rig, *userRecorder) {
	rec := &userRecorder{users: map[string]string{}}
	r := newRig(t, func(c *Config) {
		rec.Local = c.Provider.(*Local)
		c.Provider = rec
		c.UserOf = func(tenant string) string { return accounts[tenant] }
		edit(c)
	})
	return r, rec
}

// where runs whereFn as tenant and returns the block it ran in.
func where(ctx context.Context, r *rig, tenant string, sleep float64) (string, error) {
	res, err := r.Execute(ctx, exec.Task{Tenant: tenant, Function: whereFn, Args: raw(fmt.Sprintf("[%g]", sleep))})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", tenant, err)
	}
	return strings.Trim(string(res.Value), `"`), nil
}

// TestBlocksPerAccount (issue 12): with identity mapping, the tasks of
// alice and bob, mapped to accounts, and of carol, who is not, run at
// once on blocks of their own: a block's job is submitted as the account
// of every task it ran (the endpoint's own, "", for carol's), no block
// serves two of them, and max_blocks bounds the blocks of all together.
func TestBlocksPerAccount(t *testing.T) {
	r, rec := accountRig(t, func(c *Config) {
		c.MinBlocks, c.MaxBlocks, c.WorkersPerNode, c.MaxIdle = 0, 3, 2, time.Minute
	})
	defer r.Close()
	const each = 5
	type ran struct{ tenant, block string }
	var (
		mu        sync.Mutex
		got       []ran
		maxBlocks int
		maxUsers  map[string]int
		wg        sync.WaitGroup
	)
	errs := make(chan error, 3*each)
	for _, tenant := range []string{"alice", "bob", "carol"} {
		for range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				block, err := where(t.Context(), r, tenant, 0.3)
				if err != nil {
					errs <- err
					return
				}
				s := r.Summary()
				mu.Lock()
				defer mu.Unlock()
				got = append(got, ran{tenant, block})
				if n := s.Pending + s.Running + s.Draining; n > maxBlocks {
					maxBlocks, maxUsers = n, s.Users
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	servedBy := map[string]string{} // block -> tenant
	for _, g := range got {
		user, ok := rec.userOf(g.block)
		if !ok {
			t.Fatalf("%s's task ran in %q, no block the manager submitted", g.tenant, g.block)
		}
		if want := accounts[g.tenant]; user != want {
			t.Errorf("%s's task ran in block %s, submitted as account %q; want %q", g.tenant, g.block, user, want)
		}
		if other, ok := servedBy[g.block]; ok && other != g.tenant {
			t.Errorf("block %s served both %s and %s", g.block, other, g.tenant)
		}
		servedBy[g.block] = g.tenant
	}
	if maxBlocks > 3 {
		t.Errorf("%d blocks at once, max_blocks 3", maxBlocks)
	}
	if s := r.Summary(); s.Served != 3*each {
		t.Errorf("summary: %d tasks served, want %d", s.Served, 3*each)
	}
	t.Logf("blocks: %v; at most %d at once (%v of mapped accounts)", servedBy, maxBlocks, maxUsers)
}

// TestAccountsShareMaxBlocks (issue 12): max_blocks is one cap for every
// account: with room for one block, bob's work does not wait for
// alice's idle block to reach max_idletime; it is cancelled at once, and
// bob's own block serves him.
func TestAccountsShareMaxBlocks(t *testing.T) {
	r, rec := accountRig(t, func(c *Config) {
		c.MinBlocks, c.MaxBlocks, c.WorkersPerNode, c.MaxIdle = 0, 1, 1, 10*time.Minute
	})
	defer r.Close()
	a, err := where(t.Context(), r, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	b, err := where(ctx, r, "bob", 0)
	if err != nil {
		t.Fatalf("bob's task with alice's block idle at max_blocks 1: %v", err)
	}
	ua, _ := rec.userOf(a)
	ub, _ := rec.userOf(b)
	if a == b || ua != "acct-alice" || ub != "acct-bob" {
		t.Fatalf("alice ran in %s (account %q), bob in %s (account %q)", a, ua, b, ub)
	}
}

// TestAccountBlockRefused (issue 12): when no block can be made for an
// account (Prepare fails: the account may not reach its directory),
// its queued tasks fail at once, naming the account and why, instead of
// waiting for a block; the endpoint shows the error, and other accounts'
// work still runs.
func TestAccountBlockRefused(t *testing.T) {
	r, _ := accountRig(t, func(c *Config) {
		c.MinBlocks, c.MaxBlocks, c.WorkersPerNode = 0, 2, 1
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := r.Execute(ctx, exec.Task{Tenant: "dave", Function: whereFn, Args: raw("[0]")})
	if err != nil {
		t.Fatalf("dave's task: %v; want it failed, not waiting", err)
	}
	if res.Error == nil || res.Error.Kind != fault.System || !strings.Contains(res.Error.Message, "as account "+refusedAccount) || !strings.Contains(res.Error.Message, "may not reach") {
		t.Fatalf("dave's task: %+v; want a system error naming the account and why", res.Error)
	}
	if s := r.Summary(); !strings.Contains(s.Error, "may not reach") {
		t.Errorf("summary error %q", s.Error)
	}
	if _, err := where(ctx, r, "alice", 0); err != nil {
		t.Fatalf("alice after dave's refusal: %v", err)
	}
}
