package catalog

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

// direct is a SyncPeer that calls another store through the wire encoding,
// as the node does over a stream.
type direct struct{ s *Store }

func (d direct) Sync(ctx context.Context, req *SyncRequest) (*SyncResponse, error) {
	lim := d.s.lim
	b, err := EncodeSyncRequest(req, lim)
	if err != nil {
		return nil, err
	}
	req2, err := DecodeSyncRequest(b, lim)
	if err != nil {
		return nil, err
	}
	rb, err := EncodeSyncResponse(d.s.HandleSync(req2), lim)
	if err != nil {
		return nil, err
	}
	return DecodeSyncResponse(rb, lim)
}

func TestSyncMergesPartitions(t *testing.T) {
	alice, bob := testKey(t, 1), testKey(t, 2)
	a, b := memStore(t, Options{}), memStore(t, Options{})

	// Both sides saw alice's first version; then a partition.
	x := newClient(t, alice)
	x1 := x.publish(pyFunc("x", "v1"), Access{Public: true})
	mustApply(t, a, x1)
	mustApply(t, b, x1)
	// Side A: two more versions of x, and z shared then withdrawn.
	mustApply(t, a, x.publish(pyFunc("x", "v2"), Access{Public: true}), x.publish(pyFunc("x", "v3"), Access{Public: true}))
	z := newClient(t, alice)
	mustApply(t, a, z.publish(pyFunc("z", ""), Access{Public: true}), z.access(Access{}))
	// Side B: bob's functions, one deleted.
	for i := range 6 {
		y := newClient(t, bob)
		mustApply(t, b, y.publish(pyFunc(fmt.Sprintf("y%d", i), ""), Access{Users: []string{alice.ID().String()}}))
		if i == 0 {
			mustApply(t, b, y.delete())
		}
	}
	if snapshot(a) == snapshot(b) {
		t.Fatal("sides equal before sync")
	}

	st, err := b.Pull(context.Background(), direct{a})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pull: %+v", st)
	if st.Rejected != 0 {
		t.Fatalf("rejected items: %+v", st)
	}
	if sa, sb := snapshot(a), snapshot(b); sa != sb {
		t.Fatalf("not the union after one pull:\nA:\n%s\nB:\n%s", sa, sb)
	}
	owner := alice.ID().String()
	for v, want := range map[int]string{1: "v1", 2: "v2", 3: "v3"} {
		r, err := b.Resolve(fmt.Sprintf("%s/x@%d", owner, v))
		if err != nil || r.Function.Description != want {
			t.Fatalf("B lacks x@%d: %v", v, err)
		}
	}
	if _, err := b.Resolve(owner + "/z"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("withdrawn z visible on B: %v", err)
	}
	if want := 5 + 1 + 1 + 1; len(b.List(Filter{})) != want-2 { // y1..y5, x
		t.Fatalf("list: %+v", b.List(Filter{}))
	}

	// In sync now: a pull is one round trip that moves nothing.
	st, err = a.Pull(context.Background(), direct{b})
	if err != nil || st.Rounds != 1 || st.Received+st.Pushed+st.Ignored != 0 {
		t.Fatalf("second pull: %+v, %v", st, err)
	}
}

func TestSyncLateJoiner(t *testing.T) {
	a := memStore(t, Options{})
	var want int
	for i := range 10 {
		c := newClient(t, testKey(t, byte(i%3+1)))
		for v := range 3 {
			mustApply(t, a, c.publish(pyFunc(fmt.Sprintf("f%d", i), fmt.Sprint(v)), Access{Public: true}))
		}
		want += 3
	}
	be := NewMemoryBackend()
	late, err := New(be, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := late.Pull(context.Background(), direct{a})
	if err != nil {
		t.Fatal(err)
	}
	if st.Received != want || st.Pushed != 0 { // 10 heads carrying the latest bodies, 20 older bodies
		t.Fatalf("pull: %+v", st)
	}
	if snapshot(late) != snapshot(a) {
		t.Fatal("late joiner differs")
	}
	late.Close()
	late, err = New(be, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if snapshot(late) != snapshot(a) {
		t.Fatal("late joiner lost what it pulled across a restart")
	}
}

func TestSyncLargeCatalogInBoundedMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 1000 records")
	}
	lim := Limits{MaxRecordBytes: 2048, MaxSyncBytes: 1} // raised to 2 KiB + 64 KiB
	a, b := memStore(t, Options{Limits: lim}), memStore(t, Options{Limits: lim})
	for i := range 1000 {
		c := newClient(t, testKey(t, byte(i%4+1)))
		env := c.publish(pyFunc(fmt.Sprintf("f%04d", i), ""), Access{Public: true})
		if i%10 == 0 {
			mustApply(t, b, env)
		} else {
			mustApply(t, a, env)
		}
	}
	st, err := b.Pull(context.Background(), direct{a})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pull: %+v", st)
	// B pushes its 100 updates and at most its 100 bodies (fewer when the
	// updates it pushed carried them into buckets compared later).
	if st.Rounds < 10 || st.Rejected+st.Ignored != 0 || st.Pushed < 100 || st.Pushed > 200 || st.Received != 900 {
		t.Fatalf("expected several bounded rounds: %+v", st)
	}
	if snapshot(a) != snapshot(b) {
		t.Fatal("not converged")
	}
}

