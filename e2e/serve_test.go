package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFxServe: fx serve answers on $FX_HOME/fx.sock with the API version,
// runs a function through the mesh, a second fx serve leaves it be, and
// with --idle-exit it exits by itself once unused, removing its socket.
func TestFxServe(t *testing.T) {
	processes(t)
	home, _, epID, boot := endpointMesh(t)
	socket := filepath.Join(home, "fx.sock")
	cmd := exec.Command(bin.fx, "serve", "--idle-exit", "3s", "--bootstrap", boot.addr())
	cmd.Env = append(os.Environ(), "FX_HOME="+home, "FX_BOOTSTRAP=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: &out}, nil
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("fx serve output:\n%s", out.String())
		}
	})
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	eventually(t, time.Minute, "fx serve answers", func() error {
		resp, err := hc.Get("http://fx/v1/version")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if v := resp.Header.Get("Fx-Api-Version"); v != "1.1" {
			return fmt.Errorf("version %q", v)
		}
		return nil
	})
	if st, err := os.Stat(socket); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st.Mode(), err)
	}
	body := fmt.Sprintf(`{"function": "add", "endpoint": %q, "inputs": [{"args": [40, 2]}]}`, epID)
	resp, err := hc.Post("http://fx/v1/run", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		State   string `json:"state"`
		Results []struct {
			Value json.RawMessage `json:"value"`
		} `json:"results"`
	}
	json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if run.State != "done" || len(run.Results) != 1 || string(run.Results[0].Value) != "42" {
		t.Fatalf("run through fx serve: %d %+v", resp.StatusCode, run)
	}
	if o, err := fx(t, home, "serve", "--bootstrap", boot.addr()); err != nil {
		t.Fatalf("a second fx serve: %v %s", err, o)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("fx serve exited with %v", err)
		}
	case <-time.After(2 * time.Minute): // a bound for a loaded machine, not a speed target
		t.Fatal("fx serve did not exit when idle")
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Fatalf("socket left after exit: %v", err)
	}
}
