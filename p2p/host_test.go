package p2p

import (
	"testing"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/multiformats/go-multiaddr"
)

// TestOnePeerMayHoldManyConnections: a user's fx processes all dial with
// the user's key, from one address; a node lets PeerConns of them in at
// once, handshakes and identify and all, and no more.
func TestOnePeerMayHoldManyConnections(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"loopback", "/ip4/127.0.0.1/tcp/4001"},
		{"one IPv4 address", "/ip4/192.0.2.7/tcp/4001"},
		{"one IPv6 address", "/ip6/2001:db8::7/tcp/4001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rm, err := newResourceManager()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rm.Close() })
			k, err := identity.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			addr := multiaddr.StringCast(tc.addr)
			open := func() (network.ConnManagementScope, error) {
				s, err := rm.OpenConnection(network.DirInbound, true, addr)
				if err == nil {
					t.Cleanup(s.Done)
				}
				return s, err
			}
			// All at once in their handshakes, then all of one peer.
			scopes := make([]network.ConnManagementScope, PeerConns)
			for i := range scopes {
				if scopes[i], err = open(); err != nil {
					t.Fatalf("connection %d of %d refused before its handshake: %v", i+1, PeerConns, err)
				}
			}
			for i, s := range scopes {
				if err := s.SetPeer(k.ID()); err != nil {
					t.Fatalf("connection %d of %d of one peer refused: %v", i+1, PeerConns, err)
				}
			}
			// Each is identified, both ways, as it opens.
			for i := range scopes {
				for _, dir := range []network.Direction{network.DirInbound, network.DirOutbound} {
					st, err := rm.OpenStream(k.ID(), dir)
					if err == nil {
						t.Cleanup(st.Done)
						if err = st.SetProtocol(identify.ID); err == nil {
							err = st.SetService(identify.ServiceName)
						}
						if err == nil { // as identify does to read a message
							err = st.ReserveMemory(8<<10, network.ReservationPriorityAlways)
						}
					}
					if err != nil {
						t.Fatalf("identify (%s) of connection %d of %d refused: %v", dir, i+1, PeerConns, err)
					}
				}
			}
			s, err := open()
			if err == nil {
				err = s.SetPeer(k.ID())
			}
			if err == nil {
				t.Fatalf("connection %d of one peer admitted", PeerConns+1)
			}
		})
	}
}
