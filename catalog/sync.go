package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/fxmesh/fxmesh/fault"
)

// NumBuckets is how many buckets the sync set is split into, by the first
// byte of each ID's digest.
const NumBuckets = 256

// Bounds of sync messages beyond their byte size.
const (
	// MaxWant bounds the IDs one request may ask for.
	MaxWant = 4096
	// wantPerRequest is how many IDs Pull asks for at once; small enough
	// that a request's wants and one pushed record fit in a message.
	wantPerRequest = 1024
	// maxPullRounds bounds the compare rounds of one Pull.
	maxPullRounds = NumBuckets
	// idWireSize is an upper bound of one ID's encoded size.
	idWireSize = 40
)

// Bucket is one bucket of a sync summary: the SHA-256 over the digests of
// the bucket's update IDs in ascending order, then of its function IDs in
// ascending order. Empty buckets are left out of a summary.
type Bucket struct {
	Index uint8  `cbor:"1,keyasint"`
	Hash  []byte `cbor:"2,keyasint"`
}

// BucketKeys lists the IDs a responder holds in one bucket whose hash
// differs from the requester's (possibly none), updates and function bodies
// apart so that the requester can fetch updates first.
type BucketKeys struct {
	Index     uint8 `cbor:"1,keyasint"`
	Updates   []ID  `cbor:"2,keyasint,omitempty"`
	Functions []ID  `cbor:"3,keyasint,omitempty"`
}

// SyncRequest is what the pulling side sends. A pull opens with Compare and
// Buckets (the requester's summary); later requests carry Want (IDs learned
// from the response's Diff) and push what the responder lacks in Updates
// and Functions.
type SyncRequest struct {
	// Compare asks for the Diff against Buckets (which may then be empty:
	// a requester that holds nothing).
	Compare bool `cbor:"1,keyasint,omitempty"`
	// Buckets is the requester's summary, ascending by Index.
	Buckets []Bucket `cbor:"2,keyasint,omitempty"`
	// Want lists the IDs (updates or functions) the requester asks for.
	Want []ID `cbor:"3,keyasint,omitempty"`
	// Updates are update envelopes pushed to the responder.
	Updates [][]byte `cbor:"4,keyasint,omitempty"`
	// Functions are function bodies (canonical bytes) pushed to the responder.
	Functions [][]byte `cbor:"5,keyasint,omitempty"`
	// From makes Compare start at this bucket: a pull continues with it
	// after a truncated Diff. Buckets below it are left out of Buckets.
	From uint8 `cbor:"6,keyasint,omitempty"`
}

// SyncResponse answers a SyncRequest.
type SyncResponse struct {
	// Diff lists, for each bucket whose hash differs from the request's,
	// every ID the responder holds in it, ascending.
	Diff []BucketKeys `cbor:"1,keyasint,omitempty"`
	// Truncated says Diff stopped early for want of room: compare again
	// From the bucket after the last one in Diff.
	Truncated bool `cbor:"2,keyasint,omitempty"`
	// Updates and Functions are the wanted items that fitted; the rest may
	// be asked for again.
	Updates   [][]byte `cbor:"3,keyasint,omitempty"`
	Functions [][]byte `cbor:"4,keyasint,omitempty"`
}

// EncodeSyncRequest encodes r; ErrTooLarge if over lim.MaxSyncBytes.
func EncodeSyncRequest(r *SyncRequest, lim Limits) ([]byte, error) {
	return encodeSync(r, lim)
}

// EncodeSyncResponse encodes r; ErrTooLarge if over lim.MaxSyncBytes.
func EncodeSyncResponse(r *SyncResponse, lim Limits) ([]byte, error) {
	return encodeSync(r, lim)
}

func encodeSync(v any, lim Limits) ([]byte, error) {
	lim = lim.withDefaults()
	b, err := marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > lim.MaxSyncBytes {
		return nil, fail(fault.TooLarge, ErrTooLarge, "sync message of %d bytes, limit %d", len(b), lim.MaxSyncBytes)
	}
	return b, nil
}

