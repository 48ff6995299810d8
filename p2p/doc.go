// Package p2p makes the libp2p hosts and DHTs of fxmesh the way both the
// daemon (package node) and the client (package client) need them: a host
// with fxmesh's resource limits (many connections of one peer, bounded
// streams and memory per peer and in total), the Kademlia DHT under
// wire.DHTPrefix with the endpoint-record validator, and the parsing and
// dialing of bootstrap addresses.
package p2p
