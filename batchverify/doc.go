// Package batchverify checks Ed25519 signatures, many at once when many
// wait, for a fraction of the cost of checking each alone. An endpoint
// under load spends most of its admission time on signatures; here the
// signatures of concurrent invocations share one multi-scalar
// multiplication.
//
// # One rule
//
// A signature is valid, alone or in a batch, when the cofactored equation
//
//	[8][s]B = [8]R + [8][k]A,  k = SHA-512(R || A || M) mod L
//
// holds, s is below the group order L, A and R decode as crypto/ed25519
// decodes them, and A is not of small order (a public key anyone could
// sign for). Every signature crypto/ed25519 accepts, this rule accepts; it
// also accepts signatures whose R or A carry a small-order component, which
// only the key's holder can make. The answer never depends on whether a
// signature was checked alone or with others.
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
