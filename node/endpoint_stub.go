package node

type endpoint struct{}

func (n *Node) startEndpoint() error { return nil }
func (e *endpoint) close() error     { return nil }
