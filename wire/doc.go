// Package wire is how fxmesh's messages travel between peers: the protocol
// IDs and gossip topics in one list, the frame (an unsigned varint length,
// then that many bytes), the reading of frames from peers not yet trusted
// (a byte budget and a deadline from the first byte), and the CBOR modes
// every message uses — Core Deterministic encoding, so that a value has one
// byte form, and one strict decoder whose bounds each message sets.
//
// It is a leaf: it imports the standard library, fault, the CBOR module
// and go-libp2p's protocol ID type.
// The messages themselves belong to the packages that own their meaning
// (invoke's invocations and replies, catalog's records and sync, routing's
// records and heartbeats); daemon and client both frame them here.
package wire
