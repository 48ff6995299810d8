// Package batchverify checks Ed25519 signatures, many at once when many
// wait, for a fraction of the cost of checking each alone. An endpoint
// under load spends most of its admission time on signatures; here the
// signatures of concurrent invocations share one multi-scalar
// multiplication.
//
// # One rule
//
// The rule, the batch equation and the batch's random scalars are those of
// github.com/hdevalence/ed25519consensus, which implements ZIP-215: the
// rule consensus systems fixed so that every implementation gives the same
// answer for the same bytes, alone or in a batch. A signature R || s of M
// by the public key A is valid when A and R decode to points of the curve,
// in any of their encodings (canonical or not), s is below the group order
// L, and the cofactored equation
//
//	[8][s]B = [8]R + [8][k]A,  k = SHA-512(R || A || M) mod L
//
// holds. Every signature crypto/ed25519 accepts, this rule accepts; it also
// accepts signatures whose R carries a small-order component or is not
// encoded canonically, which crypto/ed25519 refuses. The answer never
// depends on whether a signature was checked alone or with others.
//
// # What ZIP-215 changed
//
// Until it used the library, the package had a rule of its own: ZIP-215
// less every signature under a public key of small order (one of the eight
// points whose eightfold is the identity, in any of its encodings), which
// it refused whatever the signature. ZIP-215 accepts those where the
// equation holds, and for such a key [8][k]A is the identity, so anyone can
// make a valid signature under it, of any message; crypto/ed25519, and with
// it libp2p's handshakes, already accepted some of them. No secret key
// derives a small-order key: a signature under it speaks for no one, and
// its peer ID is a public identity anyone may act as, which an endpoint
// admits only under a public policy or one that names that ID. Nothing else
// moved: torsion in R and non-canonical encodings of R and A were accepted
// before, an s at or above L, a point off the curve and a wrong size are
// refused as before.
//
// Task IDs and replay protection are unaffected. A task's ID is derived
// from the signer and the signed payload, not from the signature's bytes
// (invoke.TaskID), so another valid signature of the same invocation (its
// R with another torsion component or in another encoding, or any
// signature under a small-order key) is the same task, and an endpoint
// that admitted it once refuses it as a replay. Another encoding of a key
// is another signer, with its own peer ID, and only a small-order point
// has encodings anyone can sign under.
//
// # Batches
//
// A batch checks the sum of its equations, each multiplied by a random
// 128-bit scalar: a batch that holds an invalid signature passes with
// probability at most 2^-128. When a batch fails, each of its signatures is
// checked alone, so a forged signature costs its neighbours time, never
// their validity.
//
// Verifier gathers the checks of concurrent goroutines into batches
// without waiting on a timer: a goroutine that finds no batch under way
// yields once to the goroutines ready to run, then checks its own
// signature with every one queued by then. Under load that makes batches
// of about ten (64 concurrent callers on two cores); alone, a caller
// checks its signature at once.
package batchverify
