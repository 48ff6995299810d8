package routing

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Candidate is an endpoint that work could go to, with what the caller
// knows of it now.
type Candidate struct {
	// Record is the endpoint's record. A candidate without one is rejected.
	Record *EndpointRecord
	// Load is the endpoint's last heartbeat; nil when none is known.
	Load *Load
	// RTT is the round trip to the endpoint; zero when unknown.
	RTT time.Duration
	// Online says whether the endpoint is up: reachable and not down by its
	// heartbeats.
	Online bool
}

// Request is what the work asks of an endpoint.
type Request struct {
	// Requirements must all be met.
	Requirements []Requirement
	// Caller is the user who invokes; the endpoint's policy must admit them.
	Caller peer.ID
	// Datasets are datasets the work reads: endpoints holding more of them
	// rank first. Unlike a dataset= requirement, this is a preference.
	Datasets []string
	// Image is the container image the work runs in, "" for none:
	// endpoints holding it rank before those that would pull it. Unlike an
	// image= requirement, this is a preference.
	Image string
	// Exclude holds the IDs of endpoints already tried (and failed).
	Exclude map[string]bool
	// TrustedOwners are the owners, besides Caller, whose endpoints the
	// caller trusts with its work. An endpoint is used only when its owner
	// is verified (EndpointRecord.OwnerVerified) and is Caller or one of
	// these.
	TrustedOwners []peer.ID
	// AnyOwner lifts that rule: endpoints of any owner, verified or not,
	// are used.
	AnyOwner bool
	// Function is the function the work runs, when it is one: endpoints
	// whose advertised allowlist does not offer it
	// (EndpointRecord.Serves) are not used. Nil for none.
	Function *FunctionRef
}

// FunctionRef names a function as an endpoint's allowlist matches it: its
// ID (the version's), its owner's user ID and its name.
type FunctionRef struct {
	ID, Owner, Name string
}

// Scored is a candidate with the verdict of Rank.
type Scored struct {
	Candidate
	// Eligible says whether the candidate passed every filter.
	Eligible bool
	// Rejected says why it did not: the first filter it failed. It is ""
	// when Eligible.
	Rejected string
	// Score holds the ranking components; zero when not Eligible.
	Score Score
}

// Score holds the components Rank orders eligible candidates by, in order
// of precedence.
type Score struct {
	// Locality is how many of the requested datasets the endpoint holds.
	// More is better.
	Locality int
	// ImageHeld says the endpoint holds the requested image
	// (Request.Image), so that it need not pull it. False when no image is
	// requested.
	ImageHeld bool
	// FreeCapacity is the fraction of the endpoint's workers idle, and
	// QueuePenalty the number of queued tasks per worker; their difference
	// (Idle-Queued)/Workers is the free capacity compared. Both are zero
	// when the load is unknown.
	FreeCapacity float64
	QueuePenalty float64
	// RTT is the round trip; zero is unknown. Shorter is better.
	RTT time.Duration
	// Cost is the endpoint's "cost" label. Lower is better.
	Cost float64
	// Total is for display only: 1 for the best candidate, falling by 1/n
	// for each place below it among n eligible candidates. It is monotone in
	// the order Rank gives, which no weighting of the components decides.
	Total float64
}

// Reasons Rank gives for rejecting a candidate, before any requirement's.
const (
	ReasonNoRecord     = "no endpoint record"
	ReasonExcluded     = "excluded: already tried"
	ReasonOffline      = "offline"
	ReasonNotAccepting = "down: not accepting work"
	ReasonPolicy       = "caller not allowed by endpoint policy"
	// ReasonNotServed: the endpoint's allowlist (functions: in its config,
	// advertised in its record) does not offer the function.
	ReasonNotServed = "does not serve this function"
	// ReasonUnverifiedOwner: the record's owner is not proven by the
	// owner's signed claim, so who runs the endpoint is unknown.
	ReasonUnverifiedOwner = "unverified owner"
	// ReasonUntrustedOwner: the owner is proven but is neither the caller
	// nor one the caller trusts.
	ReasonUntrustedOwner = "untrusted owner"
)

// CostLabel is the label an operator sets to a number to steer work away
// from an endpoint ("cost": "2.5"); missing, it is 0.
const CostLabel = "cost"

