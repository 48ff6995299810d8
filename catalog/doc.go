// Package catalog is fxmesh's function catalog: the signed records that say
// what OWNER/NAME is (its versions, code and access), their checks, their
// store, and the sync protocol by which nodes converge on them. It is a
// library; the daemon (package node) wires it to gossipsub and to streams.
//
// # Records
//
// A Function is the immutable content of one version: name, kind (python
// with Source and Entry, or shell with a Command template), description,
// optional container image, requirements (package require's grammar, see
// Requirements below), owner, version and creation time. It is encoded as Core Deterministic CBOR with
// small integer map keys, so the same content gives the same bytes on every
// platform, and its ID is a CIDv1 (codec cbor 0x51, sha2-256) over those
// bytes, printed in base32 ("bafire…"). testdata/golden.json pins the bytes
// and IDs of a known function and update.
//
// An Update changes the state of one OWNER/NAME: OpPublish (a new version),
// OpAccess (share, unshare, public, private) or OpDelete (a tombstone). Each
// update carries the whole state: Seq, the access list, and the table of
// every version's ID; publish and non-private access changes also carry the
// highest version's body. The owner signs the update's canonical CBOR with
// identity.Seal under identity.DomainFunction and UpdateCodec; the envelope
// bytes are what travel. An update's ID is the CID over its payload (not the
// envelope), so re-wrapped copies of one signed update are one update.
//
// # Checks
//
// DecodeUpdate is pure and checks, in order: size (Limits.MaxRecordBytes,
// before decoding), the envelope's signature, domain and codec, strict
// canonical CBOR (no duplicate keys, unknown fields, indefinite lengths,
// tags or alternative encodings), the schema, and that the signer is the
// owner. A Store then checks the update against what it holds: the highest
// Seq per OWNER/NAME wins; a lower or equal Seq is ErrStale (a replayed
// older version or ACL), the very same update is ErrDuplicate, and at an
// equal Seq with a different ID the higher ID wins so that all nodes agree.
// Stale and duplicate updates are never stored or forwarded. Each failure
// wraps one sentinel (ErrTooLarge, ErrSourceTooLarge, ErrMalformed,
// ErrBadSignature, ErrInvalidField, ErrNotOwner, ErrPrivate, ErrStale,
// ErrDuplicate, ErrUnreferenced, ErrQuota, ErrNotFound, ErrClosed) inside a
// *fault.Error whose kind crosses the wire.
//
// # Requirements
//
// A function's requirements are parsed with package require, the grammar
// routing matches them by, so that the catalog accepts a requirement
// exactly when routing gives it a meaning. One that routing could never
// match (gpus=many, arch>=5, python=abc) is refused on every path a record
// takes: the owner's NewPublish and Apply, gossip's Check and Receive,
// sync's HandleSync and Pull, and VerifyFunction. The error wraps
// ErrInvalidField and require's reason (require.ErrBadValue, ...), has kind
// Invalid, and carries require's message, the one routing gives.
//
// Releases before this rule checked only the syntax, so a store they wrote
// may hold records it now refuses. They are not deleted in bulk: Open
// re-verifies every stored record and leaves out, with a warning that gives
// the reason ("catalog: ignoring stored update", "catalog: dropping stored
// function"), those that no longer pass. Such a name does not resolve, is
// not offered to sync nor gossiped, and so is never routed; its head stays
// on disk until its owner publishes the name again, which replaces it, and
// its bodies are dropped from disk by a read-write Open (a read-only one
// changes nothing). The rest of the store works as before. Peers of older
// releases that still offer such records over sync have them counted as
// rejected.
//
// # Private functions
//
// A private update that carries code is never shared: gossip validators
// (Store.Check) and stores fed by the network (Store.Receive) refuse it with
// ErrPrivate, full nodes refuse it on Apply too, and sync never offers it.
// Only the owner's own store (Options.KeepPrivate) keeps it. To run a private
// function, the owner's invocation carries Store.Proof (the current update
// and the function's bytes) to the endpoint, which checks it with
// VerifyFunction. A private access change carries no code and does spread:
// it is how a shared function is withdrawn; full nodes then hide the name
// and drop its bodies.
//
// # Store
//
// Store keeps, per OWNER/NAME, only the current update (older ones are
// superseded and dropped) and the bodies of the versions it lists, in bbolt
// (Open with a path) or in memory (Open with ""). An in-memory index,
// rebuilt and re-verified on Open, answers Resolve ("OWNER/NAME",
// "OWNER/NAME@VERSION" or a function ID), Get, Access (an identity.Policy),
// List, Versions and Head. Each Apply is one bbolt transaction. A store
// opened with Options.ReadOnly shares its file with other readers, in this
// process or others, and writes nothing: many fx commands of one user look
// up the same catalog at once.
//
// Each owner has a quota of records in a store (Options.OwnerQuota, 10,000
// by default): one per OWNER/NAME held, tombstones included, and one per
// function body held. An update or body that would put its owner over it is
// refused with ErrQuota, so that one key cannot fill every node's disk; a
// new head that replaces an old one without adding bodies always passes.
// The quota is each node's own, so gossip ignores (never rejects) a record
// over it and sync counts it as ignored.
//
// # Spreading
//
// New updates are published on the gossipsub topic wire.CatalogTopic (Store.Publish;
// Store.Follow applies what arrives). The node's topic validator calls
// Store.Check and maps its error with VerdictOf: Accept, Ignore (duplicate,
// stale, over this node's owner quota) or Reject (everything else), so nothing bad is forwarded.
//
// Gossip is only a hint. A node that joins late, restarts or heals from a
// partition pulls over a wire.SyncProtocol stream (Store.Pull against a
// SyncPeer; the other side answers with Store.HandleSync; one CBOR
// SyncRequest and one SyncResponse per stream). The sync set is every
// shareable current update and every held body of a non-private,
// non-deleted function, keyed by ID and split into 256 buckets by the first
// byte of the ID's digest. The requester sends the SHA-256 of each non-empty
// bucket; the responder returns its update IDs and function IDs in every
// bucket that differs (as many buckets as fit; the requester continues From
// the next one). The requester then asks for the updates it lacks, a batch
// at a time, pushing those the responder lacks in the same requests, and
// then does the same for function bodies, so that a body always arrives
// after the update that lists it (and bodies that came inside updates are
// not fetched twice). Messages are bounded by Limits.MaxSyncBytes; the items
// of one message are written in one bbolt transaction. Between equal stores
// a pull is one round trip: a request of about 10 KiB once all 256 buckets
// are in use (a few thousand functions and up), and an empty response.
//
// Every message from the network has a decoder that checks its size first
// and is fuzzed: DecodeUpdate, DecodeFunction, DecodeSyncRequest and
// DecodeSyncResponse.
package catalog
