// Package localapi serves the fx local API (docs/local-api.md): one mesh
// client — one libp2p host, its warm sessions to endpoints, the user's
// catalog — offered to programs of the same user as HTTP/1.1 and JSON on a
// unix socket in $FX_HOME, which only the uid owning $FX_HOME may use
// (SO_PEERCRED), and, when asked, on loopback TCP with a token. fx serve
// runs it; the Python package fxmesh talks to it.
//
// Results stream to clients through feeds: named queues of NDJSON events
// that a submit or a follow fills and one reader at a time drains, each
// result the moment the client's session delivers it.
package localapi
