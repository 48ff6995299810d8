package catalog

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/require"
)

// requirementCases are requirements of every key, as a function record may
// carry them: each key with values that mean something to routing, and with
// values that do not. want is the reason of package require's refusal; nil
// for a requirement that parses.
var requirementCases = []struct {
	name string
	req  string
	want error
}{
	{"cpus", "cpus>=8", nil},
	{"cpus by name", "cpus=many", require.ErrBadValue},
	{"cpus fraction", "cpus>=1.5", require.ErrBadValue},
	{"memory", "memory>=64GiB", nil},
	{"memory without a known unit", "memory>=64G", require.ErrBadValue},
	{"memory by name", "memory>=lots", require.ErrBadValue},
	{"gpu_memory", "gpu_memory>=80GB", nil},
	{"gpu_memory fraction without unit", "gpu_memory>=1.5", require.ErrBadValue},
	{"gpus", "gpus>=1", nil},
	{"gpus by name", "gpus=many", require.ErrBadValue},
	{"gpus with a unit", "gpus>=2GiB", require.ErrBadValue},
	{"gpu_model", "gpu_model=H200", nil},
	{"gpu_model compared", "gpu_model>=100", require.ErrBadOperator},
	{"gpu", "gpu=h200", nil},
	{"arch", "arch=x86_64", nil},
	{"arch compared", "arch>=5", require.ErrBadOperator},
	{"os", "os!=darwin", nil},
	{"os compared", "os<3", require.ErrBadOperator},
	{"python", "python>=3.10", nil},
	{"python by name", "python=abc", require.ErrBadValue},
	{"python with letters", "python>=3.10a", require.ErrBadValue},
	{"container", "container=apptainer", nil},
	{"container compared", "container>1", require.ErrBadOperator},
	{"scheduler", "scheduler=slurm", nil},
	{"scheduler compared", "scheduler>=2", require.ErrBadOperator},
	{"dataset", "dataset=cryo-2026", nil},
	{"dataset compared", "dataset<x", require.ErrBadOperator},
	{"image", "image=127.0.0.1:5000/x/y:tag", nil},
	{"image compared", "image>=1", require.ErrBadOperator},
	{"image with a space", "image=a b", require.ErrBadValue},
	{"module", "module=numpy>=1.26", nil},
	{"module compared", "module>=1", require.ErrBadOperator},
	{"module with a bad version", "module=numpy>=1.2rc1", require.ErrBadValue},
	{"label:K", "label:site=aps", nil},
	{"label:K compared", "label:tier>=2", nil},
	{"label:K of 64 bytes", "label:" + strings.Repeat("K", 64) + "=v", nil},
	{"label:K compared with a word", "label:tier>=high", require.ErrBadValue},
	{"label:K empty", "label:=x", require.ErrBadKey},
	{"bare K=V", "site=aps", nil},
	{"bare K compared", "tier>=1", nil},
	{"bare K compared with a word", "tier>=high", require.ErrBadValue},
	{"bare K in capitals", "Site=aps", require.ErrBadKey},
	{"lone bang", "arch!arm64", require.ErrBadOperator},
	{"no operator", "gpus", require.ErrNoOperator},
}

// TestRequirementCasesCoverEveryKey keeps requirementCases honest: every key
// of the grammar, label:K and bare labels have a good and a bad case.
func TestRequirementCasesCoverEveryKey(t *testing.T) {
	good, bad := map[string]bool{}, map[string]bool{}
	for _, tc := range requirementCases {
		key := tc.req[:strings.IndexAny(tc.req+"=", "<>=!")]
		switch {
		case strings.HasPrefix(key, require.KeyLabelPrefix):
			key = "label:K"
		case !slices.Contains(require.KnownKeys(), key):
			key = "K"
		}
		if tc.want == nil {
			good[key] = true
		} else {
			bad[key] = true
		}
	}
	for _, k := range append(require.KnownKeys(), "label:K", "K") {
		// gpu is gpu_model's other name: one bad case covers both.
		if !good[k] || !bad[k] && k != require.KeyGPU {
			t.Errorf("key %s: good case %v, bad case %v", k, good[k], bad[k])
		}
	}
}

