package exectest

import (
	"testing"

	"github.com/fxmesh/fxmesh/exec/tenant"
)

// NewTable makes a tenant.Table of iso, failing the test if it cannot.
func NewTable(t testing.TB, iso tenant.Isolation) *tenant.Table {
	t.Helper()
	ts, err := tenant.New(iso)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
