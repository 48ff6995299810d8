package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TaskRecord is what the client keeps of a task the user submitted, in
// the journal $FX_HOME/tasks/records.ndjson (journal.go): enough for a
// later process to find the task again (fx status, fx result, the local
// API's reattach) and to list the user's tasks with their state when last
// seen. Its JSON form is the local API's (docs/local-api.md), and the
// journal's record lines.
type TaskRecord struct {
	TaskID   string `json:"task_id"`
	Endpoint string `json:"endpoint"`
	// Function is the function's ID; FunctionRef its OWNER/NAME, when known.
	Function    string `json:"function,omitempty"`
	FunctionRef string `json:"function_ref,omitempty"`
	// Count is the number of inputs.
	Count     int       `json:"count,omitempty"`
	Submitted time.Time `json:"submitted"`
	// State, Done and Error are the task's as last seen, at Seen.
	State State        `json:"state"`
	Seen  time.Time    `json:"seen"`
	Done  int          `json:"done"`
	Error *ResultError `json:"error,omitempty"`

	// onAck and onEnd travel with the record into send
	// (InvokeRequest.OnAck and onEnd).
	onAck func(*Submitted)
	onEnd func(*Submitted, error)
}

// taskFile is a task record as earlier versions kept it, one file per
// task, $FX_HOME/tasks/ID.json, still read (Task, Tasks) but no longer
// written: files written before the record had its other fields hold only
// endpoint and created.
type taskFile struct {
	TaskRecord
	Created time.Time `json:"created,omitempty"`
}

// The record is one journal that every fx process of the user appends to
// (journal.go), so that any number of them write it at once without
// losing a record or a note, and a state noted is never replaced by an
// earlier one (NoteTask). A task recorded by an earlier version, in its
// own file, is read from there until a note moves its record into the
// journal.

func (h Home) taskDir() string { return filepath.Join(h.Dir, "tasks") }

func (h Home) taskPath(id string) (string, error) {
	if _, err := cid.Decode(id); err != nil {
		return "", fault.E(fault.Invalid, "", "%q is not a task ID", id)
	}
	return filepath.Join(h.taskDir(), id+".json"), nil
}

// RecordTask writes the record of a task just submitted; a home without a
// directory records nothing. An empty State is received.
func (h Home) RecordTask(r TaskRecord) error {
	if h.Dir == "" {
		return nil
	}
	if r.State == stateNone {
		r.State = invoke.StateReceived
	}
	if r.Seen.IsZero() {
		r.Seen = r.Submitted
	}
	if _, err := h.taskPath(r.TaskID); err != nil {
		return err
	}
	b, err := appendRecord(nil, r)
	if err != nil {
		return err
	}
	return h.appendJournal(b)
}

// Task reads the record of a task this user submitted; a task without one
// is an error of kind fault.NotFound.
func (h Home) Task(id string) (TaskRecord, error) {
	r, _, err := h.task(id)
	return r, err
}

// task reads the record of task id, from the journal or else from the
// file of an earlier version, and reports whether the journal has it.
func (h Home) task(id string) (TaskRecord, bool, error) {
	if _, err := h.taskPath(id); err != nil {
		return TaskRecord{}, false, err
	}
	x, err := h.journal()
	if err != nil {
		return TaskRecord{}, false, err
	}
	r, ok := x.tasks[id]
	var rec TaskRecord
	if ok {
		rec = *r
	}
	x.mu.Unlock()
	if ok {
		return rec, true, nil
	}
	rec, err = h.legacyTask(id)
	return rec, false, err
}

// legacyTask reads the record of task id from the file of an earlier
// version; a task without one is an error of kind fault.NotFound.
func (h Home) legacyTask(id string) (TaskRecord, error) {
	path, err := h.taskPath(id)
	if err != nil {
		return TaskRecord{}, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return TaskRecord{}, fault.E(fault.NotFound, "", "no task %s was submitted from %s; pass --endpoint", id, h.Dir)
	}
	if err != nil {
		return TaskRecord{}, fmt.Errorf("client: task record %s: %w", id, err)
	}
	return decodeTaskFile(id, b)
}

