package client

import (
	"io"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/routing"
)

// The value types of the catalog, of invocations and of endpoint records,
// as the client's API hands them out: one type each (these are aliases,
// not copies), named here so that a program on the client side — fx, the
// local API — needs no other package of fxmesh.
type (
	// FunctionSpec is what Register signs: a function's name, kind, code
	// or command, container, requirements and description.
	FunctionSpec = catalog.Function
	// Access says who may run a function.
	Access = catalog.Access
	// Entry is one function as a catalog lists it.
	Entry = catalog.Entry
	// Kind is a function's kind: KindPython or KindShell.
	Kind = catalog.Kind

	// Input is one set of arguments: a JSON array and a JSON object.
	Input = invoke.Input
	// Result is one input's outcome.
	Result = invoke.Result
	// ResultError is a failure as an endpoint reports it.
	ResultError = invoke.Error
	// Status is a task's state as its endpoint reports it.
	Status = invoke.Status
	// State is where a task stands: StateQueued … StateDone, StateFailed,
	// StateCancelled.
	State = invoke.State

	// EndpointRecord is what an endpoint says of itself, signed.
	EndpointRecord = routing.EndpointRecord
	// Hardware, Software and GPU are parts of an endpoint record.
	Hardware = routing.Hardware
	Software = routing.Software
	GPU      = routing.GPU
	// Batch is an endpoint's blocks on its batch scheduler, and its
	// error state.
	Batch = routing.Batch
	// Scored is one endpoint as routing judged it for some work.
	Scored = routing.Scored
)

// The kinds of function.
const (
	KindPython = catalog.KindPython
	KindShell  = catalog.KindShell
)

// The states of a task.
const (
	StateReceived = invoke.StateReceived
	StateQueued   = invoke.StateQueued
	StateRunning  = invoke.StateRunning
	StateDone     = invoke.StateDone
	StateFailed   = invoke.StateFailed
	// StateCancelled: its caller cancelled it (Client.Cancel).
	StateCancelled = invoke.StateCancelled
	StateUnknown   = invoke.StateUnknown
)

// CheckRequirements reports the first of reqs (KEY=VALUE, KEY>=N…) that is
// not a requirement, as routing and the catalog would refuse it.
func CheckRequirements(reqs []string) error {
	if _, err := routing.ParseRequirements(reqs); err != nil {
		return fault.Wrap(fault.Invalid, "", err)
	}
	return nil
}

// Explain writes the ranking of some work's candidates, as --explain
// prints it.
func Explain(w io.Writer, ranked []Scored) error { return routing.Explain(w, ranked) }