// Rank returns every candidate, scored: the eligible ones first, best first,
// then the rejected ones by ID, each with the reason. It is a pure,
// deterministic function of its arguments.
//
// A candidate is rejected by the first of these filters it fails: no record,
// excluded (in req.Exclude), offline, down (its load says it is not
// accepting work), the endpoint's policy does not admit req.Caller, its
// allowlist does not offer req.Function, its owner is unverified, its owner is neither req.Caller nor in
// req.TrustedOwners (these two unless req.AnyOwner), and then each of
// req.Requirements in order (the reason is Met's).
//
// Eligible candidates are ordered by comparing, in turn:
//
//  1. Locality: more of req.Datasets held first.
//  2. Image: when req.Image is set, endpoints holding it (HoldsImage)
//     before those that would pull it: a pull costs seconds to minutes,
//     more than any difference of load or RTT, but less than moving data.
//  3. Free capacity: endpoints with free workers (Idle > Queued) first, by
//     (Idle-Queued)/Workers, most first; then those whose load is unknown;
//     then those with none free (Idle <= Queued), by the same measure, so the
//     least overloaded first. Unknown sits between, because an endpoint not
//     heard from may well be idle, while one known to be full is not.
//  4. RTT: shorter first; an unknown RTT after every known one.
//  5. Cost: the "cost" label as a number, lower first; missing, unparsable,
//     negative or not finite, it is 0.
//  6. ID, ascending, so that the order is total.
//
// The order is lexicographic: a later component only breaks ties of the
// earlier ones.
func Rank(cands []Candidate, req Request) []Scored {
	out := make([]Scored, len(cands))
	wanted := uniq(req.Datasets)
	for i, c := range cands {
		s := Scored{Candidate: c}
		s.Rejected = reject(c, req)
		if s.Eligible = s.Rejected == ""; s.Eligible {
			s.Score = score(c, wanted, req.Image)
		}
		out[i] = s
	}
	slices.SortStableFunc(out, compareScored)
	n := 0
	for _, s := range out {
		if s.Eligible {
			n++
		}
	}
	for i := range n {
		out[i].Score.Total = 1 - float64(i)/float64(n)
	}
	return out
}

// reject returns the reason c fails req, or "".
func reject(c Candidate, req Request) string {
	rec := c.Record
	switch {
	case rec == nil:
		return ReasonNoRecord
	case req.Exclude[rec.ID]:
		return ReasonExcluded
	case !c.Online:
		return ReasonOffline
	case c.Load != nil && !c.Load.Accepting:
		return ReasonNotAccepting
	case !rec.Policy().Allows(req.Caller):
		return ReasonPolicy
	case req.Function != nil && !rec.Serves(req.Function.ID, req.Function.Owner, req.Function.Name):
		return ReasonNotServed
	case req.AnyOwner:
	case !rec.OwnerVerified:
		return ReasonUnverifiedOwner
	case !trusts(req, rec.Owner):
		return ReasonUntrustedOwner
	}
	for _, r := range req.Requirements {
		if ok, why := r.Met(rec); !ok {
			return why
		}
	}
	return ""
}

// trusts says whether req trusts owner with its work: owner is the caller
// or one of the trusted owners.
func trusts(req Request, owner string) bool {
	id, err := peer.Decode(owner)
	if err != nil || id == "" {
		return false
	}
	return id == req.Caller || slices.Contains(req.TrustedOwners, id)
}

func score(c Candidate, wanted []string, image string) Score {
	s := Score{RTT: c.RTT, Cost: cost(c.Record)}
	s.ImageHeld = image != "" && HoldsImage(&c.Record.Software, image)
	for _, d := range wanted {
		if slices.Contains(c.Record.Datasets, d) {
			s.Locality++
		}
	}
	if l := c.Load; l != nil {
		w := float64(max(l.Workers, 1))
		s.FreeCapacity = float64(l.Idle) / w
		s.QueuePenalty = float64(l.Queued) / w
	}
	return s
}

