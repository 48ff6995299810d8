package routing

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/require"
	"github.com/fxmesh/fxmesh/wire"
	"github.com/libp2p/go-libp2p/core/peer"
)

// RecordCodec names the payload type of a signed endpoint record.
var RecordCodec = []byte("/fxmesh/endpoint/1")

// MaxRecordBytes bounds a signed endpoint record, envelope included.
const MaxRecordBytes = 64 << 10

// Errors of DecodeRecord and Select. Each names one way a record can be bad.
var (
	ErrRecordTooLarge = errors.New("routing: endpoint record too large")
	ErrMalformed      = errors.New("routing: malformed endpoint record")
	ErrBadSignature   = errors.New("routing: endpoint record signature invalid")
	ErrWrongSigner    = errors.New("routing: endpoint record not signed by its node")
	ErrExpired        = errors.New("routing: endpoint record expired")
	ErrInvalidField   = errors.New("routing: endpoint record field invalid")
	ErrOlderSequence  = errors.New("routing: endpoint record has an older sequence number")
)

// EndpointRecord is what an fxnode says of itself. It is signed by the node's
// key, stored in the DHT under Key(ID), and refreshed well before it expires.
type EndpointRecord struct {
	ID       string            `cbor:"1,keyasint" json:"id"`
	Name     string            `cbor:"2,keyasint" json:"name"`
	Owner    string            `cbor:"3,keyasint" json:"owner"`
	Addrs    []string          `cbor:"4,keyasint" json:"addrs"`
	Hardware Hardware          `cbor:"5,keyasint" json:"hardware"`
	Software Software          `cbor:"6,keyasint" json:"software"`
	Labels   map[string]string `cbor:"7,keyasint,omitempty" json:"labels"`
	Datasets []string          `cbor:"8,keyasint,omitempty" json:"datasets"`
	// Seq only grows: a node sets it from its clock and never reuses one.
	Seq uint64 `cbor:"9,keyasint" json:"seq"`
	// Updated and Expires are Unix nanoseconds.
	Updated int64 `cbor:"10,keyasint" json:"-"`
	Expires int64 `cbor:"11,keyasint" json:"-"`
	// Access says who may invoke functions here: the endpoint's policy.
	Public  bool     `cbor:"12,keyasint,omitempty" json:"public"`
	Allowed []string `cbor:"13,keyasint,omitempty" json:"allowed,omitempty"`
	// OwnerClaim is Owner's signed claim on this node (SignOwnerClaim). Owner
	// alone is only what the node says of itself; with a valid claim it is
	// what the owner says too.
	OwnerClaim []byte `cbor:"14,keyasint,omitempty" json:"-"`
	// Batch is the state of the endpoint's batch-scheduler blocks; nil
	// for an endpoint that runs functions on its own host.
	Batch *Batch `cbor:"15,keyasint,omitempty" json:"batch,omitempty"`
	// Functions is the endpoint's function allowlist when it restricts the
	// functions it serves (its config's functions:): each entry a function
	// ID, OWNER/NAME or an owner's user ID, as Offers reads them; at most
	// MaxFunctionEntries, within MaxFunctionsBytes. Empty, with
	// FunctionsUnlisted false, the endpoint serves every function.
	Functions []string `cbor:"16,keyasint,omitempty" json:"functions,omitempty"`
	// FunctionsUnlisted says the endpoint restricts the functions it
	// serves by a list too long for its record: routing cannot tell which,
	// and leaves it to the endpoint. Functions is then empty.
	FunctionsUnlisted bool `cbor:"17,keyasint,omitempty" json:"functions_unlisted,omitempty"`

	// OwnerVerified is set by DecodeRecord when OwnerClaim proves Owner: signed
	// by Owner, for this node, not expired. It is never serialised.
	OwnerVerified bool `cbor:"-" json:"-"`
	// OwnerUnverified says why Owner is not verified ("no owner claim",
	// "owner claim expired"…); "" when it is. It is never serialised.
	OwnerUnverified string `cbor:"-" json:"-"`
}