func TestSyncMessagesRoundTrip(t *testing.T) {
	a := memStore(t, Options{})
	c := newClient(t, testKey(t, 1))
	env := c.publish(pyFunc("f", ""), Access{Public: true})
	mustApply(t, a, env)
	req := a.CompareRequest(0)
	req.Want = a.Items()
	req.Updates = [][]byte{env}
	b, err := EncodeSyncRequest(req, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSyncRequest(b, Limits{})
	if err != nil || !got.Compare || len(got.Buckets) != len(req.Buckets) || len(got.Want) != 2 || got.Want[1] != req.Want[1] {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	resp := memStore(t, Options{}).Missing(got)
	if len(resp.Diff) != len(req.Buckets) {
		t.Fatalf("empty store's diff: %+v", resp.Diff)
	}
	rb, err := EncodeSyncResponse(a.Missing(got), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := DecodeSyncResponse(rb, Limits{})
	if err != nil || len(r2.Diff) != 0 || len(r2.Updates) != 1 || len(r2.Functions) != 1 {
		t.Fatalf("response: %+v, %v", r2, err)
	}
}

func TestDecodeSyncRejections(t *testing.T) {
	enc := func(v any) []byte {
		b, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	h := make([]byte, 32)
	k0 := idOf([]byte("a"))
	var k1 ID
	for i := 0; ; i++ { // an ID in another bucket than k0
		if k1 = idOf([]byte{byte(i)}); k1.bucket() != k0.bucket() {
			break
		}
	}
	lo, hi := k0, k1
	if lo.compare(hi) > 0 {
		lo, hi = hi, lo
	}
	big := make([]byte, DefaultMaxRecordBytes+1)
	tests := []struct {
		name     string
		request  bool
		msg      []byte
		lim      Limits
		want     error
		wantKind fault.Kind
	}{
		{"garbage request", true, []byte{0xff}, Limits{}, ErrMalformed, fault.Invalid},
		{"garbage response", false, []byte("hello"), Limits{}, ErrMalformed, fault.Invalid},
		{"oversized message", true, make([]byte, DefaultMaxSyncBytes+1), Limits{}, ErrTooLarge, fault.TooLarge},
		{"unknown field", true, enc(map[int]int{9: 1}), Limits{}, ErrMalformed, fault.Invalid},
		{"buckets without compare", true, enc(&SyncRequest{Buckets: []Bucket{{1, h}}}), Limits{}, ErrInvalidField, fault.Invalid},
		{"short bucket hash", true, enc(&SyncRequest{Compare: true, Buckets: []Bucket{{1, h[:5]}}}), Limits{}, ErrInvalidField, fault.Invalid},
		{"buckets out of order", true, enc(&SyncRequest{Compare: true, Buckets: []Bucket{{2, h}, {1, h}}}), Limits{}, ErrInvalidField, fault.Invalid},
		{"bucket index over 255", true, enc(map[int]any{1: true, 2: []map[int]any{{1: 256, 2: h}}}), Limits{}, ErrMalformed, fault.Invalid},
		{"bad want ID", true, enc(map[int]any{3: [][]byte{{1, 2, 3}}}), Limits{}, ErrMalformed, fault.Invalid},
		{"oversized pushed item", true, enc(&SyncRequest{Updates: [][]byte{big}}), Limits{MaxSyncBytes: 4 * DefaultMaxRecordBytes}, ErrTooLarge, fault.TooLarge},
		{"key in the wrong bucket", false, enc(&SyncResponse{Diff: []BucketKeys{{k0.bucket() + 1, []ID{k0}, nil}}}), Limits{}, ErrInvalidField, fault.Invalid},
		{"keys out of order", false, enc(map[int]any{1: []map[int]any{{1: k0.bucket(), 2: [][]byte{k0.Bytes(), k0.Bytes()}}}}), Limits{}, ErrInvalidField, fault.Invalid},
		{"diff out of order", false, enc(&SyncResponse{Diff: []BucketKeys{{hi.bucket(), nil, nil}, {lo.bucket(), nil, nil}}}), Limits{}, ErrInvalidField, fault.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.request {
				_, err = DecodeSyncRequest(tc.msg, tc.lim)
			} else {
				_, err = DecodeSyncResponse(tc.msg, tc.lim)
			}
			wantErr(t, err, tc.want, tc.wantKind)
		})
	}
	many := make([]ID, MaxWant+1)
	for i := range many {
		many[i] = k0
	}
	_, err := DecodeSyncRequest(enc(&SyncRequest{Want: many}), Limits{})
	wantErr(t, err, ErrInvalidField, fault.Invalid)
}

// failingBackend refuses every write.
type failingBackend struct{ Backend }

func (failingBackend) Commit(...*Batch) error { return errors.New("disk full") }

func TestFailedWriteLeavesIndexAsOnDisk(t *testing.T) {
	a := memStore(t, Options{})
	c := newClient(t, testKey(t, 1))
	mustApply(t, a, c.publish(pyFunc("f", "1"), Access{Public: true}))
	b := memStore(t, Options{})
	mustApply(t, b, c.publish(pyFunc("f", "2"), Access{Public: true}))
	mustApply(t, b, newClient(t, testKey(t, 2)).publish(pyFunc("g", ""), Access{Public: true}))
	before := snapshot(a)
	a.be = failingBackend{a.be}

	st, err := a.Pull(context.Background(), direct{b})
	if err != nil {
		t.Fatal(err)
	}
	if st.Received != 0 || st.Rejected == 0 {
		t.Fatalf("pull into a failing disk: %+v", st)
	}
	if after := snapshot(a); after != before {
		t.Fatalf("index changed without the disk:\n%s\n%s", before, after)
	}
	if _, err := a.Apply(c.publish(pyFunc("f", "3"), Access{Public: true})); fault.KindOf(err) != fault.Internal {
		t.Fatalf("apply onto a failing disk: %v", err)
	}
	if after := snapshot(a); after != before {
		t.Fatal("index changed by a failed Apply")
	}
}
