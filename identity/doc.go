// Package identity holds the keys and identities of fxmesh: Ed25519 keys for
// users and nodes, their IDs (printed as libp2p peer IDs), signing and opening
// of signed envelopes under fxmesh's own domains, and the access policy that
// says which users may use an endpoint or a function.
//
// It depends on the standard library and go-libp2p's core crypto, peer and
// record packages only; every other package of fxmesh builds on it.
package identity
