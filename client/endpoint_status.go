package client

import (
	"context"
	"time"

	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/routing"
)

// EndpointStatus is an endpoint's live status, as fx endpoint show gives
// it: its load as it answers now, the executors its record says it has,
// and what is wrong with it.
type EndpointStatus struct {
	// Load is the endpoint's answer to a status request; nil when it did
	// not answer (Errors says why). RTTMillis is the round trip.
	Load      *routing.Load `json:"load"`
	RTTMillis float64       `json:"rtt_ms,omitempty"`
	Executors Executors     `json:"executors"`
	// Errors says, one line each, what is wrong: offline, not
	// answering, not accepting work, a failing batch scheduler.
	Errors []string `json:"errors"`
}

// Executors is what runs functions on an endpoint, from its record.
type Executors struct {
	// Python lists the interpreters' versions; Shell is whether shell
	// templates run (every endpoint runs them).
	Python []string `json:"python"`
	Shell  bool     `json:"shell"`
	// Containers lists the container runtimes the endpoint found.
	Containers []string `json:"containers"`
	// Batch is the batch scheduler whose blocks run Python and shell
	// functions, with its blocks; nil when they run on the endpoint's host.
	Batch *Batch `json:"batch,omitempty"`
}

// EndpointShowJSON is the stable JSON form of fx endpoint show: the
// endpoint's JSON form and its live status.
type EndpointShowJSON struct {
	EndpointJSON
	Status EndpointStatus `json:"status"`
}

// EndpointStatus asks e's endpoint for its load, within timeout, and
// gives its live status.
func (c *Client) EndpointStatus(ctx context.Context, e EndpointInfo, timeout time.Duration) EndpointStatus {
	id, err := identity.ParseID(e.Record.ID)
	var (
		load routing.Load
		rtt  time.Duration
	)
	if err == nil {
		qctx, cancel := context.WithTimeout(ctx, timeout)
		load, rtt, err = c.Status(qctx, id)
		cancel()
	}
	return EndpointStatusOf(e, load, rtt, err)
}

// EndpointStatusOf is e's live status given its answer to a status
// request: load and round trip rtt, or loadErr when it did not answer.
func EndpointStatusOf(e EndpointInfo, load routing.Load, rtt time.Duration, loadErr error) EndpointStatus {
	r := e.Record
	st := EndpointStatus{
		Executors: Executors{
			Python:     emptyIfNil(r.Software.Python),
			Shell:      true,
			Containers: emptyIfNil(r.Software.Containers),
			Batch:      r.Batch,
		},
		Errors: []string{},
	}
	if !e.Online {
		st.Errors = append(st.Errors, "offline: no heartbeat heard from it lately")
	}
	if loadErr != nil {
		st.Errors = append(st.Errors, "no status: "+loadErr.Error())
	} else {
		st.Load = &load
		st.RTTMillis = float64(rtt.Microseconds()) / 1000
		if !load.Accepting {
			st.Errors = append(st.Errors, "not accepting new work (draining, shutting down, its queue full or its scheduler failing)")
		}
	}
	if b := r.Batch; b != nil && b.Error != "" {
		st.Errors = append(st.Errors, "batch scheduler "+b.Provider+": "+b.Error)
	}
	return st
}
