package admission

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node/taskstore"
	"github.com/fxmesh/fxmesh/routing"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// tasks is a task store's replay record, in memory.
type tasks struct {
	seen    map[string]bool
	horizon time.Time
	err     error // of every Seen
}

func (ts *tasks) Seen(id string) (bool, error) { return ts.seen[id], ts.err }
func (ts *tasks) Horizon() time.Time           { return ts.horizon }

// queues holds, for each kind an endpoint runs, the inputs waiting for it;
// functions with a container count under kindContainer, whatever their
// kind.
type queues map[exec.Kind]int

const kindContainer exec.Kind = "container"

func (q queues) Queued(fn exec.Function) (int, bool) {
	k := fn.Kind
	if fn.Container != "" {
		k = kindContainer
	}
	n, ok := q[k]
	return n, ok
}

// images is a container runtime's local images, in memory.
type images struct {
	runtime string
	present map[string]bool
	err     error // of every HasImage, when set
	pulls   bool
}

func (im images) Runtime() string { return im.runtime }
func (im images) Pulls() bool     { return im.pulls }
func (im images) HasImage(image string) error {
	switch {
	case im.err != nil:
		return im.err
	case !im.present[image]:
		return fault.E(fault.NotFound, "", "image %q is not present", image)
	}
	return nil
}

// boxImage is the image of alice/boxed, present on the fixture's runtime.
const boxImage = "example/box:1"

// brokenCatalog is a catalog that cannot answer, as a closed one.
type brokenCatalog struct{}

var errBroken = fault.E(fault.Unavailable, "", "%w", catalog.ErrClosed)

func (brokenCatalog) Access(catalog.ID) (identity.Policy, error) { return identity.Policy{}, errBroken }
func (brokenCatalog) Get(catalog.ID) (*catalog.Function, error)  { return nil, errBroken }
func (brokenCatalog) Head(string, string) (*catalog.SignedUpdate, error) {
	return nil, errBroken
}

