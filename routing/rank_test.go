package routing

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/libp2p/go-libp2p/core/peer"
)

// box is a plain public endpoint named name, its ID made from seed.
func box(t testing.TB, seed byte, name string) *EndpointRecord {
	r := cpuBox(t)
	r.ID, r.Name = testPeer(t, seed).String(), name
	r.Labels = nil
	return r
}

func withLabel(r *EndpointRecord, k, v string) *EndpointRecord {
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	r.Labels[k] = v
	return r
}

// load is a heartbeat of an endpoint with workers workers, idle of them
// idle and queued tasks waiting.
func load(workers, idle, queued int) *Load {
	return &Load{Seq: 1, Workers: workers, Idle: idle, Running: workers - idle, Queued: queued, Accepting: true}
}

func up(r *EndpointRecord, l *Load, rtt time.Duration) Candidate {
	return Candidate{Record: r, Load: l, RTT: rtt, Online: true}
}

func TestRank(t *testing.T) {
	caller := testCaller(t)
	other := testPeer(t, 98)
	gpu, cpu, data := gpuBox(t), cpuBox(t), dataBox(t)
	private := box(t, 20, "private")
	private.Public, private.Owner = false, other.String()
	shared := box(t, 21, "shared")
	shared.Public, shared.Owner, shared.Allowed = false, other.String(), []string{caller.String()}

	tests := []struct {
		name     string
		cands    []Candidate
		req      Request
		want     []string          // names of the eligible, best first
		rejected map[string]string // name -> reason
	}{
		{
			name:  "gpus>=1 picks only the GPU endpoint",
			cands: []Candidate{up(cpu, load(8, 8, 0), time.Millisecond), up(gpu, load(4, 0, 3), 50*time.Millisecond), up(data, nil, 0)},
			req:   Request{Requirements: mustReqs(t, "gpus>=1"), Caller: caller},
			want:  []string{"gpu-box"},
			rejected: map[string]string{
				"cpu-box":  "needs gpus>=1, has 0 GPUs",
				"data-box": "needs gpus>=1, has 0 GPUs",
			},
		},
		{
			name:     "dataset= picks where the data is",
			cands:    []Candidate{up(cpu, load(8, 8, 0), 0), up(gpu, load(8, 8, 0), 0), up(data, load(8, 0, 5), 0)},
			req:      Request{Requirements: mustReqs(t, "dataset=cryo-2026"), Caller: caller},
			want:     []string{"data-box"},
			rejected: map[string]string{"cpu-box": "needs dataset=cryo-2026, holds no datasets", "gpu-box": "needs dataset=cryo-2026, holds no datasets"},
		},
		{
			name:  "locality beats capacity",
			cands: []Candidate{up(cpu, load(8, 8, 0), time.Millisecond), up(gpu, load(64, 64, 0), time.Millisecond), up(data, load(8, 0, 5), 90*time.Millisecond)},
			req:   Request{Caller: caller, Datasets: []string{"cryo-2026", "tomo-raw", "cryo-2026"}},
			want:  []string{"data-box", "cpu-box", "gpu-box"},
		},
		{
			name: "more datasets held ranks first",
			cands: []Candidate{
				up(withDatasets(box(t, 10, "one"), "a"), nil, 0),
				up(withDatasets(box(t, 11, "two"), "a", "b"), nil, 0),
				up(withDatasets(box(t, 12, "none")), load(8, 8, 0), 0),
			},
			req:  Request{Caller: caller, Datasets: []string{"a", "b"}},
			want: []string{"two", "one", "none"},
		},
		{
			name: "equal capabilities: idle beats busy",
			cands: []Candidate{
				up(box(t, 10, "busy"), load(8, 1, 0), time.Millisecond),
				up(box(t, 11, "idle"), load(8, 8, 0), 40*time.Millisecond),
				up(box(t, 12, "queued"), load(8, 4, 4), time.Millisecond),
			},
			req:  Request{Caller: caller},
			want: []string{"idle", "busy", "queued"},
		},
		{
			name: "unknown load ranks below idle, above full",
			cands: []Candidate{
				up(box(t, 10, "full"), load(8, 0, 0), time.Millisecond),
				up(box(t, 11, "unknown"), nil, time.Millisecond),
				up(box(t, 12, "overloaded"), load(8, 0, 20), time.Millisecond),
				up(box(t, 13, "idle"), load(8, 1, 0), time.Millisecond),
			},
			req:  Request{Caller: caller},
			want: []string{"idle", "unknown", "full", "overloaded"},
		},
		{
			name: "RTT breaks ties, unknown last",
			cands: []Candidate{
				up(box(t, 10, "far"), load(4, 4, 0), 80*time.Millisecond),
				up(box(t, 11, "unknown"), load(4, 4, 0), 0),
				up(box(t, 12, "near"), load(4, 4, 0), 2*time.Millisecond),
			},
			req:  Request{Caller: caller},
			want: []string{"near", "far", "unknown"},
		},
		{
			name: "cost breaks further ties",
			cands: []Candidate{
				up(withLabel(box(t, 10, "dear"), "cost", "3"), load(4, 4, 0), 5*time.Millisecond),
				up(withLabel(box(t, 11, "cheap"), "cost", "0.5"), load(4, 4, 0), 5*time.Millisecond),
				up(box(t, 12, "free"), load(4, 4, 0), 5*time.Millisecond),
				up(withLabel(box(t, 13, "junk"), "cost", "lots"), load(4, 4, 0), 5*time.Millisecond),
				up(withLabel(box(t, 14, "mid"), "cost", "1"), load(4, 4, 0), 5*time.Millisecond),
			},
			req:  Request{Caller: caller},
			want: sortedByID(t, []string{"free", "junk"}, map[string]byte{"free": 12, "junk": 13}, "cheap", "mid", "dear"),
		},
		{
			name: "ID breaks final ties",
			cands: []Candidate{
				up(box(t, 12, "c"), nil, 0),
				up(box(t, 10, "a"), nil, 0),
				up(box(t, 11, "b"), nil, 0),
			},
			req:  Request{Caller: caller},
			want: sortedByID(t, []string{"a", "b", "c"}, map[string]byte{"a": 10, "b": 11, "c": 12}),
		},
		{
			name: "rejections, each with its reason",
			cands: []Candidate{
				up(box(t, 10, "tried"), load(4, 4, 0), 0),
				{Record: box(t, 11, "gone"), Load: load(4, 4, 0), Online: false},
				up(box(t, 12, "draining"), &Load{Seq: 1, Workers: 4, Idle: 4, Accepting: false}, 0),
				up(private, nil, 0),
				up(shared, nil, 0),
				up(box(t, 13, "small"), nil, 0),
				{Record: nil, Online: true},
			},
			req: Request{
				Requirements: mustReqs(t, "cpus>=4", "memory>=64GiB"),
				Caller:       caller,
				Exclude:      map[string]bool{testPeer(t, 10).String(): true},
			},
			want: nil,
			rejected: map[string]string{
				"tried":    ReasonExcluded,
				"gone":     ReasonOffline,
				"draining": ReasonNotAccepting,
				"private":  ReasonPolicy,
				"shared":   ReasonUntrustedOwner,
				"small":    "needs memory>=64GiB, has 32 GiB",
				"":         ReasonNoRecord,
			},
		},
		{
			name:     "no caller, no admission",
			cands:    []Candidate{up(private, nil, 0), up(shared, nil, 0)},
			req:      Request{},
			rejected: map[string]string{"private": ReasonPolicy, "shared": ReasonPolicy},
		},
		{
			name:  "an allowed caller is admitted where they trust the owner",
			cands: []Candidate{up(private, nil, 0), up(shared, nil, 0)},
			req:   Request{Caller: caller, TrustedOwners: []peer.ID{other}},
			want:  []string{"shared"},
			rejected: map[string]string{
				"private": ReasonPolicy,
			},
		},
		{
			name:  "an endpoint holding the image ranks before a freer one that would pull it",
			cands: []Candidate{up(gpu, load(8, 8, 0), time.Millisecond), up(cpu, load(4, 1, 0), 40*time.Millisecond), up(data, load(8, 8, 0), 0)},
			req:   Request{Requirements: []Requirement{ImageRequirement("fxmesh-test/python:1")}, Image: "fxmesh-test/python:1", Caller: caller},
			want:  []string{"cpu-box", "gpu-box"},
			rejected: map[string]string{
				"data-box": "needs image=fxmesh-test/python:1, has no container runtime",
			},
		},
		{
			name:  "without the preference, load decides between holding and pulling",
			cands: []Candidate{up(gpu, load(8, 8, 0), time.Millisecond), up(cpu, load(4, 1, 0), 40*time.Millisecond)},
			req:   Request{Requirements: []Requirement{ImageRequirement("fxmesh-test/python:1")}, Caller: caller},
			want:  []string{"gpu-box", "cpu-box"},
		},
		{
			name: "datasets held come before the image held",
			cands: []Candidate{up(withDatasets(gpuBox(t), "cryo-2026"), load(1, 0, 5), 0), up(cpu, load(4, 4, 0), time.Millisecond),
				up(box(t, 30, "also-holds"), load(1, 0, 9), 0)},
			req:  Request{Requirements: mustReqs(t, "image=busybox"), Image: "busybox", Datasets: []string{"cryo-2026"}, Caller: caller},
			want: []string{"gpu-box", "cpu-box", "also-holds"},
		},
		{
			name: "no candidates",
			req:  Request{Caller: caller},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Rank(tc.cands, tc.req)
			if len(got) != len(tc.cands) {
				t.Fatalf("Rank returned %d of %d candidates", len(got), len(tc.cands))
			}
			var eligible []string
			rejected := map[string]string{}
			seenRejected := false
			for _, s := range got {
				if s.Eligible {
					if seenRejected {
						t.Fatal("an eligible candidate after a rejected one")
					}
					if s.Rejected != "" {
						t.Fatalf("eligible %s with a reason %q", s.Record.Name, s.Rejected)
					}
					eligible = append(eligible, s.Record.Name)
					continue
				}
				seenRejected = true
				if s.Rejected == "" {
					t.Fatal("rejected without a reason")
				}
				if s.Score != (Score{}) {
					t.Fatalf("rejected with a score: %+v", s.Score)
				}
				name := ""
				if s.Record != nil {
					name = s.Record.Name
				}
				rejected[name] = s.Rejected
			}
			if !slices.Equal(eligible, tc.want) {
				t.Fatalf("eligible %q, want %q", eligible, tc.want)
			}
			if len(rejected) != len(tc.rejected) {
				t.Fatalf("rejected %q, want %q", rejected, tc.rejected)
			}
			for name, why := range tc.rejected {
				if rejected[name] != why {
					t.Errorf("%s rejected for %q, want %q", name, rejected[name], why)
				}
			}
			// Total falls with rank.
			for i := 1; i < len(eligible); i++ {
				if got[i].Score.Total >= got[i-1].Score.Total {
					t.Fatalf("Total not falling: %v then %v", got[i-1].Score.Total, got[i].Score.Total)
				}
			}
			if len(eligible) > 0 && got[0].Score.Total != 1 {
				t.Fatalf("best Total = %v, want 1", got[0].Score.Total)
			}
			// The order does not depend on the order of the input.
			rng := rand.New(rand.NewPCG(1, 2))
			for range 10 {
				shuffled := slices.Clone(tc.cands)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				again := Rank(shuffled, tc.req)
				for i := range got {
					if again[i].Record != got[i].Record || again[i].Rejected != got[i].Rejected {
						t.Fatalf("shuffled input, other order at %d", i)
					}
				}
			}
		})
	}
}

