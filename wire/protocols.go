package wire

import "github.com/libp2p/go-libp2p/core/protocol"

// The protocols of fxmesh, one list. Stream protocols carry framed CBOR
// messages; topics carry one message each.
const (
	// DHTPrefix puts fxmesh's Kademlia DHT apart from the public IPFS DHT.
	DHTPrefix protocol.ID = "/fxmesh"

	// RecordProtocol serves an endpoint's current signed record.
	RecordProtocol protocol.ID = "/fxmesh/endpoint/1.0.0"
	// StatusProtocol answers with an endpoint's load, encoded as a
	// heartbeat; a client measures the round trip as it asks.
	StatusProtocol protocol.ID = "/fxmesh/status/1.0.0"
	// InvokeProtocol carries one signed invocation and, if asked, its
	// results (package invoke has the messages).
	InvokeProtocol protocol.ID = "/fxmesh/invoke/1.0.0"
	// SessionProtocol carries many invocations of one caller, each waited
	// for, and their replies interleaved on one stream.
	SessionProtocol protocol.ID = "/fxmesh/session/1.0.0"
	// BlockProtocol carries the block protocol of package exec/pilot
	// between an endpoint and the agent of one of its batch-scheduler
	// blocks, authenticated by the block's own key.
	BlockProtocol protocol.ID = "/fxmesh/block/1.0.0"
	// TaskProtocol answers a caller's questions about its task.
	TaskProtocol protocol.ID = "/fxmesh/task/1.0.0"
	// CancelProtocol carries a caller's request to cancel its task.
	CancelProtocol protocol.ID = "/fxmesh/cancel/1.0.0"
	// CatalogProtocol is how clients use a full node's catalog: publish,
	// resolve, list, versions, head; one request, one response.
	CatalogProtocol protocol.ID = "/fxmesh/catalog/client/1.0.0"
	// SyncProtocol pulls the catalog from a peer by bucket digests; one
	// request, one response per stream.
	SyncProtocol protocol.ID = "/fxmesh/catalog/sync/1"

	// CatalogTopic is the gossipsub topic signed catalog updates spread on.
	CatalogTopic = "/fxmesh/catalog/1"
	// LoadTopic is the gossipsub topic endpoints beat on.
	LoadTopic = "/fxmesh/load/1"
)
