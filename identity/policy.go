package identity

import (
	"github.com/libp2p/go-libp2p/core/peer"
)

// Policy says which users may use something: an endpoint or a function. The
// zero Policy admits nobody but its owner (and an empty owner nobody at all).
type Policy struct {
	// Owner may always use it.
	Owner peer.ID
	// Public admits every user.
	Public bool
	// Allowed lists further users admitted.
	Allowed []peer.ID
}

// Allows reports whether user may use what the policy guards. It is a pure
// function of the policy and the user.
func (p Policy) Allows(user peer.ID) bool {
	if user == "" {
		return false
	}
	if p.Public || user == p.Owner {
		return true
	}
	for _, a := range p.Allowed {
		if a == user {
			return true
		}
	}
	return false
}
