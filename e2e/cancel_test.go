package e2e

import (
	"strings"
	"testing"
)

// TestFxCancel: fx cancel of a running task stops it, and fx status then
// says cancelled.
func TestFxCancel(t *testing.T) {
	processes(t)
	home, _, epID, boot := endpointMesh(t)
	b := "--bootstrap=" + boot.addr()
	task := submitTask(t, home, b, epID, "nap", "[3600]")
	waitStatus(t, home, b, task, "running")
	out, err := fx(t, home, "cancel", task, b)
	if err != nil || strings.TrimSpace(out) != "cancelled" {
		t.Fatalf("fx cancel: %q %v", out, err)
	}
	out, err = fx(t, home, "status", task, b)
	if err != nil || strings.TrimSpace(out) != "cancelled" {
		t.Fatalf("fx status after fx cancel: %q %v", out, err)
	}
}