// DecodeSyncRequest decodes and checks a request from the network: its
// size first, strict CBOR, and the bounds and orderings described on the
// fields. The records it carries are checked when applied.
func DecodeSyncRequest(b []byte, lim Limits) (*SyncRequest, error) {
	lim = lim.withDefaults()
	var r SyncRequest
	if err := decodeSync(b, lim, &r); err != nil {
		return nil, err
	}
	if !r.Compare && (len(r.Buckets) > 0 || r.From > 0) {
		return nil, invalid("sync request: buckets without compare")
	}
	for i, bk := range r.Buckets {
		if len(bk.Hash) != sha256.Size {
			return nil, invalid("sync request: bucket %d hash of %d bytes", bk.Index, len(bk.Hash))
		}
		if i > 0 && r.Buckets[i-1].Index >= bk.Index || bk.Index < r.From {
			return nil, invalid("sync request: buckets not ascending from %d at %d", r.From, bk.Index)
		}
	}
	if len(r.Want) > MaxWant {
		return nil, invalid("sync request: wants %d IDs, limit %d", len(r.Want), MaxWant)
	}
	if err := checkItems(r.Updates, r.Functions, lim); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeSyncResponse decodes and checks a response from the network.
func DecodeSyncResponse(b []byte, lim Limits) (*SyncResponse, error) {
	lim = lim.withDefaults()
	var r SyncResponse
	if err := decodeSync(b, lim, &r); err != nil {
		return nil, err
	}
	for i, bk := range r.Diff {
		if i > 0 && r.Diff[i-1].Index >= bk.Index {
			return nil, invalid("sync response: buckets not ascending at %d", bk.Index)
		}
		for _, ids := range [][]ID{bk.Updates, bk.Functions} {
			for j, id := range ids {
				if id.bucket() != bk.Index {
					return nil, invalid("sync response: key %s is not in bucket %d", id, bk.Index)
				}
				if j > 0 && ids[j-1].compare(id) >= 0 {
					return nil, invalid("sync response: keys of bucket %d not ascending", bk.Index)
				}
			}
		}
	}
	if err := checkItems(r.Updates, r.Functions, lim); err != nil {
		return nil, err
	}
	return &r, nil
}

func decodeSync(b []byte, lim Limits, v any) error {
	if len(b) > lim.MaxSyncBytes {
		return fail(fault.TooLarge, ErrTooLarge, "sync message of %d bytes, limit %d", len(b), lim.MaxSyncBytes)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fail(fault.Invalid, ErrMalformed, "sync message: %v", err)
	}
	return nil
}

func checkItems(updates, functions [][]byte, lim Limits) error {
	for _, items := range [][][]byte{updates, functions} {
		for _, it := range items {
			if len(it) > lim.MaxRecordBytes {
				return fail(fault.TooLarge, ErrTooLarge, "sync item of %d bytes, limit %d", len(it), lim.MaxRecordBytes)
			}
		}
	}
	return nil
}

// syncKeys is the sync set by bucket, each list sorted.
type syncKeys struct {
	updates, functions [NumBuckets][]ID
}

func (k *syncKeys) hash(i int) []byte {
	if len(k.updates[i])+len(k.functions[i]) == 0 {
		return nil
	}
	h := sha256.New()
	for _, ids := range [][]ID{k.updates[i], k.functions[i]} {
		for _, id := range ids {
			h.Write(id.d[:])
		}
	}
	return h.Sum(nil)
}

// syncKeysLocked returns the sync set: the current updates that may be
// shared (not private ones with code) and the bodies of functions that are
// neither deleted nor private. The caller holds mu (read or write).
func (s *Store) syncKeysLocked() *syncKeys {
	if k := s.keys.Load(); k != nil {
		return k
	}
	k := new(syncKeys)
	for _, c := range s.chains {
		if c.shareable {
			k.updates[c.id.bucket()] = append(k.updates[c.id.bucket()], c.id)
		}
		if sharesBodies(c) {
			for id := range c.bodies {
				k.functions[id.bucket()] = append(k.functions[id.bucket()], id)
			}
		}
	}
	for i := range NumBuckets {
		sortIDs(k.updates[i])
		sortIDs(k.functions[i])
	}
	s.keys.Store(k)
	return k
}

func sortIDs(ids []ID) {
	slices.SortFunc(ids, ID.compare)
}

// Summary returns this store's sync summary: the hash of every non-empty
// bucket of its sync set.
func (s *Store) Summary() []Bucket {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return summaryOf(s.syncKeysLocked(), 0)
}

func summaryOf(k *syncKeys, from uint8) []Bucket {
	var out []Bucket
	for i := int(from); i < NumBuckets; i++ {
		if h := k.hash(i); h != nil {
			out = append(out, Bucket{Index: uint8(i), Hash: h})
		}
	}
	return out
}

// Items returns the sync set, sorted: what this store offers its peers.
func (s *Store) Items() []ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.syncKeysLocked()
	var out []ID
	for i := range NumBuckets {
		out = append(append(out, k.updates[i]...), k.functions[i]...)
	}
	sortIDs(out)
	return out
}

