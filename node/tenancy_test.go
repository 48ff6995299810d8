package node

import (
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
)

// TestNotRootOwnerAlone: an endpoint that cannot run users' workers as
// uids of their own (fxnode not root; here the test says so to a node it
// starts) runs functions on its host for its owner alone: another user's
// call is denied, saying why, and runs nothing; the owner's runs.
func TestNotRootOwnerAlone(t *testing.T) {
	was := runsAsRoot
	runsAsRoot = func() bool { return false }
	defer func() { runsAsRoot = was }()
	f := newBoundsFixture(t, func(c *Config) { c.Public = true })
	stranger := mustGenerate(t)
	other := f.clientOf(t, stranger)
	_, err := other.Send(f.ctx, f.ep.ID(), f.signed(t, stranger, "echo", `["a stranger's"]`), true, nil)
	if fault.KindOf(err) != fault.Denied || !strings.Contains(err.Error(), "for its owner alone") || !strings.Contains(err.Error(), "uids of their own (that needs root)") {
		t.Fatalf("another user's call on a host that cannot keep users apart: %v; want denied, saying why", err)
	}
	if st := f.ep.ep.pythonStats(t); st.Running+st.Queued != 0 {
		t.Fatalf("pool busy after the refusal: %+v", st)
	}
	if _, err := f.client.Send(f.ctx, f.ep.ID(), f.signed(t, f.owner, "echo", `["the owner's"]`), true, nil); err != nil {
		t.Fatalf("the owner's call: %v", err)
	}
}