// wantRequirementErr checks that err is catalog validation's refusal of
// requirement req: ErrInvalidField and want (package require's reason), kind
// Invalid, carrying the very message require.Parse (and so routing) gives.
func wantRequirementErr(t *testing.T, path string, err error, req string, want error) {
	t.Helper()
	_, perr := require.Parse(req)
	if perr == nil {
		t.Fatalf("%s: require.Parse(%q) accepts it", path, req)
	}
	switch {
	case err == nil:
		t.Errorf("%s: %s accepted", path, req)
	case !errors.Is(err, ErrInvalidField) || !errors.Is(err, want):
		t.Errorf("%s: err = %v, want %v and %v", path, err, ErrInvalidField, want)
	case fault.KindOf(err) != fault.Invalid:
		t.Errorf("%s: kind of %v = %q, want invalid", path, err, fault.KindOf(err))
	case !strings.Contains(err.Error(), perr.Error()):
		t.Errorf("%s: message %q does not carry require's %q", path, err, perr)
	}
}

// sentTopic is a Topic that records what is published on it.
type sentTopic struct {
	mu   sync.Mutex
	sent [][]byte
}

func (s *sentTopic) Publish(_ context.Context, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, b)
	return nil
}

func (s *sentTopic) Next(ctx context.Context) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s *sentTopic) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// uncheckedPeer is a SyncPeer that offers whatever records it was given,
// unchecked, as a node of an older release (or a hostile one) may.
type uncheckedPeer struct {
	updates, functions map[ID][]byte
}

func (p uncheckedPeer) Sync(_ context.Context, req *SyncRequest) (*SyncResponse, error) {
	resp := &SyncResponse{}
	if req.Compare {
		buckets := map[uint8]*BucketKeys{}
		bucket := func(id ID) *BucketKeys {
			if buckets[id.bucket()] == nil {
				buckets[id.bucket()] = &BucketKeys{Index: id.bucket()}
			}
			return buckets[id.bucket()]
		}
		for id := range p.updates {
			bucket(id).Updates = append(bucket(id).Updates, id)
		}
		for id := range p.functions {
			bucket(id).Functions = append(bucket(id).Functions, id)
		}
		for _, bk := range buckets {
			sortIDs(bk.Updates)
			sortIDs(bk.Functions)
			resp.Diff = append(resp.Diff, *bk)
		}
		slices.SortFunc(resp.Diff, func(a, b BucketKeys) int { return int(a.Index) - int(b.Index) })
	}
	for _, id := range req.Want {
		if b, ok := p.updates[id]; ok {
			resp.Updates = append(resp.Updates, b)
		}
		if b, ok := p.functions[id]; ok {
			resp.Functions = append(resp.Functions, b)
		}
	}
	return resp, nil
}

// logRecorder is a slog.Handler that keeps the records it is given, and
// passes them on to t's log.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	next    slog.Handler
}

func newLogRecorder(t testing.TB) *logRecorder {
	return &logRecorder{next: testLogger(t).Handler()}
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return h.next.Handle(ctx, r)
}

// errs returns the "err" attributes of the records of level with message
// msg, as strings.
func (h *logRecorder) errs(level slog.Level, msg string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level != level || r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

// said reports whether any of errs carries the message of err.
func said(errs []string, err error) bool {
	return slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, err.Error()) })
}

