package node

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
)

// liveSettings are the settings of config.yaml that Reload puts in force
// in a running endpoint: who may use it, which functions it serves, the
// bounds admission applies, and what its record advertises besides its
// hardware and software. Every other setting is fixed by what the node
// made at start (its host, executors, task store, batch provider, tenant
// table) and needs a restart.
var liveSettings = []string{
	"name", "owner", "public", "allowed", "labels", "datasets", "functions",
	"require_mapping", "max_queue", "max_input_bytes", "max_timeout", "clock_skew",
}

// advertised are the live settings the endpoint record carries.
var advertised = []string{"name", "owner", "public", "allowed", "labels", "datasets", "functions"}

// Reload puts the live settings of cfg (liveSettings) in force on a
// running endpoint without stopping anything: tasks admitted already run
// on as they were admitted, and later invocations meet the new policy
// and limits. It reads the owner's claim (DIR/owner.claim) again, and
// republishes the endpoint record when it or an advertised setting
// changed.
// It returns the settings cfg changes that it cannot put in force, by
// their config.yaml names: they need a restart. A cfg that does not
// validate changes nothing and is an invalid error.
func (n *Node) Reload(cfg *Config) (needRestart []string, err error) {
	if n.role != RoleEndpoint || n.ep == nil {
		return nil, fault.E(fault.Invalid, "", "only an endpoint reloads its config")
	}
	if err := cfg.validate(); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", err)
	}
	old := n.config()
	next := *old
	ov, cv, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(cfg).Elem(), reflect.ValueOf(&next).Elem()
	var changed []string
	for _, f := range configFields(ov.Type()) {
		a, b := ov.FieldByIndex(f.index), cv.FieldByIndex(f.index)
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			continue
		}
		if !slices.Contains(liveSettings, f.name) {
			needRestart = append(needRestart, f.name)
			continue
		}
		nv.FieldByIndex(f.index).Set(b)
		changed = append(changed, f.name)
	}
	// Settings valid together in cfg may not be with those kept (a
	// require_mapping with the users of the start, say).
	if err := next.validate(); err != nil {
		return nil, fault.Wrap(fault.Invalid, "", fmt.Errorf("%w (with the settings kept until a restart: %s)", err, strings.Join(needRestart, ", ")))
	}
	// The owner's claim is read again: fxnode claim may have installed
	// one since the start.
	claim, err := ReadClaim(n.dir)
	if err != nil {
		n.log.Warn("owner claim unreadable; publishing the owner unverified", "err", err, "hint", claimHint(n.ID().String(), n.dir))
	}
	n.mu.Lock()
	if (err == nil && claim != nil || next.Owner != old.Owner) && !bytes.Equal(claim, n.claim) {
		n.claim = claim
		changed = append(changed, "owner")
	}
	n.mu.Unlock()
	if len(changed) == 0 {
		return needRestart, nil
	}
	p := *n.ep.policy.Load()
	np := admissionPolicy(n.ID(), &next, p.HostOwnerOnly)
	n.cfg.Store(&next)
	n.ep.policy.Store(np)
	if slices.ContainsFunc(changed, func(s string) bool { return slices.Contains(advertised, s) }) {
		if err := n.signRecord(); err != nil {
			return needRestart, err
		}
		n.publishSoon()
	}
	return needRestart, nil
}

// configField is one setting of Config: its config.yaml name and where
// it is in the struct (settings inlined from BatchConfig included).
type configField struct {
	name  string
	index []int
}

func configFields(t reflect.Type) []configField {
	var out []configField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for _, sub := range configFields(f.Type) {
				out = append(out, configField{name: sub.name, index: append([]int{i}, sub.index...)})
			}
			continue
		}
		if name == "" || name == "-" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, configField{name: name, index: []int{i}})
	}
	return out
}