// TestRankOwnerTrust: work goes only to endpoints whose owner is proven and
// trusted, unless the request says any owner will do.
func TestRankOwnerTrust(t *testing.T) {
	caller, friend, stranger := testCaller(t), testPeer(t, 97), testPeer(t, 96)
	// owned makes a public endpoint claiming owner, verified or not.
	owned := func(seed byte, name string, owner peer.ID, verified bool) Candidate {
		r := box(t, seed, name)
		r.Owner, r.OwnerVerified = owner.String(), verified
		if owner == "" {
			r.Owner = ""
		}
		return up(r, nil, 0)
	}
	cands := []Candidate{
		owned(10, "mine", caller, true),
		owned(11, "friends", friend, true),
		owned(12, "strangers", stranger, true),
		owned(13, "claims-mine", caller, false),
		owned(14, "claims-friends", friend, false),
		owned(15, "no-owner", "", false),
	}
	tests := []struct {
		name     string
		req      Request
		eligible []string
		rejected map[string]string
	}{
		{
			name:     "by default only the caller's own",
			req:      Request{Caller: caller},
			eligible: []string{"mine"},
			rejected: map[string]string{
				"friends": ReasonUntrustedOwner, "strangers": ReasonUntrustedOwner,
				"claims-mine": ReasonUnverifiedOwner, "claims-friends": ReasonUnverifiedOwner, "no-owner": ReasonUnverifiedOwner,
			},
		},
		{
			name:     "a trusted owner's, when verified",
			req:      Request{Caller: caller, TrustedOwners: []peer.ID{friend}},
			eligible: []string{"friends", "mine"},
			rejected: map[string]string{
				"strangers":   ReasonUntrustedOwner,
				"claims-mine": ReasonUnverifiedOwner, "claims-friends": ReasonUnverifiedOwner, "no-owner": ReasonUnverifiedOwner,
			},
		},
		{
			name:     "any owner",
			req:      Request{Caller: caller, AnyOwner: true},
			eligible: []string{"claims-friends", "claims-mine", "friends", "mine", "no-owner", "strangers"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var eligible []string
			rejected := map[string]string{}
			for _, s := range Rank(cands, tc.req) {
				if s.Eligible {
					eligible = append(eligible, s.Record.Name)
				} else {
					rejected[s.Record.Name] = s.Rejected
				}
			}
			slices.Sort(eligible)
			if !slices.Equal(eligible, tc.eligible) {
				t.Fatalf("eligible %q, want %q", eligible, tc.eligible)
			}
			if len(rejected) != len(tc.rejected) {
				t.Fatalf("rejected %q, want %q", rejected, tc.rejected)
			}
			for name, why := range tc.rejected {
				if rejected[name] != why {
					t.Errorf("%s rejected for %q, want %q", name, rejected[name], why)
				}
			}
		})
	}
}

