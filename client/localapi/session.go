package localapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// A session (POST /v1/session?feed=FEED) is a feed and a stream of submits
// on one connection, both ways at once: the request body is NDJSON submit
// requests ({"seq": N, "tasks": [...]}, the tasks of POST /v1/submit), the
// response the feed's events with, for each request, a "submitted" event
// answering it once every task in it was acknowledged or refused. A client
// that submits one call at a time saves an HTTP exchange, and the hand-offs
// between its submitting and its reading, on every call.

// maxSessionLine bounds one submit request of a session, as maxBody bounds
// a request.
const maxSessionLine = maxBody

const sessionPath = "/v1/session"

// sessionRequest is one line of a session's body.
type sessionRequest struct {
	Seq   uint64        `json:"seq"`
	Tasks []taskRequest `json:"tasks"`
}

// submittedEvent answers a session's request Seq: its tasks, in order, or
// the error that refused the request as a whole.
type submittedEvent struct {
	Type  string       `json:"type"`
	Seq   uint64       `json:"seq"`
	Tasks []taskAnswer `json:"tasks,omitempty"`
	Error *errorJSON   `json:"error,omitempty"`
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	f, err := s.feedFor(r.URL.Query().Get("feed"))
	if err != nil {
		writeError(w, err)
		return
	}
	fl, ok := w.(http.Flusher)
	rc := http.NewResponseController(w)
	if ok {
		err = rc.EnableFullDuplex()
	}
	if !ok || err != nil {
		writeError(w, fault.E(fault.Internal, "", "the connection cannot stream both ways"))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)

	stop := make(chan struct{}) // the body ended or broke: so does the session
	read := make(chan struct{}) // the reader returned
	go func() {
		defer close(read)
		defer close(stop)
		s.readSession(r, f)
	}()
	s.pump(w, fl, f, mergeDone(stop, r.Context().Done()))
	// Whatever ended the pump, the reader must not outlive the handler.
	_ = rc.SetReadDeadline(time.Now())
	<-read
}

// readSession answers the requests of a session's body, in order, into f,
// until the body ends or breaks. A line that is not a request is answered
// with an error (its seq, when it has one); a line over maxSessionLine
// ends the session.
func (s *Server) readSession(r *http.Request, f *feed) {
	br := bufio.NewReaderSize(r.Body, 64<<10)
	for {
		line, err := readLine(br, maxSessionLine)
		if errors.Is(err, errLineTooLong) {
			f.push(submittedEvent{Type: "submitted", Error: errorOf(fault.E(fault.TooLarge, "", "session request over %d bytes; the session ends", maxSessionLine))})
			return
		}
		if err != nil {
			return
		}
		if len(line) == 0 {
			continue
		}
		req, err := parseSessionLine(line)
		if err != nil {
			f.push(submittedEvent{Type: "submitted", Seq: req.Seq, Error: errorOf(err)})
			continue
		}
		f.push(submittedEvent{Type: "submitted", Seq: req.Seq, Tasks: s.submitTasks(req.Tasks, f)})
	}
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most max bytes, without its newline, into
// a buffer of its own: a session keeps no memory of its largest line. A
// last line without a newline is a line.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max+1 {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			return append(line, frag[:len(frag)-1]...), nil
		case errors.Is(err, bufio.ErrBufferFull):
			line = append(line, frag...)
		case errors.Is(err, io.EOF) && len(line)+len(frag) > 0:
			return append(line, frag...), nil
		default:
			return nil, err
		}
	}
}

// parseSessionLine reads one line of a session's body: a request with
// at least one task. Its Seq is set when the line had one, even with an
// error.
func parseSessionLine(line []byte) (sessionRequest, error) {
	var req sessionRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return req, fault.E(fault.Invalid, "", "session request: %v", err)
	}
	if len(req.Tasks) == 0 {
		return req, fault.E(fault.Invalid, "", "session request %d has no tasks", req.Seq)
	}
	return req, nil
}

// mergeDone is closed when a or b is.
func mergeDone(a, b <-chan struct{}) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		defer close(c)
		select {
		case <-a:
		case <-b:
		}
	}()
	return c
}