// Batch is an endpoint's blocks (pilot jobs) on its batch scheduler, as
// the endpoint last signed them.
type Batch struct {
	Provider  string `cbor:"1,keyasint" json:"provider"`                      // "slurm", "pbs", "local"
	Partition string `cbor:"2,keyasint,omitempty" json:"partition,omitempty"` // partition or queue; "" the default
	Pending   int    `cbor:"3,keyasint,omitempty" json:"blocks_pending"`      // blocks submitted, not yet serving
	Running   int    `cbor:"4,keyasint,omitempty" json:"blocks_running"`      // blocks serving
	Workers   int    `cbor:"5,keyasint,omitempty" json:"workers"`             // workers of the serving blocks
	// Error is why blocks keep failing to submit or start, with the
	// scheduler's message: the endpoint's error state. "" when none.
	Error string `cbor:"6,keyasint,omitempty" json:"error,omitempty"`
}

// MaxBatchErrorBytes bounds Batch.Error.
const MaxBatchErrorBytes = 1024

func (b *Batch) validate() error {
	switch {
	case b.Provider == "" || len(b.Provider) > 32 || len(b.Partition) > 128:
		return fmt.Errorf("%w: batch provider %q or partition of %d bytes", ErrInvalidField, b.Provider, len(b.Partition))
	case b.Pending < 0 || b.Running < 0 || b.Workers < 0 || b.Pending > MaxLoadCount || b.Running > MaxLoadCount || b.Workers > MaxLoadCount:
		return fmt.Errorf("%w: batch counts out of range", ErrInvalidField)
	case len(b.Error) > MaxBatchErrorBytes:
		return fmt.Errorf("%w: batch error of %d bytes, limit %d", ErrInvalidField, len(b.Error), MaxBatchErrorBytes)
	}
	return nil
}

// UpdatedAt is when the record was made.
func (r *EndpointRecord) UpdatedAt() time.Time { return time.Unix(0, r.Updated).UTC() }

// ExpiresAt is when the record stops being valid.
func (r *EndpointRecord) ExpiresAt() time.Time { return time.Unix(0, r.Expires).UTC() }

// Key is the DHT key under which node id's endpoint record is stored.
func Key(id peer.ID) string { return "/" + Namespace + "/" + string(id) }

// Namespace is the DHT namespace of endpoint records.
const Namespace = "fxep"

// Records and claims are encoded canonically and decoded strictly (package
// wire).
var (
	encMode = wire.Canonical
	decMode = wire.Strict(wire.Bounds{Nesting: 8, Arrays: 1024, MapPairs: 1024})
)

// validate checks the record's schema against now.
func (r *EndpointRecord) validate(now time.Time) error {
	if _, err := peer.Decode(r.ID); err != nil {
		return fmt.Errorf("%w: id: %v", ErrInvalidField, err)
	}
	if r.Owner != "" {
		if _, err := peer.Decode(r.Owner); err != nil {
			return fmt.Errorf("%w: owner: %v", ErrInvalidField, err)
		}
	}
	if len(r.Name) > 128 {
		return fmt.Errorf("%w: name longer than 128 bytes", ErrInvalidField)
	}
	if r.Seq == 0 {
		return fmt.Errorf("%w: seq is zero", ErrInvalidField)
	}
	if r.Expires <= r.Updated {
		return fmt.Errorf("%w: expires before it was made", ErrInvalidField)
	}
	if r.Hardware.CPUs < 0 {
		return fmt.Errorf("%w: negative cpus", ErrInvalidField)
	}
	if len(r.Software.Images) > MaxImages {
		return fmt.Errorf("%w: %d images, limit %d", ErrInvalidField, len(r.Software.Images), MaxImages)
	}
	for _, im := range r.Software.Images {
		if len(im) > MaxImageBytes || !require.ValidWord(im) {
			return fmt.Errorf("%w: image %q: want 1 to %d of [A-Za-z0-9_.:+/@-]", ErrInvalidField, im, MaxImageBytes)
		}
	}
	if err := validateModules(r.Software.Modules); err != nil {
		return err
	}
	if err := validateFunctions(r.Functions, r.FunctionsUnlisted); err != nil {
		return err
	}
	if r.Batch != nil {
		if err := r.Batch.validate(); err != nil {
			return err
		}
	}
	for k := range r.Labels {
		if !require.ValidLabelKey(k) {
			return fmt.Errorf("%w: label key %q", ErrInvalidField, k)
		}
	}
	for _, a := range r.Allowed {
		if _, err := peer.Decode(a); err != nil {
			return fmt.Errorf("%w: allowed user %q: %v", ErrInvalidField, a, err)
		}
	}
	// Compared as times: now.UnixNano() would wrap for a clock outside
	// the years 1677 to 2262.
	if !now.IsZero() && !now.Before(r.ExpiresAt()) {
		return fmt.Errorf("%w: at %s", ErrExpired, r.ExpiresAt().Format(time.RFC3339))
	}
	return nil
}

