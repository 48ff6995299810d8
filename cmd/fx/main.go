// Command fx is the fxmesh client: it dials the mesh as a light peer, lists
// endpoints and functions, and invokes functions on endpoints.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/fxmesh/fxmesh/fault"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var stopped *interruptedError
		if errors.As(err, &stopped) {
			fmt.Fprintln(os.Stderr, "fx:", stopped.Error())
			os.Exit(exitInterrupted)
		}
		msg := message(err)
		if fault.KindOf(err) == fault.User {
			msg = err.Error() // the function's own words, as they are
		}
		fmt.Fprintln(os.Stderr, "fx:", msg)
		os.Exit(fault.KindOf(err).ExitCode())
	}
}
