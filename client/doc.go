// Package client is the client side of fxmesh's protocols: a light libp2p
// peer that dials the mesh (Client), finds endpoints and ranks them for
// some work (Route), resolves functions in the catalog and checks every
// record it gets (ResolveFunction, UserCatalog), signs invocations and
// sends them straight to an endpoint (Invoke, Submit, Start), runs work
// where routing says with failover and spread batches (RunRouted), reads
// tasks back (Task) and cancels them (Cancel). Home is the user's fx directory: key, config, trusted
// owners, and the record of submitted tasks.
//
// It is what the fx command and the local API for the Python SDK are built
// on (package client/localapi serves the latter); neither needs another
// package of fxmesh (types.go names the value
// types they use). It imports no part of the daemon (package node).
package client
