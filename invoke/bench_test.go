package invoke

import (
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/identity"
)

// BenchmarkSignTask: what a caller spends to make one invocation.
func BenchmarkSignTask(b *testing.B) {
	k, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	inv, err := New(fnID, ep.ID().String(), []Input{{Args: []byte(`[]`)}}, t0, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := SignTask(k, inv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode: what an endpoint spends to decode and check one
// invocation's signature, alone.
func BenchmarkDecode(b *testing.B) {
	k, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	env := signed(b, k, ep.ID().String(), nil)
	for b.Loop() {
		if _, err := Decode(env, 0); err != nil {
			b.Fatal(err)
		}
	}
}
