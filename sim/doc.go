// Package sim runs many fxmesh nodes in one process, for tests and
// experiments that need a whole mesh.
//
// Mesh (mesh.go) starts a bootstrap and endpoints on loopback TCP, each a
// real node.Node with its real executors: the functional tests use it.
//
// The scale tests (scale_test.go, world_test.go; make sim-scale) run
// hundreds of complete nodes (the real node, catalog, routing, admission,
// DHT and gossipsub code, with production parameters) on a simulated
// network inside a testing/synctest bubble. The network is simnet, the
// packet network under go-libp2p's x/simlibp2p: every host speaks QUIC over
// in-memory UDP sockets, and every timer of every node runs on the
// bubble's clock, which jumps ahead whenever all goroutines wait. Idle
// time is free: a simulated minute of a 30-node mesh costs what its
// packets cost to process, not a minute. The hosts are built as
// x/simlibp2p's QUICSimnet builds them, but with a socket of our own
// around simnet's, which counts each node's packets and bytes, loses
// packets at a seeded rate and drops those crossing a partition; simnet's
// latency function gives each link a one-way latency fixed by the seed.
// node.Options.Host and Executors (and client.Options.Host) inject the
// host and an in-process executor that echoes its arguments; production
// leaves them nil.
//
// Why not mocknet: it runs on the wall clock (a five-minute partition takes
// five minutes, and 300 nodes' heartbeats cannot be waited out), its links
// lose nothing, and it skips the transport's handshake and framing. The
// departures from production are stated: QUIC instead of TCP, no libp2p
// resource manager, identify's address discovery off (it stalls a synctest
// bubble), and the echo executor in place of Python workers.
//
// Runs replay their choices (keys, latencies, who churns, what is looked
// up) from the seed; goroutine scheduling is not replayed, so figures vary
// a little between runs of one seed.
//
// The model of 10,000 nodes and more, and the Result both report, are in
// sim/model; fxnode sim --model runs it.
package sim
