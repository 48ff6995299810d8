// Package routing describes endpoints and chooses among them: the signed
// endpoint record each fxnode publishes in the DHT (hardware, software,
// datasets, labels, addresses), its validation, the owner's signed claim
// that proves who owns an endpoint, and, as pure functions, requirement
// matching and ranking of candidate endpoints (only those of owners the
// caller trusts, unless told otherwise). Requirements are parsed by package
// require, the grammar catalog validation uses too; what they mean against
// an endpoint record (Requirement.Met, capability keys) is routing's.
//
// It depends on identity, require and go-libp2p's core packages only; the
// DHT and streams that carry its records live in package node.
package routing