// TestRequirementsOnEveryPath takes a function with each requirement of
// requirementCases through every way a record enters a catalog: built by
// NewPublish, applied by its owner's store (Apply, Publish), judged by a
// gossip validator (Check) and received from gossip (Receive), pushed to a
// store serving sync (HandleSync), pulled from a peer (Pull), and carried
// as a private function's proof (VerifyFunction). A requirement that
// package require refuses is refused on every path, with require's message;
// one it accepts passes on every path.
func TestRequirementsOnEveryPath(t *testing.T) {
	alice := testKey(t, 1)
	owner := alice.ID().String()
	for _, tc := range requirementCases {
		t.Run(tc.name, func(t *testing.T) {
			fn := pyFunc("f", tc.req)
			fn.Requirements = []string{tc.req}
			// The owner's key signs whatever its client built: a client
			// other than fx need not check requirements first.
			u := rawPublish(t, alice, fn, 1)
			env := sealUpdate(t, alice, u)
			payload, err := marshal(u)
			if err != nil {
				t.Fatal(err)
			}
			body, err := u.Function.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			uid, fid := idOf(payload), idOf(body)
			ref := owner + "/f"
			resolves := func(s *Store) bool { _, err := s.Resolve(ref); return err == nil }

			// Publish: the builder, then the owner's own store, which
			// gossips what it applies.
			_, errBuild := NewPublish(alice, nil, fn, Access{Public: true}, t0)
			own := memStore(t, Options{KeepPrivate: true})
			_, errApply := own.Apply(env)
			topic := &sentTopic{}
			gossiper := memStore(t, Options{})
			_, errPublish := gossiper.Publish(t.Context(), topic, env)
			// Gossip: the validator, then the store that follows.
			validator := memStore(t, Options{})
			_, errCheck := validator.Check(env)
			follower := memStore(t, Options{})
			_, errReceive := follower.Receive(env)
			// Sync: the decoders of what it carries, a store that a peer
			// pushes to, and a store that pulls from a peer.
			_, errDecode := DecodeUpdate(env, Limits{})
			_, _, errDecodeFunction := DecodeFunction(body, Limits{})
			logs := newLogRecorder(t)
			served := memStore(t, Options{Logger: slog.New(logs)})
			served.HandleSync(&SyncRequest{Updates: [][]byte{env}, Functions: [][]byte{body}})
			puller := memStore(t, Options{Logger: slog.New(logs)})
			st, errPull := puller.Pull(t.Context(), uncheckedPeer{
				updates: map[ID][]byte{uid: env}, functions: map[ID][]byte{fid: body},
			})
			if errPull != nil {
				t.Fatalf("pull: %v", errPull)
			}
			// A private function's proof, as an endpoint checks it.
			_, _, _, errProof := VerifyFunction(env, body, Limits{})

			paths := []struct {
				name string
				err  error
			}{
				{"NewPublish", errBuild}, {"Apply", errApply}, {"Publish", errPublish},
				{"Check", errCheck}, {"Receive", errReceive},
				{"DecodeUpdate", errDecode}, {"DecodeFunction", errDecodeFunction},
				{"VerifyFunction", errProof},
			}
			if tc.want == nil {
				for _, p := range paths {
					if p.err != nil {
						t.Errorf("%s: %v", p.name, p.err)
					}
				}
				for name, s := range map[string]*Store{"Apply": own, "Publish": gossiper, "Receive": follower, "HandleSync": served, "Pull": puller} {
					if !resolves(s) {
						t.Errorf("%s: the function is not in the store", name)
					}
				}
				if topic.count() != 1 {
					t.Errorf("Publish sent %d messages, want 1", topic.count())
				}
				if st.Received == 0 || st.Rejected != 0 {
					t.Errorf("pull: %+v", st)
				}
				return
			}

			for _, p := range paths {
				wantRequirementErr(t, p.name, p.err, tc.req, tc.want)
			}
			if v := VerdictOf(errCheck); v != Reject {
				t.Errorf("gossip verdict %v, want reject", v)
			}
			for name, s := range map[string]*Store{"Apply": own, "Publish": gossiper, "Receive": follower, "HandleSync": served, "Pull": puller} {
				if resolves(s) || s.Has(uid) || s.Has(fid) || s.Stats() != (Stats{}) {
					t.Errorf("%s: the store took the function: %+v", name, s.Stats())
				}
			}
			if topic.count() != 0 {
				t.Errorf("Publish sent %d messages", topic.count())
			}
			if st.Received != 0 || st.Rejected == 0 {
				t.Errorf("pull: %+v, want the records rejected", st)
			}
			_, perr := require.Parse(tc.req)
			if errs := logs.errs(slog.LevelDebug, "catalog: sync item rejected"); !said(errs, perr) {
				t.Errorf("sync rejections logged %q, none saying %q", errs, perr)
			}
		})
	}
}

