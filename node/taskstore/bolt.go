package taskstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/invoke"
)

// Bolt layout:
//
//	tasks    ID → task record, or a tombstone once purged before expiry
//	results  seq(8) index(4) → result record, seq from the task record
//	         (assigned in order as tasks are first flushed, so that results
//	         are appended, where ID-keyed ones would land on random pages)
//	active   ID → ""           tasks not yet finished, for crash recovery
//	expiry   deadline(8, big-endian Unix ns) ID → ""
//	         when to purge a finished task, or to drop a tombstone
//	meta     "schema" → "1"; "seq" → the last seq assigned (8)
//
// Numbers are big-endian.
var (
	bucketTasks   = []byte("tasks")
	bucketResults = []byte("results")
	bucketActive  = []byte("active")
	bucketExpiry  = []byte("expiry")
	bucketMeta    = []byte("meta")
	keySchema     = []byte("schema")
	keySeq        = []byte("seq")
	schemaVersion = []byte("1")
)

// restartMessage is the Error.Message of tasks failed by crash recovery.
const restartMessage = "endpoint restarted"

func resultKey(seq uint64, index int) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint64(k, seq)
	binary.BigEndian.PutUint32(k[8:], uint32(index))
	return k
}

func expiryKey(at time.Time, id string) []byte {
	ns := max(at.UnixNano(), 0)
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(ns))
	return append(k, id...)
}

// initBuckets creates the buckets and checks the schema.
func initBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketTasks, bucketResults, bucketActive, bucketExpiry, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch v := meta.Get(keySchema); {
	case v == nil:
		return meta.Put(keySchema, schemaVersion)
	case !bytes.Equal(v, schemaVersion):
		return fmt.Errorf("schema %q, this build reads %q", v, schemaVersion)
	}
	return nil
}

// recoverTx folds journaled admissions into bbolt (those it lacks) and marks
// every unfinished task failed: the process that ran it is gone. It returns
// how many of each it did.
func recoverTx(tx *bolt.Tx, journaled []Task, now time.Time, retention time.Duration) (folded, failed int, err error) {
	tasks, active, expiry := tx.Bucket(bucketTasks), tx.Bucket(bucketActive), tx.Bucket(bucketExpiry)
	for i := range journaled {
		t := &journaled[i]
		if tasks.Get([]byte(t.ID)) != nil {
			continue
		}
		if err := tasks.Put([]byte(t.ID), encodeTask(t, 0)); err != nil { // no results on disk
			return folded, failed, err
		}
		if err := active.Put([]byte(t.ID), nil); err != nil {
			return folded, failed, err
		}
		folded++
	}
	var ids []string
	if err := active.ForEach(func(k, _ []byte) error {
		ids = append(ids, string(k))
		return nil
	}); err != nil {
		return folded, failed, err
	}
	for _, id := range ids {
		if err := active.Delete([]byte(id)); err != nil {
			return folded, failed, err
		}
		v := tasks.Get([]byte(id))
		if v == nil {
			continue
		}
		t, seq, tomb, err := decodeTask(id, v)
		if err != nil {
			return folded, failed, fmt.Errorf("task %s: %w", id, err)
		}
		if tomb || t.State.Finished() {
			continue
		}
		t.State = invoke.StateFailed
		t.Finished = now
		t.Error = &invoke.Error{Kind: string(fault.System), Message: restartMessage}
		if err := tasks.Put([]byte(id), encodeTask(&t, seq)); err != nil {
			return folded, failed, err
		}
		if err := expiry.Put(expiryKey(now.Add(retention), id), nil); err != nil {
			return folded, failed, err
		}
		failed++
	}
	return folded, failed, nil
}

// flushItem is one entry's share of a flush: its task as it was when the
// flush began, and the results it had pending.
type flushItem struct {
	e         *entry
	seq       uint64 // the entry's
	task      Task
	writeTask bool // task changed since the last flush
	wasStored bool // an earlier flush wrote the task, and its active key
	results   []invoke.Result
}

// writeItems writes a flush in tx, and seq, the last one assigned. The
// results are shared with readers: it must not change them, not even their
// order.
func writeItems(tx *bolt.Tx, items []flushItem, seq uint64, retention time.Duration) error {
	tasks, active, expiry := tx.Bucket(bucketTasks), tx.Bucket(bucketActive), tx.Bucket(bucketExpiry)
	results := tx.Bucket(bucketResults)
	// Their keys grow, mostly: fuller pages when they split.
	results.FillPercent, expiry.FillPercent = 0.9, 0.9
	if err := tx.Bucket(bucketMeta).Put(keySeq, binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return err
	}
	slices.SortFunc(items, func(a, b flushItem) int { return strings.Compare(a.e.id, b.e.id) })
	for i := range items {
		it := &items[i]
		id := []byte(it.e.id)
		if it.writeTask {
			if err := tasks.Put(id, encodeTask(&it.task, it.seq)); err != nil {
				return err
			}
			switch {
			case it.task.State.Finished():
				if it.wasStored {
					if err := active.Delete(id); err != nil {
						return err
					}
				}
				if err := expiry.Put(expiryKey(it.task.Finished.Add(retention), it.e.id), nil); err != nil {
					return err
				}
			case !it.wasStored:
				if err := active.Put(id, nil); err != nil {
					return err
				}
			}
		}
		for j := range it.results {
			r := &it.results[j]
			if err := results.Put(resultKey(it.seq, r.Index), encodeResult(r)); err != nil {
				return err
			}
		}
	}
	return nil
}

