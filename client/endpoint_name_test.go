package client

import (
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestPickEndpoint(t *testing.T) {
	id := func() peer.ID {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		return k.ID()
	}
	me, friend, stranger := id(), id(), id()
	ep := func(name string, owner peer.ID, verified bool) (EndpointInfo, peer.ID) {
		n := id()
		return EndpointInfo{Record: &EndpointRecord{ID: n.String(), Name: name, Owner: owner.String(), OwnerVerified: verified}, Online: true}, n
	}
	gpu, gpuID := ep("gpu-box", me, true)
	lab, labID := ep("lab", friend, true)
	fake, fakeID := ep("gpu-box", stranger, true) // a stranger's endpoint that takes my endpoint's name
	unverified, _ := ep("cluster", me, false)     // says it is mine, unproven
	twin1, twin1ID := ep("twin", me, true)
	twin2, twin2ID := ep("twin", friend, true)
	all := []EndpointInfo{gpu, lab, fake, unverified, twin1, twin2}
	trusted := []peer.ID{friend}

	tests := []struct {
		name string
		want peer.ID
		kind fault.Kind
		errs []string
	}{
		{"gpu-box", gpuID, "", nil},
		{"lab", labID, "", nil},
		{"twin", "", fault.Invalid, []string{`2 endpoints you trust are named "twin"`, twin1ID.String(), twin2ID.String()}},
		{"cluster", "", fault.NotFound, []string{`no endpoint you trust is named "cluster"`, "unverified or not trusted", "names prove nothing"}},
		{"gpu-bx", "", fault.NotFound, []string{`did you mean "gpu-box"?`}},
		{"zzzzzzz", "", fault.NotFound, []string{"fx endpoints lists them"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickEndpoint(tc.name, all, me, trusted)
			if tc.kind == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %s, %v; want %s", got, err, tc.want)
				}
				return
			}
			if fault.KindOf(err) != tc.kind {
				t.Fatalf("kind %q (%v), want %q", fault.KindOf(err), err, tc.kind)
			}
			for _, s := range tc.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
	// Without trust in the friend, "lab" is not resolved, though it exists.
	if _, err := pickEndpoint("lab", all, me, nil); !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), labID.String()) {
		t.Errorf("lab, friend untrusted: %v", err)
	}
	_ = fakeID
}