func decodeTaskFile(id string, b []byte) (TaskRecord, error) {
	var f taskFile
	if err := json.Unmarshal(b, &f); err != nil {
		return TaskRecord{}, fault.E(fault.Invalid, "", "client: task record %s: %v", id, err)
	}
	r := f.TaskRecord
	r.TaskID = id
	if r.Submitted.IsZero() {
		r.Submitted = f.Created
	}
	if r.State == stateNone {
		r.State = invoke.StateReceived
	}
	return r, nil
}

// TaskEndpoint returns the endpoint that holds a task this user submitted.
func (h Home) TaskEndpoint(id string) (peer.ID, error) {
	r, err := h.Task(id)
	if err != nil {
		return "", err
	}
	return identity.ParseID(r.Endpoint)
}

// NoteTask updates the record of task id with its status as seen at now.
// A state only moves forward: a final state is never replaced, and an
// earlier state than the one recorded is ignored. A task without a record
// (submitted elsewhere) is left without one.
func (h Home) NoteTask(id string, st *Status, now time.Time) error {
	if h.Dir == "" || st == nil || st.State == invoke.StateUnknown {
		return nil
	}
	r, inJournal, err := h.task(id)
	if fault.KindOf(err) == fault.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if !noteTask(&r, st, now) {
		return nil
	}
	var b []byte
	if inJournal {
		b, err = appendNote(nil, id, st, now)
	} else {
		b, err = appendRecord(nil, r) // an earlier version's record moves in
	}
	if err != nil {
		return err
	}
	return h.appendJournal(b)
}

// noteTask updates r with st as seen at now, as NoteTask does, and reports
// whether it changed r.
func noteTask(r *TaskRecord, st *Status, now time.Time) bool {
	if st == nil || st.State == invoke.StateUnknown || r.State.Finished() || stateRank(st.State) < stateRank(r.State) {
		return false
	}
	r.State, r.Seen, r.Done, r.Error = st.State, now, st.Done, st.Error
	if st.Count > 0 {
		r.Count = st.Count
	}
	return true
}

// stateNone is no state: a record from before states were kept, or no
// filter of Tasks.
const stateNone State = ""

// stateRank orders the states as a task moves through them.
func stateRank(s State) int {
	switch s {
	case invoke.StateReceived:
		return 1
	case invoke.StateQueued:
		return 2
	case invoke.StateRunning:
		return 3
	}
	if s.Finished() {
		return 4
	}
	return 0
}

// Tasks lists the records of the user's tasks, newest first: those in
// state when state is not empty, at most limit of them when limit > 0. A
// record that cannot be read is skipped; a task both in the journal and
// in an earlier version's file is the journal's.
func (h Home) Tasks(state State, limit int) ([]TaskRecord, error) {
	out := []TaskRecord{}
	x, err := h.journal()
	if err != nil {
		return nil, err
	}
	inJournal := make(map[string]bool, len(x.tasks))
	for id, r := range x.tasks {
		inJournal[id] = true
		if state == stateNone || r.State == state {
			out = append(out, *r)
		}
	}
	x.mu.Unlock()
	entries, err := os.ReadDir(h.taskDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("client: task records: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		id := strings.TrimSuffix(name, ".json")
		if inJournal[id] {
			continue
		}
		if _, err := cid.Decode(id); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(h.taskDir(), name))
		if err != nil {
			continue // removed meanwhile
		}
		r, err := decodeTaskFile(id, b)
		if err != nil || (state != stateNone && r.State != state) {
			continue
		}
		out = append(out, r)
	}
	sortTasks(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// sortTasks sorts records newest first, then by task ID.
func sortTasks(out []TaskRecord) {
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Submitted.Equal(out[j].Submitted) {
			return out[i].Submitted.After(out[j].Submitted)
		}
		return out[i].TaskID < out[j].TaskID
	})
}
