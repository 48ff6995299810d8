package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/internal/atomicfile"
	"github.com/fxmesh/fxmesh/p2p"
	"github.com/fxmesh/fxmesh/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// KnownFile, in a bootstrap's directory, holds the signed endpoint records
// the bootstrap's DHT stored, one a line (base64), so that a bootstrap
// that restarts lists the endpoints it knew at once, instead of an empty
// mesh until each endpoint publishes again.
const KnownFile = "endpoints.known"

// knownSaveDelay gathers the records stored close together into one
// write of KnownFile.
const knownSaveDelay = 100 * time.Millisecond

// knownRecords is the newest valid record of each endpoint that a
// bootstrap's DHT accepted, written to KnownFile soon after each change.
type knownRecords struct {
	path string
	now  func() time.Time

	mu   sync.Mutex // guards recs and seq
	recs map[string][]byte
	seq  map[string]uint64
	// changed has one element while a change waits to be saved.
	changed chan struct{}
}

func newKnownRecords(dir string, now func() time.Time) *knownRecords {
	return &knownRecords{
		path: filepath.Join(dir, KnownFile), now: now,
		recs: map[string][]byte{}, seq: map[string]uint64{}, changed: make(chan struct{}, 1),
	}
}

// note keeps b, a signed record, if it is valid and newer than the one
// kept for its endpoint.
func (k *knownRecords) note(b []byte) (*routing.EndpointRecord, bool) {
	rec, err := routing.DecodeRecord(b, k.now())
	if err != nil {
		return nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.seq[rec.ID]; ok && old >= rec.Seq {
		return rec, false
	}
	if _, ok := k.recs[rec.ID]; !ok && len(k.recs) >= maxKnownEndpoints {
		return rec, false
	}
	k.recs[rec.ID], k.seq[rec.ID] = bytes.Clone(b), rec.Seq
	select {
	case k.changed <- struct{}{}:
	default:
	}
	return rec, true
}

// save writes every record not expired to KnownFile.
func (k *knownRecords) save() error {
	now := k.now()
	var buf bytes.Buffer
	k.mu.Lock()
	for id, b := range k.recs {
		if _, err := routing.DecodeRecord(b, now); err != nil {
			delete(k.recs, id)
			delete(k.seq, id)
			continue
		}
		buf.WriteString(base64.StdEncoding.EncodeToString(b))
		buf.WriteByte('\n')
	}
	k.mu.Unlock()
	return atomicfile.Write(k.path, buf.Bytes(), 0o600)
}

// decodeKnown reads the records of a KnownFile: those that are valid at
// now, each checked as a record from the network is (its signature, its
// form, its expiry). It returns how many lines it dropped.
func decodeKnown(data []byte, now time.Time) (recs [][]byte, dropped int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, base64.StdEncoding.EncodedLen(routing.MaxRecordBytes)+2)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(string(line))
		if err == nil {
			_, err = routing.DecodeRecord(b, now)
		}
		if err != nil {
			dropped++
			continue
		}
		recs = append(recs, b)
	}
	if sc.Err() != nil {
		dropped++ // a line too long: the rest of the file is not read
	}
	return recs, dropped
}

// knownValidator is routing.Validator that gives each record it finds
// valid to note: it is how a bootstrap learns the records its DHT stores.
type knownValidator struct {
	routing.Validator
	note func([]byte)
}

func (v knownValidator) Validate(key string, value []byte) error {
	if err := v.Validator.Validate(key, value); err != nil {
		return err
	}
	v.note(value)
	return nil
}

// restoreKnown reads KnownFile into the bootstrap's DHT: each endpoint's
// record as if it had been put here, and the endpoint as a provider of
// each capability key of its record, at the addresses the record gives.
// It returns the endpoints restored.
func (n *Node) restoreKnown() []peer.AddrInfo {
	data, err := os.ReadFile(n.known.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		n.log.Warn("cannot read the endpoints known before the restart", "file", n.known.path, "err", err)
		return nil
	}
	recs, dropped := decodeKnown(data, n.now())
	var out []peer.AddrInfo
	for _, b := range recs {
		rec, fresh := n.known.note(b)
		if !fresh {
			continue
		}
		ai, err := recordAddrInfo(rec)
		if err != nil {
			dropped++
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, time.Second)
		// Stored here first; with no peer yet, the rest of the put fails.
		_ = n.dht.PutValue(ctx, routing.Key(ai.ID), b)
		for _, key := range routing.CapabilityKeys(rec) {
			if err := n.dht.ProviderStore().AddProvider(ctx, routing.KeyCID(key).Hash(), ai); err != nil {
				n.log.Warn("restore provider", "endpoint", ai.ID, "err", err)
			}
		}
		cancel()
		out = append(out, ai)
	}
	n.log.Info("endpoints known before the restart restored", "endpoints", len(out), "dropped", dropped)
	return out
}

// recordAddrInfo is the endpoint's ID and the addresses its record gives.
func recordAddrInfo(rec *routing.EndpointRecord) (peer.AddrInfo, error) {
	id, err := peer.Decode(rec.ID)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	ai := peer.AddrInfo{ID: id}
	for _, a := range rec.Addrs {
		if p, err := p2p.ParseAddrInfo(a); err == nil && p.ID == id {
			ai.Addrs = append(ai.Addrs, p.Addrs...)
		}
	}
	if len(ai.Addrs) == 0 {
		return ai, fmt.Errorf("record of %s has no address", rec.ID)
	}
	return ai, nil
}

// keepKnown saves the known records after each change until the node
// closes, and once more then; it dials the endpoints restored at start,
// so that they know at once that their bootstrap is back.
func (n *Node) keepKnown(restored []peer.AddrInfo) {
	defer n.wg.Done()
	for _, ai := range restored {
		n.wg.Add(1)
		go func(ai peer.AddrInfo) {
			defer n.wg.Done()
			ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
			defer cancel()
			if err := n.host.Connect(ctx, ai); err != nil {
				n.log.Debug("dial a restored endpoint", "endpoint", ai.ID, "err", err)
			}
		}(ai)
	}
	for {
		select {
		case <-n.ctx.Done():
			if err := n.known.save(); err != nil {
				n.log.Warn("save the endpoints known", "file", n.known.path, "err", err)
			}
			return
		case <-n.known.changed:
		}
		select {
		case <-n.ctx.Done():
		case <-time.After(knownSaveDelay):
		}
		if err := n.known.save(); err != nil {
			n.log.Warn("save the endpoints known", "file", n.known.path, "err", err)
		}
	}
}
