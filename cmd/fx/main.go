// Command fx is the fxmesh client: it dials the mesh as a light peer, lists
// endpoints and functions, and invokes functions on endpoints.
package main

import (
	"fmt"
	"os"

	"github.com/fxmesh/fxmesh/fault"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fx:", err)
		os.Exit(fault.KindOf(err).ExitCode())
	}
}