// CompareRequest returns the request that opens a pull (from bucket 0) or
// continues it after a truncated Diff.
func (s *Store) CompareRequest(from uint8) *SyncRequest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &SyncRequest{Compare: true, From: from, Buckets: summaryOf(s.syncKeysLocked(), from)}
}

// Missing computes the answer to req from this store without changing it:
// the Diff if req compares, and the wanted items that fit in one message.
// Private updates with code, and bodies of private functions, are never
// included.
func (s *Store) Missing(req *SyncRequest) *SyncResponse {
	resp := &SyncResponse{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return resp
	}
	budget := s.lim.MaxSyncBytes - 1024
	size := 0
	if req.Compare {
		theirs := map[uint8][]byte{}
		for _, b := range req.Buckets {
			theirs[b.Index] = b.Hash
		}
		k := s.syncKeysLocked()
		for i := int(req.From); i < NumBuckets; i++ {
			if bytes.Equal(k.hash(i), theirs[uint8(i)]) {
				continue
			}
			cost := 8 + (len(k.updates[i])+len(k.functions[i]))*idWireSize
			if size+cost > budget {
				resp.Truncated = true
				break
			}
			resp.Diff = append(resp.Diff, BucketKeys{
				Index: uint8(i), Updates: slices.Clone(k.updates[i]), Functions: slices.Clone(k.functions[i]),
			})
			size += cost
		}
	}
	// Updates first, so that a response that runs out of room leaves out
	// bodies rather than the updates that list them.
	for _, wantUpdates := range []bool{true, false} {
		for _, id := range req.Want {
			b, isUpdate := s.itemLocked(id)
			if b == nil || isUpdate != wantUpdates {
				continue
			}
			if size+len(b)+8 > budget {
				return resp
			}
			size += len(b) + 8
			if isUpdate {
				resp.Updates = append(resp.Updates, b)
			} else {
				resp.Functions = append(resp.Functions, b)
			}
		}
	}
	return resp
}

// itemLocked returns the bytes of sync item id, if it is in the sync set.
func (s *Store) itemLocked(id ID) (b []byte, isUpdate bool) {
	if c := s.heads[id]; c != nil && c.shareable {
		env, ok, err := s.be.head(c.ref)
		if err != nil || !ok {
			s.log.Warn("catalog: read head", "ref", c.ref, "err", err)
			return nil, false
		}
		return env, true
	}
	if h := s.funcs[id]; h != nil && sharesBodies(h.c) {
		fb, ok, err := s.be.function(id)
		if err != nil || !ok {
			s.log.Warn("catalog: read function", "id", id, "err", err)
			return nil, false
		}
		return fb, false
	}
	return nil, false
}

// HandleSync serves one request of a peer's pull: it applies what the
// request pushes (as from the network: Receive, ApplyFunction; rejects are
// logged, not returned) and answers with Missing.
func (s *Store) HandleSync(req *SyncRequest) *SyncResponse {
	var st SyncStats
	s.applyItems(req.Updates, req.Functions, &st)
	return s.Missing(req)
}

// SyncPeer is the far side of a pull. The node implements it by encoding the
// request, writing it on a wire.SyncProtocol stream, and reading and decoding the
// response (DecodeSyncResponse); tests call the other store's HandleSync.
type SyncPeer interface {
	Sync(ctx context.Context, req *SyncRequest) (*SyncResponse, error)
}

// SyncStats counts what a pull did.
type SyncStats struct {
	Rounds   int // request/response exchanges
	Received int // items received and stored
	Pushed   int // items sent to the peer
	Ignored  int // received items already held, stale, over the owner quota, or listed only by an older update
	Rejected int // received items that failed validation
}