func withDatasets(r *EndpointRecord, ds ...string) *EndpointRecord {
	r.Datasets = ds
	return r
}

// sortedByID returns names in the order of the IDs their seeds make,
// followed by rest: the order Rank gives otherwise equal candidates.
func sortedByID(t *testing.T, names []string, seeds map[string]byte, rest ...string) []string {
	out := slices.Clone(names)
	slices.SortFunc(out, func(a, b string) int {
		return strings.Compare(testPeer(t, seeds[a]).String(), testPeer(t, seeds[b]).String())
	})
	return append(out, rest...)
}

func TestRankScore(t *testing.T) {
	caller := testCaller(t)
	got := Rank([]Candidate{up(withLabel(dataBox(t), "cost", "2.5"), load(8, 6, 2), 3*time.Millisecond)},
		Request{Caller: caller, Datasets: []string{"cryo-2026", "other"}})
	want := Score{Locality: 1, FreeCapacity: 0.75, QueuePenalty: 0.25, RTT: 3 * time.Millisecond, Cost: 2.5, Total: 1}
	if got[0].Score != want {
		t.Fatalf("score %+v, want %+v", got[0].Score, want)
	}
}

func TestUnmet(t *testing.T) {
	caller := testCaller(t)
	gpu, cpu, data := gpuBox(t), cpuBox(t), dataBox(t)
	private := box(t, 20, "private")
	private.Public, private.Owner = false, testPeer(t, 98).String()
	theirs := box(t, 21, "theirs")
	theirs.Owner = testPeer(t, 98).String()
	claimsMine := box(t, 22, "claims-mine")
	claimsMine.OwnerVerified = false
	restricted := box(t, 23, "restricted")
	restricted.Functions = []string{"bafyother", testPeer(t, 97).String()}
	tests := []struct {
		name  string
		cands []Candidate
		req   Request
		msg   string // the whole message; "" when an endpoint is eligible
		unmet []string
		kind  fault.Kind // the error's kind; "" for not-found
	}{
		{
			name:  "eligible: no error",
			cands: []Candidate{up(gpu, nil, 0), up(cpu, nil, 0)},
			req:   Request{Requirements: mustReqs(t, "gpus>=1"), Caller: caller},
		},
		{
			name:  "no GPU anywhere",
			cands: []Candidate{up(cpu, nil, 0), up(data, nil, 0), up(box(t, 10, "x"), nil, 0)},
			req:   Request{Requirements: mustReqs(t, "gpus>=1"), Caller: caller},
			msg:   "routing: no endpoint meets gpus>=1 (3 endpoints: 3 have 0 GPUs)",
			unmet: []string{"gpus>=1"},
		},
		{
			name:  "two requirements unmet, one met",
			cands: []Candidate{up(cpu, nil, 0), up(data, nil, 0)},
			req:   Request{Requirements: mustReqs(t, "memory>=1TiB", "cpus>=1", "dataset=cryo-2025"), Caller: caller},
			msg: "routing: no endpoint meets memory>=1TiB (2 endpoints: 1 has 256 GiB, 1 has 32 GiB); " +
				"no endpoint meets dataset=cryo-2025 (2 endpoints: 1 holds [cryo-2026 tomo-raw], 1 holds no datasets)",
			unmet: []string{"memory>=1TiB", "dataset=cryo-2025"},
		},
		{
			name: "the GPU endpoint offline is not counted as meeting",
			cands: []Candidate{
				{Record: gpu, Online: false},
				up(cpu, nil, 0),
				up(private, nil, 0),
			},
			req:   Request{Requirements: mustReqs(t, "gpus>=1"), Caller: caller},
			msg:   "routing: no endpoint meets gpus>=1 (1 endpoint: 1 has 0 GPUs); other endpoints: 1 caller not allowed by endpoint policy, 1 offline",
			unmet: []string{"gpus>=1"},
		},
		{
			name:  "each met, never together",
			cands: []Candidate{up(gpu, nil, 0), up(data, nil, 0)},
			req:   Request{Requirements: mustReqs(t, "gpus>=1", "dataset=cryo-2026"), Caller: caller},
			msg: "routing: no endpoint meets all of gpus>=1 dataset=cryo-2026 (2 endpoints: " +
				"1 needs dataset=cryo-2026, holds no datasets, 1 needs gpus>=1, has 0 GPUs)",
		},
		{
			name: "all tried",
			cands: []Candidate{
				up(gpu, nil, 0),
				up(cpu, nil, 0),
			},
			req: Request{Caller: caller, Exclude: map[string]bool{gpu.ID: true, cpu.ID: true}},
			msg: "routing: no eligible endpoint: 2 excluded: already tried",
		},
		{
			name:  "only an untrusted owner's endpoint: say whom to trust",
			cands: []Candidate{up(theirs, nil, 0)},
			req:   Request{Requirements: mustReqs(t, "cpus>=1"), Caller: caller},
			msg: "routing: no eligible endpoint: 1 untrusted owner; to use them, trust their owner (fx trust add " +
				theirs.Owner + ") or pass --any-endpoint",
		},
		{
			name:  "untrusted and unverified",
			cands: []Candidate{up(theirs, nil, 0), up(claimsMine, nil, 0)},
			req:   Request{Caller: caller},
			msg: "routing: no eligible endpoint: 1 untrusted owner, 1 unverified owner; to use them, trust their owner (fx trust add " +
				theirs.Owner + "), or pass --any-endpoint to use any endpoint, unverified owners too",
		},
		{
			name:  "only an unverified owner's endpoint",
			cands: []Candidate{up(claimsMine, nil, 0), {Record: gpu, Online: false}},
			req:   Request{Caller: caller},
			msg: "routing: no eligible endpoint: 1 offline, 1 unverified owner; " +
				"an endpoint whose owner is unverified is used only with --endpoint ID or --any-endpoint",
		},
		{
			name:  "any owner: an unmet requirement is named as before",
			cands: []Candidate{up(theirs, nil, 0), up(claimsMine, nil, 0)},
			req:   Request{Requirements: mustReqs(t, "gpus>=1"), Caller: caller, AnyOwner: true},
			msg:   "routing: no endpoint meets gpus>=1 (2 endpoints: 2 have 0 GPUs)",
			unmet: []string{"gpus>=1"},
		},
		{
			name:  "every endpoint offline or not accepting: unavailable, as with --endpoint",
			cands: []Candidate{{Record: gpu, Online: false}, up(cpu, &Load{Accepting: false}, 0)},
			req:   Request{Requirements: mustReqs(t, "cpus>=1"), Caller: caller},
			msg:   "routing: no eligible endpoint: 1 down: not accepting work, 1 offline",
			kind:  fault.Unavailable,
		},
		{
			name:  "every endpoint refuses the caller: denied, as with --endpoint",
			cands: []Candidate{up(private, nil, 0)},
			req:   Request{Caller: caller},
			msg:   "routing: no eligible endpoint: 1 caller not allowed by endpoint policy",
			kind:  fault.Denied,
		},
		{
			name:  "the only endpoint does not serve the function: denied, as with --endpoint",
			cands: []Candidate{up(restricted, nil, 0)},
			req:   Request{Caller: caller, Function: &FunctionRef{ID: "bafyfn", Owner: caller.String(), Name: "add"}},
			msg:   "routing: no eligible endpoint: 1 does not serve this function",
			kind:  fault.Denied,
		},
		{
			name:  "one does not serve the function, the other lacks a module",
			cands: []Candidate{up(restricted, nil, 0), up(cpu, nil, 0)},
			req:   Request{Requirements: mustReqs(t, "module=numpy"), Caller: caller, Function: &FunctionRef{ID: "bafyfn", Owner: caller.String(), Name: "add"}},
			msg:   "routing: no endpoint meets module=numpy (1 endpoint: 1 lists no Python modules); other endpoints: 1 does not serve this function",
			unmet: []string{"module=numpy"},
		},
		{
			name: "none known",
			req:  Request{Requirements: mustReqs(t, "gpus>=1"), Caller: caller},
			msg:  "routing: no endpoint known: the mesh lists none (is an endpoint's fxnode running? fx endpoints lists them)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Unmet(tc.cands, tc.req)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Unmet = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.msg {
				t.Fatalf("Unmet =\n%v\nwant\n%s", err, tc.msg)
			}
			kind := tc.kind
			if kind == "" {
				kind = fault.NotFound
			}
			if !fault.Is(err, kind) || !errors.Is(err, ErrNoEndpoint) {
				t.Fatalf("kind %s, errors.Is(ErrNoEndpoint) %v", fault.KindOf(err), errors.Is(err, ErrNoEndpoint))
			}
			var ue *UnmetError
			if !errors.As(err, &ue) {
				t.Fatal("no *UnmetError in the chain")
			}
			var unmet []string
			for _, r := range ue.Unmet {
				unmet = append(unmet, r.String())
			}
			if !slices.Equal(unmet, tc.unmet) {
				t.Fatalf("Unmet %q, want %q", unmet, tc.unmet)
			}
			total := 0
			for _, n := range ue.Rejected {
				total += n
			}
			if total != len(tc.cands) || ue.Total != len(tc.cands) {
				t.Fatalf("Rejected %v, Total %d, of %d candidates", ue.Rejected, ue.Total, len(tc.cands))
			}
		})
	}
}

