// Package sim runs many fxmesh nodes in one process: a bootstrap and any
// number of endpoints on loopback, each a real node.Node, for tests and
// experiments that need a whole mesh. A model for 10k+ nodes will join it.
package sim