// cost reads rec's cost label.
func cost(rec *EndpointRecord) float64 {
	f, err := strconv.ParseFloat(rec.Labels[CostLabel], 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// capacityClass is 2 for free workers, 1 for unknown load, 0 for none free.
func capacityClass(l *Load) int {
	switch {
	case l == nil:
		return 1
	case l.Free() > 0:
		return 2
	}
	return 0
}

// compareScored orders eligible before rejected; eligible by Rank's
// components; rejected by ID.
func compareScored(a, b Scored) int {
	if a.Eligible != b.Eligible {
		if a.Eligible {
			return -1
		}
		return 1
	}
	if !a.Eligible {
		return cmp.Compare(recID(a.Record), recID(b.Record))
	}
	if c := cmp.Compare(b.Score.Locality, a.Score.Locality); c != 0 {
		return c
	}
	if a.Score.ImageHeld != b.Score.ImageHeld {
		if a.Score.ImageHeld {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(capacityClass(b.Load), capacityClass(a.Load)); c != 0 {
		return c
	}
	if a.Load != nil && b.Load != nil {
		if c := compareFree(*b.Load, *a.Load); c != 0 {
			return c
		}
	}
	if c := compareRTT(a.RTT, b.RTT); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Score.Cost, b.Score.Cost); c != 0 {
		return c
	}
	return cmp.Compare(a.Record.ID, b.Record.ID)
}

// compareFree compares (Idle-Queued)/Workers of a and b exactly, a Workers
// of 0 counting as 1.
func compareFree(a, b Load) int {
	wa, wb := int64(max(a.Workers, 1)), int64(max(b.Workers, 1))
	return cmp.Compare(int64(a.Free())*wb, int64(b.Free())*wa)
}

// compareRTT orders known round trips, shortest first, before unknown ones.
func compareRTT(a, b time.Duration) int {
	switch {
	case a > 0 && b > 0:
		return cmp.Compare(a, b)
	case a > 0:
		return -1
	case b > 0:
		return 1
	}
	return 0
}

func recID(r *EndpointRecord) string {
	if r == nil {
		return ""
	}
	return r.ID
}

func uniq(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// ErrNoEndpoint is what Unmet's errors match (errors.Is): no candidate is
// eligible.
var ErrNoEndpoint = errors.New("routing: no eligible endpoint")

// UnmetError says why no candidate is eligible. Unmet returns it wrapped in
// a *fault.Error of kind NotFound.
type UnmetError struct {
	// Unmet are the requirements that no candidate otherwise eligible meets
	// (one that passes every filter before the requirements).
	Unmet []Requirement
	// Rejected counts the candidates by the reason Rank rejects them for.
	Rejected map[string]int
	// Total is the number of candidates.
	Total int
	// UntrustedOwners are the verified owners, sorted, of the candidates
	// rejected as ReasonUntrustedOwner: trusting one of them may help.
	UntrustedOwners []string

	msg string
}

func (e *UnmetError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrNoEndpoint) hold.
func (e *UnmetError) Is(target error) bool { return target == ErrNoEndpoint }

// Unmet explains why no candidate is eligible for req, and returns nil when
// one is. For each requirement that no candidate passing the other filters
// (record, exclusion, online, accepting, policy, allowlist) meets, the message names it
// with what those candidates have instead:
//
//	routing: no endpoint meets gpus>=1 (3 endpoints: 3 have 0 GPUs)
//
// and it counts the candidates rejected before the requirements were
// checked. When some were rejected for their owner, it says what to do:
//
//	routing: no eligible endpoint: 1 untrusted owner, 1 unverified owner; to use
//	them, trust their owner (fx trust add 12D3KooW…) or pass --any-endpoint
//
// The error wraps an *UnmetError. Its kind is the one the same cause has
// when the caller names the endpoint (unmetKind): unavailable when every
// candidate is offline or not accepting work, denied when every one
// refuses the caller, not-found otherwise.
func Unmet(cands []Candidate, req Request) error {
	e := &UnmetError{Rejected: map[string]int{}, Total: len(cands)}
	early := map[string]int{}  // rejections before the requirements
	var pass []*EndpointRecord // passed every filter but the requirements
	filters := req             // every filter but the requirements
	filters.Requirements = nil
	for _, c := range cands {
		why := reject(c, req)
		if why == "" {
			return nil
		}
		e.Rejected[why]++
		if pre := reject(c, filters); pre != "" {
			early[pre]++
			if pre == ReasonUntrustedOwner {
				e.UntrustedOwners = append(e.UntrustedOwners, c.Record.Owner)
			}
			continue
		}
		pass = append(pass, c.Record)
	}
	slices.Sort(e.UntrustedOwners)
	e.UntrustedOwners = slices.Compact(e.UntrustedOwners)
	slices.SortStableFunc(pass, func(a, b *EndpointRecord) int { return cmp.Compare(a.ID, b.ID) })

	var parts []string
	if len(cands) == 0 {
		parts = append(parts, "no endpoint known: the mesh lists none (is an endpoint's fxnode running? fx endpoints lists them)")
	}
	for _, r := range req.Requirements {
		if len(pass) == 0 {
			break
		}
		var haves []string // what each candidate has instead
		for _, rec := range pass {
			ok, have := r.check(rec)
			if ok {
				haves = nil
				break
			}
			haves = append(haves, have)
		}
		if haves == nil {
			continue
		}
		e.Unmet = append(e.Unmet, r)
		parts = append(parts, fmt.Sprintf("no endpoint meets %s (%s: %s)", r, plural(len(pass), "endpoint"), tally(haves)))
	}
	if len(e.Unmet) == 0 && len(pass) > 0 {
		// Each requirement is met somewhere, but not all in one place.
		whys := make([]string, len(pass))
		for i, rec := range pass {
			whys[i] = reject(Candidate{Record: rec, Online: true}, Request{Requirements: req.Requirements, Caller: req.Caller, AnyOwner: true})
		}
		parts = append(parts, fmt.Sprintf("no endpoint meets all of %s (%s: %s)", joinReqs(req.Requirements), plural(len(pass), "endpoint"), tally(whys)))
	}
	if rej := rejectedSummary(early, len(pass) == 0); rej != "" {
		parts = append(parts, rej)
	}
	if hint := trustHint(early[ReasonUntrustedOwner] > 0, early[ReasonUnverifiedOwner] > 0, e.UntrustedOwners); hint != "" {
		parts = append(parts, hint)
	}
	e.msg = "routing: " + strings.Join(parts, "; ")
	return fault.Wrap(unmetKind(e.Rejected, len(cands)), "", e)
}

// unmetKind is the kind of Unmet's error: the kind the same cause has
// when the caller names the endpoint. Every candidate offline or not
// accepting work is unavailable; every candidate refusing the caller by
// its policy, or the function by its allowlist, is denied; anything else
// (requirements, owners, none known) is not-found.
func unmetKind(rejected map[string]int, total int) fault.Kind {
	switch {
	case total > 0 && rejected[ReasonOffline]+rejected[ReasonNotAccepting] == total:
		return fault.Unavailable
	case total > 0 && rejected[ReasonPolicy]+rejected[ReasonNotServed] == total:
		return fault.Denied
	}
	return fault.NotFound
}

// maxOwnersNamed bounds how many untrusted owners Unmet's message names.
const maxOwnersNamed = 3

// trustHint says how to use endpoints rejected for their owner, or "".
func trustHint(untrusted, unverified bool, owners []string) string {
	switch {
	case untrusted:
		named := owners[:min(len(owners), maxOwnersNamed)]
		more := ""
		if len(owners) > len(named) {
			more = fmt.Sprintf(" and %d more", len(owners)-len(named))
		}
		s := "to use them, trust their owner (fx trust add " + strings.Join(named, ", fx trust add ") + more + ")"
		if unverified {
			return s + ", or pass --any-endpoint to use any endpoint, unverified owners too"
		}
		return s + " or pass --any-endpoint"
	case unverified:
		return "an endpoint whose owner is unverified is used only with --endpoint ID or --any-endpoint"
	}
	return ""
}

// tally writes what candidates have, most common first, then in the order
// of the text: "2 have 64 GiB, 1 has 128 GiB".
func tally(haves []string) string {
	counts := map[string]int{}
	var order []string
	for _, h := range haves {
		if counts[h] == 0 {
			order = append(order, h)
		}
		counts[h]++
	}
	slices.SortFunc(order, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(order))
	for i, h := range order {
		parts[i] = fmt.Sprintf("%d %s", counts[h], verbFor(h, counts[h]))
	}
	return strings.Join(parts, ", ")
}

// verbFor puts have ("has 0 GPUs", "holds [a]") in the plural for n > 1.
func verbFor(have string, n int) string {
	if n == 1 {
		return have
	}
	for _, v := range [][2]string{{"has ", "have "}, {"holds ", "hold "}, {"needs ", "need "}, {"is ", "are "}} {
		if rest, ok := strings.CutPrefix(have, v[0]); ok {
			return v[1] + rest
		}
	}
	return have
}

// rejectedSummary writes the counts of rejection reasons, sorted, as
// "other endpoints: 1 offline, 2 caller not allowed by endpoint policy", or,
// when only is set (no candidate reached the requirements), "no eligible
// endpoint: ...".
func rejectedSummary(rejected map[string]int, only bool) string {
	if len(rejected) == 0 {
		return ""
	}
	reasons := make([]string, 0, len(rejected))
	for r := range rejected {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", rejected[r], r)
	}
	head := "other endpoints"
	if only {
		head = "no eligible endpoint"
	}
	return head + ": " + strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func joinReqs(rs []Requirement) string {
	ss := make([]string, len(rs))
	for i, r := range rs {
		ss[i] = r.String()
	}
	return strings.Join(ss, " ")
}

// Split divides n inputs among the eligible candidates of ranked (as Rank
// returns them) and returns how many go to each, index for index; rejected
// candidates get 0, and the counts sum to n (0 when none is eligible).
//
// When n is at least the number of eligible candidates, each gets one and
// the rest are divided in proportion to free workers (Idle-Queued, at least
// 0); a candidate of unknown load counts as the mean of the known ones that
// have free workers (1 when none has); if no candidate has free workers, the
// rest are divided evenly. Remainders go to the largest fractions, ties to
// the better ranked. When n is smaller, the n best ranked get one each. The
// result is deterministic.
func Split(n int, ranked []Scored) []int {
	out := make([]int, len(ranked))
	var elig []int
	for i, s := range ranked {
		if s.Eligible {
			elig = append(elig, i)
		}
	}
	if n <= 0 || len(elig) == 0 {
		return out
	}
	if n < len(elig) {
		for _, i := range elig[:n] {
			out[i] = 1
		}
		return out
	}
	weights := make([]int64, len(elig))
	var known, nKnown int64
	for j, i := range elig {
		if l := ranked[i].Load; l != nil && l.Free() > 0 {
			weights[j] = int64(l.Free())
			known += weights[j]
			nKnown++
		}
	}
	unknown := int64(1)
	if nKnown > 0 {
		unknown = max((known+nKnown/2)/nKnown, 1)
	}
	var total int64
	for j, i := range elig {
		if ranked[i].Load == nil {
			weights[j] = unknown
		}
		total += weights[j]
	}
	if total == 0 {
		for j := range weights {
			weights[j] = 1
		}
		total = int64(len(weights))
	}
	rest := int64(n - len(elig))
	rems := make([]int64, len(elig))
	given := int64(0)
	for j, i := range elig {
		whole := rest * weights[j] / total
		rems[j] = rest * weights[j] % total
		out[i] = 1 + int(whole)
		given += whole
	}
	order := make([]int, len(elig))
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rems[b], rems[a]) })
	for k := 0; given < rest; k++ {
		out[elig[order[k]]]++
		given++
	}
	return out
}

// Explain writes scored (as Rank returns it) as a table, one candidate a
// line: rank, name and short ID, then either the score's components or the
// reason it was rejected.
func Explain(w io.Writer, scored []Scored) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tNAME\tID\tDATA\tLOAD\tFREE\tRTT\tCOST")
	for i, s := range scored {
		name, id := "-", "-"
		if s.Record != nil {
			name, id = orNone(s.Record.Name, "-"), shortID(s.Record.ID)
		}
		if !s.Eligible {
			fmt.Fprintf(tw, "-\t%s\t%s\trejected: %s\n", name, id, s.Rejected)
			continue
		}
		load, free := "unknown", "-"
		if l := s.Load; l != nil {
			load = fmt.Sprintf("%d/%d idle, %d queued", l.Idle, l.Workers, l.Queued)
			free = strconv.FormatFloat(s.Score.FreeCapacity-s.Score.QueuePenalty, 'f', 2, 64)
		}
		rtt := "unknown"
		if s.RTT > 0 {
			rtt = s.RTT.Round(100 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", i+1, name, id, s.Score.Locality, load, free, rtt,
			strconv.FormatFloat(s.Score.Cost, 'g', -1, 64))
	}
	return tw.Flush()
}

// shortID abbreviates a peer ID as libp2p does: its first 2 and last 6
// characters.
func shortID(id string) string {
	if len(id) <= 10 {
		return id
	}
	return id[:2] + "*" + id[len(id)-6:]
}