// Bounds of EndpointRecord.Functions: at most MaxFunctionEntries entries,
// each 1 to MaxFunctionEntryBytes of [A-Za-z0-9_./-] (a function ID, a
// user ID, or a user ID, a slash and a function name), MaxFunctionsBytes
// in all. A longer allowlist is not listed (FunctionsUnlisted).
const (
	MaxFunctionEntries    = 128
	MaxFunctionEntryBytes = 256
	MaxFunctionsBytes     = 8 << 10
)

// validateModules checks Software.Modules against its bounds: names valid
// and normalised, sorted, once each; versions short and printable.
func validateModules(ms []Module) error {
	if len(ms) > MaxModules {
		return fmt.Errorf("%w: %d Python modules, limit %d", ErrInvalidField, len(ms), MaxModules)
	}
	total := 0
	for i, m := range ms {
		total += len(m.Name) + len(m.Version)
		switch {
		case !require.ValidModuleName(m.Name) || require.NormalizeModule(m.Name) != m.Name:
			return fmt.Errorf("%w: Python module %q: want a distribution name as PEP 503 normalises it", ErrInvalidField, m.Name)
		case i > 0 && ms[i-1].Name >= m.Name:
			return fmt.Errorf("%w: Python modules not sorted by name, or listed twice (%q)", ErrInvalidField, m.Name)
		case len(m.Version) > MaxModuleVersion || !printable(m.Version):
			return fmt.Errorf("%w: Python module %s: version of %d bytes, or not printable", ErrInvalidField, m.Name, len(m.Version))
		}
	}
	if total > MaxModulesBytes {
		return fmt.Errorf("%w: Python modules of %d bytes, limit %d", ErrInvalidField, total, MaxModulesBytes)
	}
	return nil
}

// printable reports whether s holds only printable ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// validateFunctions checks the function allowlist against its bounds.
func validateFunctions(list []string, unlisted bool) error {
	if unlisted && len(list) > 0 {
		return fmt.Errorf("%w: function allowlist both listed and unlisted", ErrInvalidField)
	}
	if len(list) > MaxFunctionEntries {
		return fmt.Errorf("%w: %d function allowlist entries, limit %d", ErrInvalidField, len(list), MaxFunctionEntries)
	}
	total := 0
	for _, e := range list {
		total += len(e)
		if !ValidFunctionEntry(e) {
			return fmt.Errorf("%w: function allowlist entry %q: want 1 to %d of [A-Za-z0-9_./-]", ErrInvalidField, e, MaxFunctionEntryBytes)
		}
	}
	if total > MaxFunctionsBytes {
		return fmt.Errorf("%w: function allowlist of %d bytes, limit %d", ErrInvalidField, total, MaxFunctionsBytes)
	}
	return nil
}

// ValidFunctionEntry reports whether e may stand in a record's function
// allowlist: 1 to MaxFunctionEntryBytes of [A-Za-z0-9_./-].
func ValidFunctionEntry(e string) bool {
	if e == "" || len(e) > MaxFunctionEntryBytes {
		return false
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '/' || c == '-') {
			return false
		}
	}
	return true
}

// Offers reports whether the function allowlist list offers the function
// with ID id, of owner, named name: an entry is its ID, OWNER/NAME (every
// version of it) or its owner's user ID. An empty list offers every
// function. Endpoints admit by it and routing chooses by it, so that both
// read an allowlist alike.
func Offers(list []string, id, owner, name string) bool {
	if len(list) == 0 {
		return true
	}
	for _, e := range list {
		if e == id || e == owner || e == owner+"/"+name {
			return true
		}
	}
	return false
}

