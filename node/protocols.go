package node

import "github.com/libp2p/go-libp2p/core/protocol"

// The protocols an endpoint serves.
const (
	// InvokeProtocol carries one signed invocation and, if asked, its
	// results (see package invoke for the messages).
	InvokeProtocol protocol.ID = "/fxmesh/invoke/1.0.0"
	// SessionProtocol carries many invocations, each waited for, and their
	// replies interleaved on one stream: a client that runs many functions
	// on one endpoint opens one.
	SessionProtocol protocol.ID = "/fxmesh/session/1.0.0"
	// TaskProtocol answers a caller's questions about its task.
	TaskProtocol protocol.ID = "/fxmesh/task/1.0.0"
)