// fixture is an endpoint's world: its key, its catalog, and the functions
// of alice, who owns them all.
type fixture struct {
	alice, bob, carol, ep, other *identity.Key
	cat                          *catalog.Store // the endpoint's
	public                       catalog.ID     // alice/public: anyone may run it
	forBob                       catalog.ID     // alice/forbob: bob may, carol may not
	needsGPU                     catalog.ID     // alice/gpu: requires gpus>=1
	command                      catalog.ID     // alice/cmd: a shell function
	boxed                        catalog.ID     // alice/boxed: a python function in boxImage
	boxedShell                   catalog.ID     // alice/boxedsh: a shell function in boxImage
	private                      catalog.ID     // alice/private: not in the endpoint's catalog
	privateProof                 *invoke.Proof
	gone                         catalog.ID // alice/gone: private, then deleted
	goneProof                    *invoke.Proof
	moved                        catalog.ID // alice/moved: private, then a public version 2
	movedProof                   *invoke.Proof
	forked                       catalog.ID // alice/forked: private, and another record of the same seq
	forkedProof                  *invoke.Proof
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	key := func() *identity.Key {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	f := &fixture{alice: key(), bob: key(), carol: key(), ep: key(), other: key()}
	open := func(opts catalog.Options) *catalog.Store {
		s := catalog.NewMemory(opts)
		t.Cleanup(func() { s.Close() })
		return s
	}
	f.cat = open(catalog.Options{})
	own := open(catalog.Options{KeepPrivate: true}) // alice's own, which holds her private functions
	publishAfter := func(s *catalog.Store, prev *catalog.Update, fn catalog.Function, access catalog.Access) *catalog.SignedUpdate {
		t.Helper()
		if fn.Kind == "" {
			fn.Kind, fn.Source, fn.Entry = catalog.KindPython, "def run(x):\n    return x\n", "run"
		}
		at := t0
		if prev != nil {
			at = at.Add(time.Second)
		}
		env, err := catalog.NewPublish(f.alice, prev, fn, access, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(env); err != nil {
			t.Fatal(err)
		}
		su, err := catalog.DecodeUpdate(env, catalog.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return su
	}
	publish := func(s *catalog.Store, fn catalog.Function, access catalog.Access) *catalog.SignedUpdate {
		t.Helper()
		return publishAfter(s, nil, fn, access)
	}
	proof := func(id catalog.ID) *invoke.Proof {
		t.Helper()
		head, fn, err := own.Proof(id)
		if err != nil {
			t.Fatal(err)
		}
		return &invoke.Proof{Head: head, Function: fn}
	}
	pub := catalog.Access{Public: true}
	f.public = publish(f.cat, catalog.Function{Name: "public"}, pub).Update.Versions[0].ID
	f.forBob = publish(f.cat, catalog.Function{Name: "forbob"}, catalog.Access{Users: []string{f.bob.ID().String()}}).Update.Versions[0].ID
	f.needsGPU = publish(f.cat, catalog.Function{Name: "gpu", Requirements: []string{"gpus>=1"}}, pub).Update.Versions[0].ID
	f.command = publish(f.cat, catalog.Function{Name: "cmd", Kind: catalog.KindShell, Command: "echo {x}"}, pub).Update.Versions[0].ID
	f.boxed = publish(f.cat, catalog.Function{Name: "boxed", Container: boxImage}, pub).Update.Versions[0].ID
	f.boxedShell = publish(f.cat, catalog.Function{Name: "boxedsh", Kind: catalog.KindShell, Command: "echo {x}", Container: boxImage}, pub).Update.Versions[0].ID
	f.private = publish(own, catalog.Function{Name: "private"}, catalog.Access{}).Update.Versions[0].ID
	f.privateProof = proof(f.private)
	gone := publish(own, catalog.Function{Name: "gone"}, catalog.Access{})
	f.gone = gone.Update.Versions[0].ID
	f.goneProof = proof(f.gone)
	del, err := catalog.NewDelete(f.alice, &gone.Update, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cat.Apply(del); err != nil {
		t.Fatal(err)
	}
	moved := publish(own, catalog.Function{Name: "moved"}, catalog.Access{})
	f.moved, f.movedProof = moved.Update.Versions[0].ID, proof(moved.Update.Versions[0].ID)
	publishAfter(f.cat, &moved.Update, catalog.Function{Name: "moved", Description: "v2"}, pub)
	forked := publish(own, catalog.Function{Name: "forked"}, catalog.Access{})
	f.forked, f.forkedProof = forked.Update.Versions[0].ID, proof(forked.Update.Versions[0].ID)
	if publish(f.cat, catalog.Function{Name: "forked", Description: "another"}, pub).Update.Seq != forked.Update.Seq {
		t.Fatal("the two records of alice/forked differ in seq")
	}
	return f
}

// envelope is k's invocation of fn at this fixture's endpoint, issued at t0
// for a minute, changed by edit.
func (f *fixture) envelope(t *testing.T, k *identity.Key, fn catalog.ID, edit func(*invoke.Invocation)) []byte {
	t.Helper()
	inv, err := invoke.New(fn.String(), f.ep.ID().String(), []invoke.Input{{Args: []byte(`[1]`)}}, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(inv)
	}
	env, err := invoke.Sign(k, inv)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// input is what the endpoint would decide on when sender sends env a
// second after t0: a public endpoint with a CPU and no GPU, that runs
// python and shell functions, on the host and in containers of boxImage,
// and has room in every queue.
func (f *fixture) input(env []byte, sender *identity.Key) *Input {
	return &Input{
		Envelope: env, Sender: sender.ID(), Now: t0.Add(time.Second),
		Policy: &Policy{
			Self: f.ep.ID(), Callers: identity.Policy{Public: true},
			MaxInvocationBytes: 1 << 20, MaxQueue: 100,
		},
		Offers:     &routing.EndpointRecord{ID: f.ep.ID().String(), Hardware: routing.Hardware{CPUs: 1}},
		Catalog:    f.cat,
		Tasks:      &tasks{},
		Executors:  queues{exec.KindPython: 0, exec.KindShell: 0, kindContainer: 0},
		Containers: images{runtime: "docker", present: map[string]bool{boxImage: true}},
	}
}

// TestDecide: what Decide admits, and what it says of it.
func TestDecide(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		caller *identity.Key
		fn     catalog.ID
		proof  *invoke.Proof
		kind   exec.Kind
		mapped bool // accounts are required, and the caller has one
		pulls  bool // the runtime holds no image and pulls absent ones
		alone  bool // the host runs functions for its owner, alice, alone
	}{
		{"a public function", f.carol, f.public, nil, exec.KindPython, false, false, false},
		{"a shared function, by a user it is shared with", f.bob, f.forBob, nil, exec.KindPython, false, false, false},
		{"a shell function", f.carol, f.command, nil, exec.KindShell, false, false, false},
		{"a private function with its proof, by its owner", f.alice, f.private, f.privateProof, exec.KindPython, false, false, false},
		{"a mapped user, mapping required", f.carol, f.public, nil, exec.KindPython, true, false, false},
		{"a python function in a container", f.carol, f.boxed, nil, exec.KindPython, false, false, false},
		{"a shell function in a container", f.carol, f.boxedShell, nil, exec.KindShell, false, false, false},
		{"a container function whose image is absent, on a runtime that pulls", f.carol, f.boxed, nil, exec.KindPython, false, true, false},
		{"the owner's call, on a host that runs functions for its owner alone", f.alice, f.public, nil, exec.KindPython, false, false, true},
		{"a container function, on a host that runs functions for its owner alone", f.carol, f.boxed, nil, exec.KindPython, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := f.envelope(t, tc.caller, tc.fn, func(inv *invoke.Invocation) { inv.Proof = tc.proof })
			in := f.input(env, tc.caller)
			if tc.mapped {
				in.Policy.RequireMapping, in.Policy.Mapped = true, map[string]bool{tc.caller.ID().String(): true}
			}
			if tc.pulls {
				in.Containers = images{runtime: "docker", pulls: true}
			}
			if tc.alone {
				in.Policy.Callers.Owner, in.Policy.HostOwnerOnly = f.alice.ID(), "it runs as uid 1000"
			}
			adm, err := Decide(in)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			id, _ := invoke.TaskIDOf(env)
			if adm.Invocation.TaskID != id || adm.Invocation.Caller != tc.caller.ID() {
				t.Errorf("admitted task %s of %s, want %s of %s", adm.Invocation.TaskID, adm.Invocation.Caller, id, tc.caller.ID())
			}
			if x := adm.Function.Exec; x.ID != tc.fn.String() || x.Kind != tc.kind {
				t.Errorf("compiled %s of kind %s, want %s of kind %s", x.ID, x.Kind, tc.fn, tc.kind)
			}
			if adm.Task.ID != id || adm.Task.Caller != tc.caller.ID().String() || adm.Task.Function != tc.fn.String() || adm.Task.Count != 1 {
				t.Errorf("task to record %+v", adm.Task)
			}
		})
	}
}

// TestDecideRefuses: one row per refusal, each with its fault kind and what
// its message says.
func TestDecideRefuses(t *testing.T) {
	f := newFixture(t)
	good := f.envelope(t, f.carol, f.public, nil)
	taskOf := func(in *Input) string {
		id, err := invoke.TaskIDOf(in.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	invocation := func(fn catalog.ID, edit func(*invoke.Invocation)) []byte { return f.envelope(t, f.carol, fn, edit) }
	tests := []struct {
		name   string
		env    []byte        // carol's; nil means good
		sender *identity.Key // nil means carol
		edit   func(*Input)
		kind   fault.Kind
		is     error // a sentinel the refusal wraps, if it has one
		says   string
	}{
		{name: "size", edit: func(in *Input) { in.Policy.MaxInvocationBytes = 100 },
			kind: fault.TooLarge, is: invoke.ErrTooLarge, says: "limit 100"},
		{name: "malformed", env: []byte("garbage"),
			kind: fault.Invalid, is: invoke.ErrMalformed},
		{name: "signature", env: bytes.Replace(good, []byte("[1]"), []byte("[2]"), 1),
			kind: fault.Invalid, is: invoke.ErrBadSignature},
		{name: "sender", sender: f.bob,
			kind: fault.Denied, says: "callers send their own"},
		{name: "target", env: f.envelope(t, f.carol, f.public, func(inv *invoke.Invocation) { inv.Endpoint = f.other.ID().String() }),
			kind: fault.Invalid, is: ErrWrongTarget, says: f.other.ID().String()},
		{name: "lifetime", env: invocation(f.public, func(inv *invoke.Invocation) { inv.Expires = t0.Add(2 * time.Hour).UnixNano() }),
			kind: fault.Invalid, is: invoke.ErrMalformed, says: "lifetime 2h0m0s over the limit of 1h0m0s"},
		{name: "skew", env: invocation(f.public, func(inv *invoke.Invocation) {
			inv.IssuedAt, inv.Expires = t0.Add(time.Hour).UnixNano(), t0.Add(time.Hour+time.Minute).UnixNano()
		}), kind: fault.Expired, is: ErrNotYetValid, says: "ahead of this endpoint's clock"},
		{name: "expired", edit: func(in *Input) { in.Now = t0.Add(2 * time.Minute) },
			kind: fault.Expired, is: ErrExpired, says: "1m0s ago"},
		{name: "policy", edit: func(in *Input) { in.Policy.Callers = identity.Policy{Owner: f.alice.ID()} },
			kind: fault.Denied, is: ErrDenied, says: "may not use this endpoint"},
		{name: "unmapped user, mapping required", edit: func(in *Input) {
			in.Policy.RequireMapping, in.Policy.Mapped = true, map[string]bool{f.alice.ID().String(): true}
		}, kind: fault.Denied, is: ErrDenied, says: "no local account"},
		{name: "a host function, on a host that runs them for its owner alone", edit: func(in *Input) {
			in.Policy.Callers.Owner, in.Policy.HostOwnerOnly = f.alice.ID(), "it runs as uid 1000"
		}, kind: fault.Denied, is: ErrDenied, says: "may not run functions on this endpoint's host, which runs them for its owner alone: it runs as uid 1000"},
		{name: "function not offered", edit: func(in *Input) { in.Policy.Functions = []string{f.forBob.String()} },
			kind: fault.Denied, is: ErrDenied, says: "not offered here"},
		{name: "function ID", env: invocation(f.public, func(inv *invoke.Invocation) {
			inv.Function = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku" // a CID, of raw bytes
		}), kind: fault.Invalid, is: catalog.ErrInvalidField, says: "not a catalog ID"},
		{name: "unknown function", env: invocation(f.private, nil),
			kind: fault.NotFound, says: "is not known here"},
		{name: "catalog cannot answer", edit: func(in *Input) { in.Catalog = brokenCatalog{} },
			kind: fault.Unavailable, is: catalog.ErrClosed, says: "cannot check the record"},
		{name: "function access", env: invocation(f.forBob, nil),
			kind: fault.Denied, says: "may not use function " + f.alice.ID().String() + "/forbob"},
		{name: "proof invalid", env: invocation(f.private, func(inv *invoke.Invocation) {
			inv.Proof = &invoke.Proof{Head: f.privateProof.Function, Function: f.privateProof.Head}
		}), kind: fault.Invalid, says: "catalog: verify function"},
		{name: "proof of another function", env: invocation(f.private, func(inv *invoke.Invocation) { inv.Proof = f.goneProof }),
			kind: fault.Invalid, says: "proof is for function " + f.gone.String()},
		{name: "stale proof: deleted since", env: invocation(f.gone, func(inv *invoke.Invocation) { inv.Proof = f.goneProof }),
			kind: fault.Denied, says: "out of date"},
		{name: "stale proof: a later record", env: invocation(f.moved, func(inv *invoke.Invocation) { inv.Proof = f.movedProof }),
			kind: fault.Denied, says: "out of date"},
		{name: "stale proof: another record of the same seq", env: invocation(f.forked, func(inv *invoke.Invocation) { inv.Proof = f.forkedProof }),
			kind: fault.Denied, says: "out of date"},
		{name: "stale proof, catalog cannot answer", env: invocation(f.gone, func(inv *invoke.Invocation) { inv.Proof = f.goneProof }),
			edit: func(in *Input) { in.Catalog = headless{f.cat} },
			kind: fault.Unavailable, is: catalog.ErrClosed, says: "cannot check the record"},
		{name: "proof of a function the caller may not use", env: invocation(f.private, func(inv *invoke.Invocation) { inv.Proof = f.privateProof }),
			kind: fault.Denied, says: "may not use function " + f.alice.ID().String() + "/private"},
		{name: "requirements of the function", env: invocation(f.needsGPU, nil),
			kind: fault.Invalid, says: "does not meet gpus>=1"},
		{name: "requirements of the invocation", env: invocation(f.public, func(inv *invoke.Invocation) { inv.Require = []string{"cpus>=2"} }),
			kind: fault.Invalid, says: "does not meet cpus>=2"},
		{name: "requirements that do not parse", env: invocation(f.public, func(inv *invoke.Invocation) { inv.Require = []string{"gpus>=many"} }),
			kind: fault.Invalid, says: "gpus>=many"},
		{name: "no executor of the kind", env: invocation(f.command, nil), edit: func(in *Input) { delete(in.Executors.(queues), exec.KindShell) },
			kind: fault.Invalid, says: `does not run functions of kind "shell"`},
		{name: "container function, no container runtime", env: invocation(f.boxed, nil), edit: func(in *Input) { in.Containers = nil },
			kind: fault.Unavailable, is: ErrNoContainerRuntime, says: `container image "example/box:1", and is never run on the host`},
		{name: "container function, runtime none", env: invocation(f.boxedShell, nil), edit: func(in *Input) { in.Containers = images{} },
			kind: fault.Unavailable, is: ErrNoContainerRuntime, says: "no container runtime"},
		{name: "container image absent", env: invocation(f.boxed, nil), edit: func(in *Input) { in.Containers = images{runtime: "docker"} },
			kind: fault.NotFound, is: ErrImageAbsent, says: `image "example/box:1" is not present on runtime docker`},
		{name: "container image cannot be checked", env: invocation(f.boxed, nil), edit: func(in *Input) {
			in.Containers = images{runtime: "docker", err: fault.E(fault.Unavailable, "", "engine down")}
		}, kind: fault.Unavailable, says: "cannot check container image"},
		{name: "container queue full", env: invocation(f.boxed, nil), edit: func(in *Input) { in.Executors.(queues)[kindContainer] = 100 },
			kind: fault.Overloaded, says: "queue is full (100 waiting)"},
		{name: "overloaded", edit: func(in *Input) { in.Executors.(queues)[exec.KindPython] = 100 },
			kind: fault.Overloaded, says: "queue is full (100 waiting)"},
		{name: "horizon", edit: func(in *Input) { in.Tasks = &tasks{horizon: t0} },
			kind: fault.Expired, says: "restarted"},
		{name: "replay", edit: func(in *Input) { in.Tasks = &tasks{seen: map[string]bool{taskOf(in): true}} },
			kind: fault.Replayed, is: taskstore.ErrReplayed, says: "admission: task "},
		{name: "replay cannot be checked", edit: func(in *Input) {
			in.Tasks = &tasks{err: &fault.Error{Kind: fault.Unavailable, Err: taskstore.ErrClosed}}
		}, kind: fault.Unavailable, is: taskstore.ErrClosed, says: "cannot check task"},
	}
	// Each refusal stands with a cache that has verified every proof of the
	// fixture before: a stale proof is still refused as stale.
	warm := &ProofCache{}
	for _, p := range []*invoke.Proof{f.privateProof, f.goneProof, f.movedProof, f.forkedProof} {
		if _, _, _, err := warm.verify(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range tests {
		for _, proofs := range []*ProofCache{nil, warm} {
			name := tc.name
			if proofs != nil {
				name += " (proofs cached)"
			}
			t.Run(name, func(t *testing.T) {
				refuses(t, f, tc.env, good, tc.sender, proofs, tc.edit, tc.kind, tc.is, tc.says)
			})
		}
	}
}

// refuses checks that Decide refuses env (nil: good) from sender (nil:
// carol) with proofs, after edit, with an error of kind that wraps is and
// says says.
func refuses(t *testing.T, f *fixture, env, good []byte, sender *identity.Key, proofs *ProofCache, edit func(*Input), kind fault.Kind, is error, says string) {
	t.Helper()
	if env == nil {
		env = good
	}
	if sender == nil {
		sender = f.carol
	}
	in := f.input(env, sender)
	in.Proofs = proofs
	if edit != nil {
		edit(in)
	}
	adm, err := Decide(in)
	if err == nil {
		t.Fatalf("admitted task %s", adm.Invocation.TaskID)
	}
	if k := fault.KindOf(err); k != kind {
		t.Errorf("kind %s, want %s: %v", k, kind, err)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("err = %v, want it to wrap %v", err, is)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("err = %v, want it to say %q", err, says)
	}
}

// TestProofCache: a proof that verified is kept and admits again; a
// proof whose signed record was altered is refused although the function
// it names was verified before with its true record; one that fails is not
// kept.
func TestProofCache(t *testing.T) {
	f := newFixture(t)
	c := &ProofCache{}
	for i := range 2 {
		env := f.envelope(t, f.alice, f.private, func(inv *invoke.Invocation) { inv.Proof = f.privateProof })
		in := f.input(env, f.alice)
		in.Proofs = c
		if _, err := Decide(in); err != nil {
			t.Fatalf("call %d refused: %v", i, err)
		}
		if len(c.m) != 1 {
			t.Fatalf("call %d: %d proofs kept, want 1", i, len(c.m))
		}
	}
	forged := bytes.Clone(f.privateProof.Head)
	forged[len(forged)-1] ^= 1 // the signature's last byte
	env := f.envelope(t, f.alice, f.private, func(inv *invoke.Invocation) {
		inv.Proof = &invoke.Proof{Head: forged, Function: f.privateProof.Function}
	})
	in := f.input(env, f.alice)
	in.Proofs = c
	if _, err := Decide(in); fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "verify function") {
		t.Fatalf("a forged record with a known function: %v, want it refused as invalid", err)
	}
	if len(c.m) != 1 {
		t.Fatalf("a proof that failed was kept: %d proofs", len(c.m))
	}
}

// headless is a catalog whose Head cannot answer.
type headless struct{ *catalog.Store }

func (headless) Head(string, string) (*catalog.SignedUpdate, error) { return nil, errBroken }

// TestCheckInvocationExtremeTimes: the times an invocation carries are the
// caller's to choose, the whole int64 range; no choice of them wraps an
// endpoint's arithmetic round to an admission, and what is refused is
// refused for its own reason.
func TestCheckInvocationExtremeTimes(t *testing.T) {
	user, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	now := t0.Add(time.Second)
	base := Policy{Self: ep.ID(), Callers: identity.Policy{Owner: user.ID()}}
	with := func(f func(*Policy)) Policy { p := base; f(&p); return p }
	const p62 = int64(1) << 62
	tests := []struct {
		name            string
		issued, expires int64
		policy          Policy
		want            error // nil: admitted
		kind            fault.Kind
	}{
		{"issued -2^62, expires 2^62", -p62, p62, base, invoke.ErrMalformed, fault.Invalid},
		{"the whole int64 range", math.MinInt64, math.MaxInt64, base, invoke.ErrMalformed, fault.Invalid},
		{"issued at MinInt64, expires in a minute", math.MinInt64, t0.Add(time.Minute).UnixNano(), base, invoke.ErrMalformed, fault.Invalid},
		{"issued now, expires at MaxInt64", t0.UnixNano(), math.MaxInt64, base, invoke.ErrMalformed, fault.Invalid},
		{"issued -2^62, expires in a minute", -p62, t0.Add(time.Minute).UnixNano(), base, invoke.ErrMalformed, fault.Invalid},
		{"issued now, expires 2^62", t0.UnixNano(), p62, base, invoke.ErrMalformed, fault.Invalid},
		{"issued and expires at the top", math.MaxInt64 - 1, math.MaxInt64, base, ErrNotYetValid, fault.Expired},
		{"issued and expires at the bottom", math.MinInt64, math.MinInt64 + 1, base, ErrExpired, fault.Expired},
		{"a lifetime of exactly the limit", t0.UnixNano(), t0.Add(time.Hour).UnixNano(), base, nil, ""},
		{"a skew of MaxInt64", t0.UnixNano(), t0.Add(time.Minute).UnixNano(), with(func(p *Policy) { p.Skew = math.MaxInt64 }), nil, ""},
		{"a skew of MaxInt64, the whole range", math.MinInt64, math.MaxInt64, with(func(p *Policy) { p.Skew = math.MaxInt64 }), invoke.ErrMalformed, fault.Invalid},
		{"a lifetime limit of MaxInt64, a lifetime of MaxInt64", -p62, p62 - 1, with(func(p *Policy) { p.MaxLifetime = math.MaxInt64 }), nil, ""},
		{"a lifetime limit of MaxInt64, a lifetime over it", -p62, p62, with(func(p *Policy) { p.MaxLifetime = math.MaxInt64 }), invoke.ErrMalformed, fault.Invalid},
		{"a lifetime limit of MaxInt64, the whole range", math.MinInt64, math.MaxInt64, with(func(p *Policy) { p.MaxLifetime = math.MaxInt64 }), invoke.ErrMalformed, fault.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &invoke.Signed{
				Invocation: invoke.Invocation{Endpoint: ep.ID().String(), IssuedAt: tc.issued, Expires: tc.expires},
				Caller:     user.ID(),
			}
			err := checkInvocation(s, &tc.policy, now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || fault.KindOf(err) != tc.kind {
				t.Fatalf("err = %v (kind %s), want %v (kind %s)", err, fault.KindOf(err), tc.want, tc.kind)
			}
			// A duration in the message is never one that wrapped.
			if strings.Contains(err.Error(), ": -") || strings.Contains(err.Error(), "lifetime -") {
				t.Fatalf("message with a negative duration: %v", err)
			}
		})
	}
	// The check does not rely on Decode to have refused an invocation that
	// expires before it is issued.
	for _, life := range [][2]int64{{now.UnixNano(), now.UnixNano()}, {math.MaxInt64, math.MinInt64}} {
		s := &invoke.Signed{Invocation: invoke.Invocation{Endpoint: ep.ID().String(), IssuedAt: life[0], Expires: life[1]}, Caller: user.ID()}
		if err := checkInvocation(s, &base, now); !errors.Is(err, invoke.ErrMalformed) && !errors.Is(err, ErrExpired) {
			t.Errorf("issued %d, expires %d: err = %v, want it refused", life[0], life[1], err)
		}
	}
}

func TestSaturatingNanos(t *testing.T) {
	const maxI, minI = math.MaxInt64, math.MinInt64
	tests := []struct {
		a, b, sum, diff int64
	}{
		{1, 2, 3, -1},
		{maxI, 1, maxI, maxI - 1},
		{maxI, -1, maxI - 1, maxI},
		{minI, -1, minI, minI + 1},
		{minI, 1, minI + 1, minI},
		{0, minI, minI, maxI},
		{-1, minI, minI, maxI},
		{maxI, maxI, maxI, 0},
		{minI, minI, minI, 0},
		{maxI, minI, -1, maxI},
		{minI, maxI, -1, minI},
		{1 << 62, 1 << 62, maxI, 0},
		{-1 << 62, -1 << 62, minI, 0},
		{1 << 62, -1 << 62, 0, maxI},
	}
	for _, tc := range tests {
		if got := addNanos(tc.a, tc.b); got != tc.sum {
			t.Errorf("addNanos(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.sum)
		}
		if got := subNanos(tc.a, tc.b); got != tc.diff {
			t.Errorf("subNanos(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.diff)
		}
	}
}

// TestTaskOf: the store is told the earliest moment an invocation could
// have been admitted (so that a horizon refuses it), and keeps its replay
// entry past the latest.
func TestTaskOf(t *testing.T) {
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inv := &invoke.Signed{
		Invocation: invoke.Invocation{Function: "bafyfn", Inputs: make([]invoke.Input, 3),
			IssuedAt: issued.UnixNano(), Expires: issued.Add(time.Minute).UnixNano()},
		TaskID: "bafytask",
	}
	got := TaskOf(inv, 30*time.Second)
	if !got.Issued.Equal(issued.Add(-30 * time.Second)) {
		t.Errorf("Issued = %v, want the issue time less the skew", got.Issued)
	}
	if !got.Expires.After(issued.Add(time.Minute + 30*time.Second)) {
		t.Errorf("Expires = %v, want after the expiry plus the skew", got.Expires)
	}
	if got.ID != "bafytask" || got.Function != "bafyfn" || got.Count != 3 {
		t.Errorf("task = %+v", got)
	}
}

// TestTaskOfExtremeTimes: whatever times an invocation carries, the task
// store is given times it can keep (Unix nanoseconds), and the replay entry
// lasts at least as long as the invocation is valid.
func TestTaskOfExtremeTimes(t *testing.T) {
	k, _ := identity.GenerateKey()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()
	const p62 = int64(1) << 62
	tests := []struct {
		name            string
		issued, expires int64
		skew            time.Duration
	}{
		{"ordinary", at, at + int64(time.Minute), 30 * time.Second},
		{"±2^62", -p62, p62, 30 * time.Second},
		{"the whole int64 range", math.MinInt64, math.MaxInt64, 30 * time.Second},
		{"expires at MaxInt64", at, math.MaxInt64, 30 * time.Second},
		{"issued at MinInt64", math.MinInt64, at, 30 * time.Second},
		{"a skew of MaxInt64", at, at + int64(time.Minute), math.MaxInt64},
		{"a skew of MaxInt64, the whole range", math.MinInt64, math.MaxInt64, math.MaxInt64},
		{"no skew, the whole range", math.MinInt64, math.MaxInt64, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := &invoke.Signed{
				Invocation: invoke.Invocation{IssuedAt: tc.issued, Expires: tc.expires, Inputs: []invoke.Input{{}}},
				Caller:     k.ID(), TaskID: "task",
			}
			task := TaskOf(inv, tc.skew)
			for name, got := range map[string]time.Time{"expires": task.Expires, "issued": task.Issued} {
				if back := time.Unix(0, got.UnixNano()); !back.Equal(got) {
					t.Errorf("%s %s is kept as %s", name, got, back)
				}
			}
			if task.Expires.Before(time.Unix(0, tc.expires)) {
				t.Errorf("replay entry expires at %s, before the invocation (%s)", task.Expires, time.Unix(0, tc.expires))
			}
			if task.Issued.After(time.Unix(0, tc.issued)) {
				t.Errorf("issued %s, after the invocation says (%s)", task.Issued, time.Unix(0, tc.issued))
			}
			if tc.name == "ordinary" {
				if want := time.Unix(0, tc.expires).Add(tc.skew + 30*time.Second); !task.Expires.Equal(want) {
					t.Errorf("expires %s, want %s", task.Expires, want)
				}
				if want := time.Unix(0, tc.issued).Add(-tc.skew); !task.Issued.Equal(want) {
					t.Errorf("issued %s, want %s", task.Issued, want)
				}
			}
		})
	}
}

// TestFunctionAllowlist: functions: in config.yaml names a function by ID
// (that version), by OWNER/NAME (every version) or by owner (all theirs).
func TestFunctionAllowlist(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.alice.ID().String(), f.bob.ID().String()
	tests := []struct {
		name  string
		list  []string
		admit bool
	}{
		{"its ID", []string{f.public.String()}, true},
		{"its OWNER/NAME", []string{alice + "/public"}, true},
		{"its owner", []string{bob, alice}, true},
		{"another ID", []string{f.forBob.String()}, false},
		{"another name of its owner", []string{alice + "/forbob"}, false},
		{"its name under another owner", []string{bob + "/public"}, false},
		{"another owner", []string{bob}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := f.input(f.envelope(t, f.carol, f.public, nil), f.carol)
			in.Policy.Functions = tc.list
			_, err := Decide(in)
			if tc.admit && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.admit && (!fault.Is(err, fault.Denied) || !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "/public ("+f.public.String()+") is not offered here") && !strings.Contains(err.Error(), "function "+f.public.String()+" is not offered here")) {
				t.Fatalf("err = %v, want denied: not offered", err)
			}
		})
	}
}
