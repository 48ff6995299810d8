// Package node is the fxmesh daemon: the libp2p host of a bootstrap or an
// endpoint (package p2p makes it), the Kademlia DHT, the publishing of the
// node's signed endpoint record and capability keys, the catalog service
// (gossip, sync and the catalog client protocol), heartbeats, and on an
// endpoint the handlers of the invoke, session, task and status protocols,
// which admit signed invocations and run them on the executors. It is the
// one place where identity, routing, catalog, invoke and exec meet the
// network on the serving side; package client is the other side.
//
// A node plays one of two roles: a bootstrap (the operators' well-known
// point of contact: a DHT server and catalog archive) or an endpoint (a DHT
// server that advertises its capabilities and serves functions).
//
// An endpoint's executors are the warm Python pool and the shell runner,
// for functions on the host, and, when it has a container runtime (the
// containers: block of config.yaml, or detected), exec/container for every
// function with a container image, whatever its kind. Such a function is
// never run on the host: without a runtime, or with its image absent,
// admission refuses it. The endpoint record lists that runtime (and no
// other: the software of the config does not name runtimes there) and the
// images it holds, listed afresh each time the record is signed, so that
// clients route container functions where their image is
// (Options.Containers can say otherwise).
//
// Every task event of an endpoint (admitted, refused, started, finished)
// goes to one observer, which keeps the Prometheus metrics, the audit log
// (audit_log, package node/audit) and the list of recent tasks, never a
// task's inputs or results. With http_listen set, a node also serves the
// web view (package node/webview) and /metrics, and keeps a directory of
// the endpoints it hears of, their records fetched and checked.
//
// Heartbeats: an endpoint publishes its load on the load topic every
// routing.DefaultHeartbeatInterval. Only bootstraps and nodes serving the
// web view follow that topic (Node.FollowsLoad) and keep the table of who
// is down (Node.Liveness); an endpoint sends its beats to them without
// following the topic, and neither receives nor relays anyone else's, so
// that what it pays does not grow with the mesh. Clients learn the load
// of the endpoints they route to from the status protocol.
//
// The endpoint's task store stays a sub-package (node/taskstore): only the
// daemon keeps tasks, and the store is a component of its own, with its
// own durability rules and tests, that no other package needs.
package node