// Pull brings this store and the peer's to the union of their sync sets
// (less what either refuses: stale updates, private records): it compares
// summaries, fetches the updates it lacks and pushes those the peer lacks,
// then does the same for function bodies (which are accepted only once the
// updates listing them are in), and repeats while the peer's Diff was
// truncated. Run it on joining, after a restart and periodically; gossip is
// only a hint.
func (s *Store) Pull(ctx context.Context, p SyncPeer) (SyncStats, error) {
	var st SyncStats
	var wantFunctions, pushFunctions []ID
	from := 0
	for range maxPullRounds {
		resp, err := p.Sync(ctx, s.CompareRequest(uint8(from)))
		if err != nil {
			return st, fmt.Errorf("catalog: pull: %w", err)
		}
		st.Rounds++
		s.applyItems(resp.Updates, resp.Functions, &st)
		d := s.diff(resp.Diff)
		if err := s.exchange(ctx, p, d.wantUpdates, d.pushUpdates, &st); err != nil {
			return st, fmt.Errorf("catalog: pull: %w", err)
		}
		wantFunctions = append(wantFunctions, d.wantFunctions...)
		pushFunctions = append(pushFunctions, d.pushFunctions...)
		if !resp.Truncated || len(resp.Diff) == 0 {
			break
		}
		if from = int(resp.Diff[len(resp.Diff)-1].Index) + 1; from >= NumBuckets {
			break
		}
	}
	// Bodies last: the updates listing them are in, and the bodies that came
	// inside updates are held already.
	wantFunctions = slices.DeleteFunc(wantFunctions, s.Has)
	if err := s.exchange(ctx, p, wantFunctions, pushFunctions, &st); err != nil {
		return st, fmt.Errorf("catalog: pull: %w", err)
	}
	return st, nil
}

// syncDiff is what a Diff means to the requester: the IDs the peer has and
// it lacks (want), and those of its sync set the peer lacks (push).
type syncDiff struct {
	wantUpdates, wantFunctions, pushUpdates, pushFunctions []ID
}

func (s *Store) diff(d []BucketKeys) syncDiff {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.syncKeysLocked()
	var out syncDiff
	for _, bk := range d {
		theirs := make(map[ID]bool, len(bk.Updates)+len(bk.Functions))
		for _, id := range bk.Updates {
			theirs[id] = true
			if s.heads[id] == nil {
				out.wantUpdates = append(out.wantUpdates, id)
			}
		}
		for _, id := range bk.Functions {
			theirs[id] = true
			if s.funcs[id] == nil {
				out.wantFunctions = append(out.wantFunctions, id)
			}
		}
		for _, id := range k.updates[bk.Index] {
			if !theirs[id] {
				out.pushUpdates = append(out.pushUpdates, id)
			}
		}
		for _, id := range k.functions[bk.Index] {
			if !theirs[id] {
				out.pushFunctions = append(out.pushFunctions, id)
			}
		}
	}
	return out
}

// exchange fetches want and pushes push, a batch per round trip. Each round
// either settles some wanted IDs or drops the batch (the peer no longer has
// them), and pushes at least one item, so it ends.
func (s *Store) exchange(ctx context.Context, p SyncPeer, want, push []ID, st *SyncStats) error {
	for len(want) > 0 || len(push) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		req := &SyncRequest{Want: want[:min(len(want), wantPerRequest)]}
		want = want[len(req.Want):]
		push = s.pack(req, push, st)
		resp, err := p.Sync(ctx, req)
		if err != nil {
			return err
		}
		st.Rounds++
		got := s.applyItems(resp.Updates, resp.Functions, st)
		var again []ID
		for _, id := range req.Want {
			if !got[id] {
				again = append(again, id)
			}
		}
		if len(again) < len(req.Want) { // progress: ask again for the rest
			want = append(want, again...)
		}
	}
	return nil
}

// pack moves items of push into req while they fit (at least one), and
// returns what is left.
func (s *Store) pack(req *SyncRequest, push []ID, st *SyncStats) []ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	budget := s.lim.MaxSyncBytes - 1024 - len(req.Want)*idWireSize
	size := 0
	for len(push) > 0 {
		b, isUpdate := s.itemLocked(push[0])
		if b != nil && size > 0 && size+len(b)+8 > budget {
			break
		}
		push = push[1:]
		if b == nil {
			continue
		}
		size += len(b) + 8
		st.Pushed++
		if isUpdate {
			req.Updates = append(req.Updates, b)
		} else {
			req.Functions = append(req.Functions, b)
		}
	}
	return push
}

// applyItems applies received updates, then function bodies (which need the
// updates that list them), as from the network, in one transaction. It
// returns the IDs that decoded, whatever became of them.
func (s *Store) applyItems(updates, functions [][]byte, st *SyncStats) map[ID]bool {
	got := map[ID]bool{}
	if len(updates)+len(functions) == 0 {
		return got
	}
	ids, errs := s.applyBatch(updates, functions)
	for i, err := range errs {
		if !ids[i].IsZero() {
			got[ids[i]] = true
		}
		switch {
		case err == nil:
			st.Received++
		case ignorable(err), errors.Is(err, ErrUnreferenced): // the peer's update is older than ours
			st.Ignored++
		default:
			st.Rejected++
			s.log.Debug("catalog: sync item rejected", "err", err)
		}
	}
	return got
}