func TestSplit(t *testing.T) {
	elig := func(l *Load) Scored { return Scored{Candidate: Candidate{Load: l}, Eligible: true} }
	rejected := Scored{Rejected: "offline"}
	tests := []struct {
		name   string
		n      int
		ranked []Scored
		want   []int
	}{
		{"none eligible", 10, []Scored{rejected}, []int{0}},
		{"nothing to split", 0, []Scored{elig(nil)}, []int{0}},
		{"negative", -3, []Scored{elig(nil)}, []int{0}},
		{"fewer than endpoints: the best get one", 2, []Scored{elig(load(8, 1, 0)), elig(load(8, 8, 0)), elig(nil)}, []int{1, 1, 0}},
		{"proportional 3:1", 40, []Scored{elig(load(30, 30, 0)), elig(load(10, 10, 0))}, []int{30, 10}},
		{"proportional with one each first", 10, []Scored{elig(load(8, 6, 0)), elig(load(8, 2, 0))}, []int{7, 3}},
		{"queued tasks take free workers", 12, []Scored{elig(load(8, 8, 4)), elig(load(8, 8, 0))}, []int{4, 8}},
		{"a full endpoint gets just one", 10, []Scored{elig(load(8, 8, 0)), elig(load(8, 0, 9))}, []int{9, 1}},
		{"unknown counts as the mean of the known", 21, []Scored{elig(load(8, 8, 0)), elig(nil), elig(load(4, 4, 0)), elig(load(8, 0, 0))}, []int{8, 7, 5, 1}},
		{"all unknown: even", 10, []Scored{elig(nil), elig(nil), elig(nil)}, []int{4, 3, 3}},
		{"all full: even", 7, []Scored{elig(load(2, 0, 0)), elig(load(2, 0, 5))}, []int{4, 3}},
		{"rejected get none", 5, []Scored{elig(load(4, 4, 0)), rejected, elig(load(4, 4, 0))}, []int{3, 0, 2}},
		{"exactly one each", 3, []Scored{elig(load(100, 100, 0)), elig(nil), elig(load(1, 0, 0))}, []int{1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.n, tc.ranked)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Split(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

// TestSplitSums checks Split's promises over many random inputs.
func TestSplitSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for range 2000 {
		var ranked []Scored
		nElig := 0
		for range 1 + rng.IntN(8) {
			s := Scored{Eligible: rng.IntN(5) > 0}
			if rng.IntN(4) > 0 {
				w := rng.IntN(64)
				s.Load = load(w, rng.IntN(w+1), rng.IntN(10))
			}
			if s.Eligible {
				nElig++
			}
			ranked = append(ranked, s)
		}
		n := rng.IntN(500)
		got := Split(n, ranked)
		sum := 0
		for i, c := range got {
			sum += c
			switch {
			case c < 0:
				t.Fatalf("negative count %v", got)
			case !ranked[i].Eligible && c != 0:
				t.Fatalf("a rejected candidate got %d", c)
			case ranked[i].Eligible && n >= nElig && c < 1:
				t.Fatalf("n=%d >= %d eligible, yet one got none: %v", n, nElig, got)
			}
		}
		want := n
		if nElig == 0 {
			want = 0
		}
		if sum != want {
			t.Fatalf("Split(%d) sums to %d: %v", n, sum, got)
		}
		if !slices.Equal(got, Split(n, ranked)) {
			t.Fatal("Split is not deterministic")
		}
	}
}

// TestRankAllowlist: an endpoint whose advertised allowlist does not offer
// the function is rejected, by each form of entry, and one that restricts
// by a list it does not advertise is left to decide; without a function
// the allowlist is not consulted.
func TestRankAllowlist(t *testing.T) {
	caller := testCaller(t)
	owner := testPeer(t, 97).String()
	fn := &FunctionRef{ID: "bafyadd2", Owner: owner, Name: "add"}
	tests := []struct {
		name     string
		list     []string
		unlisted bool
		fn       *FunctionRef
		served   bool
	}{
		{"no allowlist", nil, false, fn, true},
		{"by ID", []string{"bafyadd2"}, false, fn, true},
		{"another version's ID", []string{"bafyadd1"}, false, fn, false},
		{"by OWNER/NAME", []string{owner + "/add"}, false, fn, true},
		{"another name of the owner", []string{owner + "/sub"}, false, fn, false},
		{"by owner", []string{caller.String(), owner}, false, fn, true},
		{"another owner", []string{caller.String()}, false, fn, false},
		{"unlisted: the endpoint decides", nil, true, fn, true},
		{"no function named", []string{"bafyadd1"}, false, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := box(t, 30, "restricted")
			rec.Functions, rec.FunctionsUnlisted = tc.list, tc.unlisted
			other := box(t, 31, "open")
			got := Rank([]Candidate{up(rec, nil, 0), up(other, nil, 0)}, Request{Caller: caller, Function: tc.fn})
			var s Scored
			for _, g := range got {
				if g.Record == rec {
					s = g
				}
			}
			if s.Eligible != tc.served {
				t.Fatalf("eligible %v (%q), want %v", s.Eligible, s.Rejected, tc.served)
			}
			if !tc.served && s.Rejected != ReasonNotServed {
				t.Fatalf("rejected for %q, want %q", s.Rejected, ReasonNotServed)
			}
		})
	}
}
