package node

import "github.com/libp2p/go-libp2p/core/protocol"

// The protocols an endpoint serves.
const (
	// InvokeProtocol carries one signed invocation and, if asked, its
	// results (see package invoke for the messages).
	InvokeProtocol protocol.ID = "/fxmesh/invoke/1.0.0"
	// TaskProtocol answers a caller's questions about its task.
	TaskProtocol protocol.ID = "/fxmesh/task/1.0.0"
)