// TestStoredRecordsTheRuleRefuses builds a store on a backend that an older
// release wrote, holding a function whose requirement (gpus=many) the
// grammar now refuses, beside a good one. The refused head and body are
// left out of the store, each with a warning that says why; the rest of the
// store works, and the owner can publish the name again.
func TestStoredRecordsTheRuleRefuses(t *testing.T) {
	const bad = "gpus=many"
	alice := newClient(t, testKey(t, 1))
	owner := alice.k.ID().String()
	be := NewMemoryBackend()

	// The backend, as an older release's Apply wrote it: the good function
	// through today's Apply, the refused one straight into the backend.
	good := alice.publish(pyFunc("good", ""), Access{Public: true})
	fn := pyFunc("old", "")
	fn.Requirements = []string{bad}
	u := rawPublish(t, alice.k, fn, 1)
	env := sealUpdate(t, alice.k, u)
	body, err := u.Function.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	uid, fid := idOf(payload), idOf(body)
	s, err := New(be, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, good)
	if err := be.Commit(&Batch{Ref: u.Ref(), Head: env, Put: map[ID][]byte{fid: body}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, perr := require.Parse(bad)
	opened := func(t *testing.T, opts Options) (*Store, *logRecorder) {
		t.Helper()
		logs := newLogRecorder(t)
		opts.Logger = slog.New(logs)
		s, err := New(be, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, logs
	}
	leftOut := func(t *testing.T, s *Store, logs *logRecorder) {
		t.Helper()
		if r, err := s.Resolve(owner + "/old"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("the refused function resolves: %+v, %v", r, err)
		}
		if _, err := s.Get(fid); !fault.Is(err, fault.NotFound) {
			t.Fatalf("the refused body is held: %v", err)
		}
		if items := s.Items(); slices.Contains(items, uid) || slices.Contains(items, fid) {
			t.Fatalf("the refused records are offered to sync: %v", items)
		}
		if errs := logs.errs(slog.LevelWarn, "catalog: ignoring stored update"); !said(errs, perr) {
			t.Fatalf("warnings about stored updates %q, none saying %q", errs, perr)
		}
		if errs := logs.errs(slog.LevelWarn, "catalog: dropping stored function"); !said(errs, perr) {
			t.Fatalf("warnings about stored functions %q, none saying %q", errs, perr)
		}
		if r, err := s.Resolve(owner + "/good"); err != nil || r.Function.Name != "good" {
			t.Fatalf("the good function: %+v, %v", r, err)
		}
		if st := s.Stats(); st != (Stats{Names: 1, Functions: 1}) {
			t.Fatalf("stats %+v", st)
		}
	}
	stored := func(t *testing.T, s *Store) (head, fn bool) {
		t.Helper()
		_, head, err := s.be.Head(u.Ref())
		if err != nil {
			t.Fatal(err)
		}
		_, fn, err = s.be.Function(fid)
		if err != nil {
			t.Fatal(err)
		}
		return head, fn
	}

	t.Run("read-only: left out, logged, nothing removed", func(t *testing.T) {
		s, logs := opened(t, Options{ReadOnly: true})
		leftOut(t, s, logs)
		if head, fn := stored(t, s); !head || !fn {
			t.Fatalf("stored: head %v, body %v; a read-only store removes nothing", head, fn)
		}
	})

	t.Run("read-write: left out, logged, the body dropped, the store works", func(t *testing.T) {
		s, logs := opened(t, Options{})
		leftOut(t, s, logs)
		if head, fn := stored(t, s); !head || fn {
			t.Fatalf("stored: head %v, body %v; want the head kept until replaced, the body dropped", head, fn)
		}
		// The store takes new records, and the owner can publish the name
		// again with requirements that mean something.
		mustApply(t, s, newClient(t, testKey(t, 2)).publish(pyFunc("other", ""), Access{Public: true}))
		again := newClient(t, alice.k)
		fixed := pyFunc("old", "fixed")
		fixed.Requirements = []string{"gpus>=1"}
		mustApply(t, s, again.publish(fixed, Access{Public: true}))
		if r, err := s.Resolve(owner + "/old"); err != nil || r.Function.Description != "fixed" {
			t.Fatalf("republished: %+v, %v", r, err)
		}
		if head, _ := stored(t, s); !head {
			t.Fatal("no head stored after republishing")
		}
	})
}
