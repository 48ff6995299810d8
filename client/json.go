package client

import (
	"strings"
	"time"
)

// EndpointJSON is the stable JSON form of an endpoint: fx endpoints --json
// prints it, and the local API sends it.
type EndpointJSON struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Owner     string            `json:"owner"`
	Addrs     []string          `json:"addrs"`
	Online    bool              `json:"online"`
	Hardware  Hardware          `json:"hardware"`
	Software  Software          `json:"software"`
	Labels    map[string]string `json:"labels"`
	Datasets  []string          `json:"datasets"`
	Public    bool              `json:"public"`
	Seq       uint64            `json:"seq"`
	UpdatedAt time.Time         `json:"updated_at"`
	ExpiresAt time.Time         `json:"expires_at"`

	// OwnerVerified says whether the owner signed a claim on the endpoint;
	// OwnerUnverified says why not.
	OwnerVerified   bool   `json:"owner_verified"`
	OwnerUnverified string `json:"owner_unverified,omitempty"`

	// Batch is the endpoint's batch scheduler: provider, partition,
	// blocks pending and running, their workers, and its error state.
	Batch *Batch `json:"batch,omitempty"`

	// Functions is the endpoint's function allowlist, when it restricts
	// the functions it serves; FunctionsUnlisted says it restricts them by
	// a list too long for its record.
	Functions         []string `json:"functions,omitempty"`
	FunctionsUnlisted bool     `json:"functions_unlisted,omitempty"`
}

// EndpointJSONOf is e's JSON form.
func EndpointJSONOf(e EndpointInfo) EndpointJSON {
	r := e.Record
	j := EndpointJSON{
		ID: r.ID, Name: r.Name, Owner: r.Owner, OwnerVerified: r.OwnerVerified, OwnerUnverified: r.OwnerUnverified,
		Addrs: r.Addrs, Online: e.Online,
		Hardware: r.Hardware, Software: r.Software, Labels: r.Labels, Datasets: r.Datasets,
		Public: r.Public, Seq: r.Seq, UpdatedAt: r.UpdatedAt(), ExpiresAt: r.ExpiresAt(),
		Batch: r.Batch, Functions: r.Functions, FunctionsUnlisted: r.FunctionsUnlisted,
	}
	// Empty lists print as [] and {}, never null.
	j.Addrs = emptyIfNil(j.Addrs)
	j.Datasets = emptyIfNil(j.Datasets)
	j.Software.Python = emptyIfNil(j.Software.Python)
	j.Software.Containers = emptyIfNil(j.Software.Containers)
	if j.Hardware.GPUs == nil {
		j.Hardware.GPUs = []GPU{}
	}
	if j.Labels == nil {
		j.Labels = map[string]string{}
	}
	return j
}

func emptyIfNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AccessString is how fx and the local API show who may run a function:
// private, public or shared:ID,ID.
func AccessString(a Access) string {
	switch {
	case a.Public:
		return "public"
	case len(a.Users) > 0:
		return "shared:" + strings.Join(a.Users, ",")
	}
	return "private"
}