// Serves reports whether the endpoint may serve the function with ID id,
// of owner, named name, by its advertised allowlist: true unless it
// restricts functions (Functions) to a list that does not offer it. An
// allowlist it does not list (FunctionsUnlisted) is its to apply: Serves
// is then true.
func (r *EndpointRecord) Serves(id, owner, name string) bool {
	return r.FunctionsUnlisted || Offers(r.Functions, id, owner, name)
}

// Policy is the endpoint's access policy.
func (r *EndpointRecord) Policy() identity.Policy {
	p := identity.Policy{Public: r.Public}
	p.Owner, _ = peer.Decode(r.Owner)
	for _, a := range r.Allowed {
		if id, err := peer.Decode(a); err == nil {
			p.Allowed = append(p.Allowed, id)
		}
	}
	return p
}

// SignRecord validates r and seals it with the node's key, which must be r's ID.
func SignRecord(k *identity.Key, r *EndpointRecord) ([]byte, error) {
	if r.ID != k.ID().String() {
		return nil, fmt.Errorf("%w: record id %s, key %s", ErrWrongSigner, r.ID, k.ID())
	}
	if err := r.validate(time.Time{}); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("routing: encode record: %w", err)
	}
	env, err := identity.Seal(k, identity.DomainEndpoint, RecordCodec, b)
	if err != nil {
		return nil, err
	}
	if len(env) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, len(env), MaxRecordBytes)
	}
	return env, nil
}

// DecodeRecord checks a signed endpoint record and returns its content: size
// first, then signature, signer, schema and, unless now is zero, expiry. Every
// rejection wraps one of the Err* values above and carries a fault kind.
//
// It then checks the owner's claim (VerifyOwnerClaim, at now) and sets
// OwnerVerified, or OwnerUnverified to why not: a missing or bad claim leaves
// the record valid and its owner unverified.
func DecodeRecord(b []byte, now time.Time) (*EndpointRecord, error) {
	if len(b) > MaxRecordBytes {
		return nil, fault.Wrap(fault.TooLarge, "", fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, len(b), MaxRecordBytes))
	}
	s, err := identity.Open(b, identity.DomainEndpoint, RecordCodec)
	if err != nil {
		if errors.Is(err, identity.ErrBadSignature) {
			return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrBadSignature, err))
		}
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	var r EndpointRecord
	if err := decMode.Unmarshal(s.Payload, &r); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	// Only canonical encodings are accepted, so a record has one byte form.
	if again, err := encMode.Marshal(&r); err != nil || !bytes.Equal(again, s.Payload) {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: not in canonical form", ErrMalformed))
	}
	if r.ID != s.Signer.String() {
		return nil, fault.Wrap(fault.Denied, "", fmt.Errorf("%w: record for %s signed by %s", ErrWrongSigner, r.ID, s.Signer))
	}
	if err := r.validate(now); err != nil {
		kind := fault.Invalid
		if errors.Is(err, ErrExpired) {
			kind = fault.Expired
		}
		return nil, fault.Wrap(kind, "", err)
	}
	r.verifyOwner(now)
	return &r, nil
}

// Validator checks endpoint records stored in the DHT. It implements the
// record.Validator interface of go-libp2p-record (Validate and Select) without
// importing it. The zero value uses the system clock.
type Validator struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (v Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Validate checks that value is a valid record for key.
func (v Validator) Validate(key string, value []byte) error {
	r, err := DecodeRecord(value, v.now())
	if err != nil {
		return err
	}
	if key != Key(peer.ID(mustDecode(r.ID))) {
		return fault.Wrap(fault.Invalid, "", fmt.Errorf("%w: stored under another node's key", ErrWrongSigner))
	}
	return nil
}

func mustDecode(s string) peer.ID {
	id, _ := peer.Decode(s)
	return id
}

// Select picks the record with the highest sequence number among values; an
// invalid value is never picked. It errs only if none is valid.
func (v Validator) Select(key string, values [][]byte) (int, error) {
	best, bestSeq := -1, uint64(0)
	now := v.now()
	for i, val := range values {
		r, err := DecodeRecord(val, now)
		if err != nil {
			continue
		}
		if best < 0 || r.Seq > bestSeq {
			best, bestSeq = i, r.Seq
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: no valid record among %d", ErrMalformed, len(values))
	}
	return best, nil
}
