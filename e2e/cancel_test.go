package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFxCancel: fx cancel of a running task stops it, and fx status then
// says cancelled.
func TestFxCancel(t *testing.T) {
	processes(t)
	home, _, epID, boot := endpointMesh(t)
	b := "--bootstrap=" + boot.addr()
	task, err := fx(t, home, "submit", "nap", "--args", "[3600]", "--endpoint", epID, b)
	if err != nil {
		t.Fatal(err)
	}
	task = strings.TrimSpace(task)
	eventually(t, time.Minute, "task running", func() error {
		out, err := fx(t, home, "status", task, b)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "running" {
			return fmt.Errorf("status %q", out)
		}
		return nil
	})
	out, err := fx(t, home, "cancel", task, b)
	if err != nil || strings.TrimSpace(out) != "cancelled" {
		t.Fatalf("fx cancel: %q %v", out, err)
	}
	out, err = fx(t, home, "status", task, b)
	if err != nil || strings.TrimSpace(out) != "cancelled" {
		t.Fatalf("fx status after fx cancel: %q %v", out, err)
	}
}
