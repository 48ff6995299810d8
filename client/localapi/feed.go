package localapi

import (
	"encoding/json"
	"regexp"
	"sync"
	"time"
)

// feedIDs are the names a client may give a feed.
var feedIDs = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// maxFeedQueue bounds the events queued for a feed; a producer past it
// waits for the reader (nothing is dropped).
const maxFeedQueue = 1_000_000

// feedIdle is how long a feed without a reader is kept.
const feedIdle = 10 * time.Minute

// feed is a queue of NDJSON events for one client, filled by the tasks
// that name it and drained by one reader at a time.
type feed struct {
	id string

	mu      sync.Mutex // guards q, reader, idle, dropped
	q       [][]byte   // encoded events, each a line
	reader  uint64     // generation of the current reader; 0: none
	idle    time.Time  // when the last reader left (or the feed was made)
	dropped bool       // the server forgot the feed: producers stop waiting
	wake    chan struct{}
	room    *sync.Cond
}

func newFeed(id string, now time.Time) *feed {
	f := &feed{id: id, idle: now, wake: make(chan struct{}, 1)}
	f.room = sync.NewCond(&f.mu)
	return f
}

// push queues one event, waiting while the queue is full.
func (f *feed) push(event any) {
	b, err := json.Marshal(event)
	if err != nil {
		return // every event is made of JSON-safe values
	}
	b = append(b, '\n')
	f.mu.Lock()
	for len(f.q) >= maxFeedQueue && !f.dropped {
		f.room.Wait()
	}
	if !f.dropped {
		f.q = append(f.q, b)
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// take hands the reader of generation gen what is queued; ok is false once
// another reader took the feed over.
func (f *feed) take(gen uint64) (lines [][]byte, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reader != gen {
		return nil, false
	}
	lines, f.q = f.q, nil
	f.room.Broadcast()
	return lines, true
}

// attach makes a new reader the feed's only one and returns its generation.
func (f *feed) attach(gen uint64) {
	f.mu.Lock()
	f.reader = gen
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}: // a reader taken over notices
	default:
	}
}

// detach ends reader gen, if it is still the feed's, and returns lines it
// took but could not write to the queue's front.
func (f *feed) detach(gen uint64, unsent [][]byte, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(unsent) > 0 {
		f.q = append(unsent, f.q...)
	}
	if f.reader == gen {
		f.reader, f.idle = 0, now
	}
}

// unread reports whether the feed has had no reader since before t.
func (f *feed) unread(t time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reader == 0 && f.idle.Before(t)
}

// drop makes producers stop waiting and queue nothing more.
func (f *feed) drop() {
	f.mu.Lock()
	f.dropped, f.q = true, nil
	f.room.Broadcast()
	f.mu.Unlock()
}

// The events of a feed (docs/local-api.md).
type (
	helloEvent struct {
		Type       string `json:"type"`
		Feed       string `json:"feed"`
		APIVersion string `json:"api_version"`
	}
	resultEvent struct {
		Type string `json:"type"`
		resultJSON
	}
	endEvent struct {
		Type   string     `json:"type"`
		TaskID string     `json:"task_id"`
		State  string     `json:"state"`
		Count  int        `json:"count"`
		Error  *errorJSON `json:"error,omitempty"`
	}
	pingEvent struct {
		Type string `json:"type"`
	}
)