// getTask reads id's record, and the seq of its results; ok is false if
// there is none, tomb true if it is a tombstone.
func getTask(tx *bolt.Tx, id string) (t Task, seq uint64, ok, tomb bool, err error) {
	v := tx.Bucket(bucketTasks).Get([]byte(id))
	if v == nil {
		return Task{}, 0, false, false, nil
	}
	t, seq, tomb, err = decodeTask(id, v)
	return t, seq, err == nil, tomb, err
}

// lastSeq reads the last seq assigned.
func lastSeq(tx *bolt.Tx) (uint64, error) {
	v := tx.Bucket(bucketMeta).Get(keySeq)
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("seq: %w", errCorrupt)
}

// storedResults appends to rs the results under seq from index from on,
// at most limit of them (limit <= 0: all), skipping those in skip. Seq 0
// has none.
func storedResults(tx *bolt.Tx, seq uint64, from, limit int, skip func(int) bool, rs []invoke.Result) ([]invoke.Result, error) {
	if seq == 0 {
		return rs, nil
	}
	c := tx.Bucket(bucketResults).Cursor()
	n := 0
	for k, v := c.Seek(resultKey(seq, from)); len(k) == 12 && binary.BigEndian.Uint64(k) == seq; k, v = c.Next() {
		idx := int(binary.BigEndian.Uint32(k[8:]))
		if skip != nil && skip(idx) {
			continue
		}
		r, err := decodeResult(idx, v)
		if err != nil {
			return rs, fmt.Errorf("result %d: %w", idx, err)
		}
		rs = append(rs, r)
		if n++; limit > 0 && n >= limit {
			break
		}
	}
	return rs, nil
}

// gcBatch bounds the expiry keys one garbage-collection transaction handles.
const gcBatch = 4096

// collectTx purges the tasks and tombstones whose time has come, going
// through the expiry index from after on (nil: the start), at most gcBatch
// keys. skip says which IDs are live in memory: their keys stay for the
// next pass. It returns how many it purged, and the key to continue after
// (nil when done).
func collectTx(tx *bolt.Tx, now time.Time, skip func(id string) bool, after []byte) (n int, next []byte, err error) {
	tasks, results, expiry := tx.Bucket(bucketTasks), tx.Bucket(bucketResults), tx.Bucket(bucketExpiry)
	var due [][]byte
	c := expiry.Cursor()
	k, _ := c.First()
	if after != nil {
		if k, _ = c.Seek(after); bytes.Equal(k, after) {
			k, _ = c.Next()
		}
	}
	limit := uint64(max(now.UnixNano(), 0))
	for ; k != nil; k, _ = c.Next() {
		if len(k) >= 8 && binary.BigEndian.Uint64(k) > limit {
			break
		}
		if len(due) == gcBatch {
			next = due[len(due)-1]
			break
		}
		due = append(due, bytes.Clone(k))
	}
	for _, k := range due {
		if len(k) < 8 {
			if err := expiry.Delete(k); err != nil { // corrupt key: drop it
				return n, nil, err
			}
			continue
		}
		id := string(k[8:])
		if skip(id) {
			continue
		}
		if err := expiry.Delete(k); err != nil {
			return n, nil, err
		}
		t, seq, ok, tomb, err := getTask(tx, id)
		if err != nil || !ok {
			continue // gone, or corrupt: leave the record for a person to look at
		}
		if !tomb {
			if !t.State.Finished() {
				continue
			}
			if err := deleteResults(results, seq); err != nil {
				return n, nil, err
			}
		}
		if t.Expires.After(now) {
			// The task is purged, but a replay must still be refused.
			err = tasks.Put([]byte(id), encodeTombstone(t.Expires))
			if err == nil {
				err = expiry.Put(expiryKey(t.Expires, id), nil)
			}
		} else {
			err = tasks.Delete([]byte(id))
		}
		if err != nil {
			return n, nil, err
		}
		n++
	}
	return n, next, nil
}

func deleteResults(results *bolt.Bucket, seq uint64) error {
	if seq == 0 {
		return nil
	}
	var keys [][]byte
	c := results.Cursor()
	for k, _ := c.Seek(resultKey(seq, 0)); len(k) == 12 && binary.BigEndian.Uint64(k) == seq; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := results.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
