// Package node is the fxmesh daemon and the client side of its protocols: the
// libp2p host, the Kademlia DHT under fxmesh's own protocol prefix, the
// publishing of the node's signed endpoint record, the protocol handlers, and
// the Client that the fx command uses to see the mesh. It is the one place
// where identity, routing, catalog and exec meet the network.
//
// A node plays one of two roles: a bootstrap (the operators' well-known point
// of contact: a DHT server and nothing else yet) or an endpoint (a DHT server
// that advertises its capabilities and serves functions).
package node
