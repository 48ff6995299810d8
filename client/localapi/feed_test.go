package localapi

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/identity"
)

// TestFeedReaderThatStopsReading: a feed's reader that reads nothing loses
// the feed once a write takes longer than feedWriteTimeout, rather than
// holding it (and its producers) for good; what it was not sent stays
// queued.
func TestFeedReaderThatStopsReading(t *testing.T) {
	defer func(d time.Duration) { feedWriteTimeout = d }(feedWriteTimeout)
	feedWriteTimeout = 200 * time.Millisecond
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	home := client.Home{Dir: t.TempDir()}
	// The feed asks nothing of the mesh client.
	srv, err := New(Options{Client: &client.Client{}, Key: key, Home: home})
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(home.Dir, "fx.sock")
	ln, err := Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeUnix(ln)
	defer srv.Close()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /v1/feed?id=stuck HTTP/1.1\r\nHost: fx\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	f, err := srv.feedFor("stuck")
	if err != nil {
		t.Fatal(err)
	}
	big := pingEvent{Type: strings.Repeat("x", 100<<10)}
	for range 200 { // 20 MiB: far more than the socket holds
		f.push(big)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !f.unread(time.Now().Add(time.Second)) {
		if time.Now().After(deadline) {
			t.Fatal("a reader that reads nothing still holds the feed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	left := len(f.q)
	f.mu.Unlock()
	if left == 0 {
		t.Fatal("the events not sent were not kept for the next reader")
	}
}
