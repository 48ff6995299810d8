package sim

import (
	"context"
	"testing"
	"time"
)

func TestMeshOfTenEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eleven nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := Start(ctx, Options{Dir: t.TempDir(), Endpoints: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := m.Client(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eps, err := c.Endpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 10 {
		t.Fatalf("client sees %d endpoints, want 10", len(eps))
	}
	for _, e := range eps {
		if !e.Online {
			t.Fatalf("%s offline", e.Record.Name)
		}
	}
}
