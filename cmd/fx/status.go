package main

import (
	"fmt"

	"github.com/fxmesh/fxmesh/client"
)

// statusLine is fx status's line for a task: its state; for a batch, how
// many of its inputs are done; for a failure, why.
func statusLine(st *client.Status) string {
	line := string(st.State)
	if st.Count > 1 {
		line += fmt.Sprintf(": %d of %d inputs done", st.Done, st.Count)
	}
	if st.State == client.StateFailed && st.Error != nil {
		line += " (" + message(st.Error.Err()) + ")"
	}
	return line
}
