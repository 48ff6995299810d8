// Command fxnode runs an fxmesh node: an endpoint that serves functions, or
// the operators' bootstrap node.
package main

import (
	"fmt"
	"os"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/node"
)

func main() {
	node.TuneRuntime()
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fxnode:", err)
		os.Exit(fault.KindOf(err).ExitCode())
	}
}
