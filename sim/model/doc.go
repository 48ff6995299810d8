// Package model is fxmesh's discrete-event model of a mesh too large to
// run for real (10,000 endpoints and more), and the Result and table that
// it and the real-code simulation (package sim) both report.
//
// The model runs the pure cores of fxmesh unchanged (catalog records and
// their merge, requirement matching and ranking in routing) over modelled
// protocols: gossipsub as a mesh of degree D with heartbeats and
// IHAVE/IWANT gossip to D_lazy other peers, and Kademlia lookups with
// k-buckets, α parallel requests and bucket refresh. See Run.
package model
