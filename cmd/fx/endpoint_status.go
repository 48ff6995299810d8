package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fxmesh/fxmesh/client"
)

// printStatus prints an endpoint's live status for people: its load,
// executors and errors, one line each.
func printStatus(w io.Writer, st client.EndpointStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if l := st.Load; l != nil {
		acc := "accepting work"
		if !l.Accepting {
			acc = "not accepting work"
		}
		fmt.Fprintf(tw, "load:\t%d workers: %d idle, %d running, %d queued; %s (round trip %.1f ms)\n",
			l.Workers, l.Idle, l.Running, l.Queued, acc, st.RTTMillis)
	} else {
		fmt.Fprintf(tw, "load:\tunknown (no answer)\n")
	}
	x := st.Executors
	var parts []string
	if len(x.Python) > 0 {
		parts = append(parts, "python "+strings.Join(x.Python, ", "))
	} else {
		parts = append(parts, "python")
	}
	if x.Shell {
		parts = append(parts, "shell")
	}
	if len(x.Containers) > 0 {
		parts = append(parts, "containers on "+strings.Join(x.Containers, ", "))
	}
	if b := x.Batch; b != nil {
		where := b.Provider
		if b.Partition != "" {
			where += " partition " + b.Partition
		}
		parts = append(parts, fmt.Sprintf("python and shell in %s blocks: %d pending, %d running, %d workers", where, b.Pending, b.Running, b.Workers))
	}
	fmt.Fprintf(tw, "executors:\t%s\n", strings.Join(parts, "; "))
	if len(st.Errors) == 0 {
		fmt.Fprintf(tw, "errors:\tnone\n")
	}
	for _, e := range st.Errors {
		fmt.Fprintf(tw, "error:\t%s\n", e)
	}
	_ = tw.Flush()
}
