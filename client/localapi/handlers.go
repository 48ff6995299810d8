package localapi

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
)

// opTimeout bounds a request that asks the mesh (not waits for a task).
const opTimeout = 60 * time.Second

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"fx_version": "dev", "user": s.opts.Key.ID().String(), "pid": os.Getpid(),
		"socket": s.opts.Socket, "bootstrap": emptyIfNil(s.opts.Bootstrap),
	})
}

func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) endpoints(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	l, err := s.opts.Client.ListEndpoints(ctx, r.URL.Query()["require"])
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]client.EndpointJSON, 0, len(l.Endpoints))
	for _, e := range l.Endpoints {
		out = append(out, client.EndpointJSONOf(e))
	}
	body := map[string]any{"endpoints": out}
	if len(l.Incomplete) > 0 {
		body["incomplete"] = l.Incomplete
	}
	writeJSON(w, http.StatusOK, body)
}

func parsePeer(s string) (peer.ID, error) {
	id, err := identity.ParseID(s)
	if err != nil {
		return "", fault.Wrap(fault.Invalid, "", err)
	}
	return id, nil
}

func (s *Server) endpoint(w http.ResponseWriter, r *http.Request) {
	id, err := parsePeer(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	e, err := s.opts.Client.Endpoint(ctx, id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoint": client.EndpointJSONOf(*e)})
}

// catalog is the user's catalog on the server's mesh client.
func (s *Server) catalog() *client.UserCatalog {
	return &client.UserCatalog{Key: s.opts.Key, Path: s.opts.Home.CatalogPath(), Mesh: s.opts.Client, Now: s.now}
}

func (s *Server) functions(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	owner := r.URL.Query().Get("owner")
	if r.URL.Query().Get("mine") == "true" {
		owner = s.opts.Key.ID().String()
	}
	es, err := s.catalog().List(ctx, owner)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"functions": emptyIfNil(es)})
}

// functionJSON is a resolved function as fx function show --json prints it.
func functionJSON(f *client.ResolvedFunction) map[string]any {
	versions := []map[string]any{}
	for _, v := range f.Update.Update.Versions {
		versions = append(versions, map[string]any{"version": v.Version, "id": v.ID.String()})
	}
	fn := f.Function
	return map[string]any{
		"id": f.ID.String(), "owner": fn.Owner, "name": fn.Name, "version": fn.Version,
		"kind": fn.Kind, "description": fn.Description, "source": fn.Source, "entry": fn.Entry,
		"command": fn.Command, "container": fn.Container, "requirements": emptyIfNil(fn.Requirements),
		"access": client.AccessString(f.Update.Update.Access), "versions": versions,
		"created": time.Unix(fn.Created, 0).UTC(),
	}
}

func (s *Server) resolve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ref string `json:"ref"`
	}
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	f, err := s.catalog().Resolve(ctx, req.Ref)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"function": functionJSON(f)})
}

type registerRequest struct {
	Name        string        `json:"name"`
	Kind        string        `json:"kind"`
	Source      string        `json:"source"`
	Entry       string        `json:"entry"`
	Command     string        `json:"command"`
	Description string        `json:"description"`
	Container   string        `json:"container"`
	Require     []string      `json:"require"`
	Access      client.Access `json:"access"`
	Reuse       bool          `json:"reuse"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	spec := client.FunctionSpec{Name: req.Name, Description: req.Description, Container: req.Container, Requirements: req.Require}
	switch client.Kind(req.Kind) {
	case client.KindPython:
		if req.Source == "" || req.Entry == "" {
			writeError(w, fault.E(fault.Invalid, "", "a python function needs source and entry"))
			return
		}
		spec.Kind, spec.Source, spec.Entry = client.KindPython, req.Source, req.Entry
	case client.KindShell:
		if req.Command == "" {
			writeError(w, fault.E(fault.Invalid, "", "a shell function needs command"))
			return
		}
		spec.Kind, spec.Command = client.KindShell, req.Command
	default:
		writeError(w, fault.E(fault.Invalid, "", "kind %q: want python or shell", req.Kind))
		return
	}
	if err := client.CheckRequirements(req.Require); err != nil {
		writeError(w, err)
		return
	}
	if req.Access.Public && len(req.Access.Users) > 0 {
		writeError(w, fault.E(fault.Invalid, "", "access is public or shared with users, not both"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	u := s.catalog()
	if req.Reuse {
		if cur, err := u.Resolve(ctx, req.Name); err == nil && sameFunction(cur, spec, req.Access) {
			writeJSON(w, http.StatusOK, map[string]any{"function": map[string]any{
				"id": cur.ID.String(), "owner": cur.Function.Owner, "name": cur.Function.Name, "version": cur.Function.Version,
				"access": client.AccessString(cur.Update.Update.Access), "shared": !cur.Update.Update.Access.Private(), "reused": true,
			}})
			return
		}
	}
	reg, err := u.Register(ctx, spec, req.Access)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"function": map[string]any{
		"id": reg.ID.String(), "owner": reg.Owner, "name": reg.Name, "version": reg.Version,
		"access": client.AccessString(reg.Access), "shared": reg.Shared, "reused": false,
	}})
}

// sameFunction reports whether cur, the user's current version, is what
// spec and access would register.
func sameFunction(cur *client.ResolvedFunction, spec client.FunctionSpec, access client.Access) bool {
	f := cur.Function
	a := cur.Update.Update.Access
	return f.Owner == cur.Update.Update.Owner && f.Kind == spec.Kind && f.Source == spec.Source && f.Entry == spec.Entry &&
		f.Command == spec.Command && f.Container == spec.Container && f.Description == spec.Description &&
		slices.Equal(f.Requirements, spec.Requirements) && a.Public == access.Public && slices.Equal(a.Users, access.Users)
}

// taskRequest is one task of a submit or a run.
type taskRequest struct {
	Function    string         `json:"function"`
	Inputs      []inputRequest `json:"inputs"`
	Endpoint    string         `json:"endpoint"`
	Require     []string       `json:"require"`
	Timeout     float64        `json:"timeout"`
	Retries     int            `json:"retries"`
	AnyEndpoint bool           `json:"any_endpoint"`
}

type inputRequest struct {
	Args   json.RawMessage `json:"args"`
	Kwargs json.RawMessage `json:"kwargs"`
}

func raw(b json.RawMessage) []byte {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return b
}

// fnCacheTTL is how long a function reference by name is trusted to name
// the same version; a reference by ID names it forever.
const fnCacheTTL = 5 * time.Second

// function resolves ref, from the cache when it can.
func (s *Server) function(ctx context.Context, ref string) (*client.ResolvedFunction, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.fns[ref]
	s.mu.Unlock()
	if ok && (c.fn.ID.String() == ref || now.Sub(c.at) < fnCacheTTL) {
		return c.fn, nil
	}
	fn, err := s.catalog().Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.fns) >= 4096 {
		s.fns = map[string]cachedFn{}
	}
	s.fns[ref] = cachedFn{fn, now}
	s.mu.Unlock()
	return fn, nil
}

// start makes a task's StartRequest.
func (s *Server) start(ctx context.Context, t taskRequest) (client.StartRequest, error) {
	sr, err := checkTask(t)
	if err != nil {
		return sr, err
	}
	fn, err := s.function(ctx, t.Function)
	if err != nil {
		return sr, err
	}
	sr.RouteRequest = client.RouteRequest{Function: fn, Require: t.Require, AnyOwner: t.AnyEndpoint}
	return sr, nil
}

// maxTaskTimeout bounds a task's timeout as a request may give it.
const maxTaskTimeout = 100 * 365 * 24 * time.Hour

// checkTask checks what a task request says by itself and makes the
// StartRequest of it, but for the function and its routing.
func checkTask(t taskRequest) (client.StartRequest, error) {
	var sr client.StartRequest
	if t.Function == "" {
		return sr, fault.E(fault.Invalid, "", "no function")
	}
	if len(t.Inputs) == 0 {
		return sr, fault.E(fault.Invalid, "", "no inputs")
	}
	if !(t.Timeout >= 0) || t.Retries < 0 {
		return sr, fault.E(fault.Invalid, "", "negative timeout or retries")
	}
	if t.Timeout > maxTaskTimeout.Seconds() {
		return sr, fault.E(fault.Invalid, "", "timeout %g s: at most %.0f s", t.Timeout, maxTaskTimeout.Seconds())
	}
	if t.Endpoint != "" {
		ep, err := parsePeer(t.Endpoint)
		if err != nil {
			return sr, err
		}
		sr.Endpoint = ep
	}
	sr.Timeout = time.Duration(t.Timeout * float64(time.Second))
	sr.Retries = t.Retries
	for _, in := range t.Inputs {
		sr.Inputs = append(sr.Inputs, client.Input{Args: raw(in.Args), Kwargs: raw(in.Kwargs)})
	}
	return sr, nil
}

// resultJSON is one input's result as the API shows it.
type resultJSON struct {
	TaskID   string          `json:"task_id,omitempty"`
	Index    int             `json:"index"`
	Value    json.RawMessage `json:"value"`
	Stdout   string          `json:"stdout,omitempty"`
	Stderr   string          `json:"stderr,omitempty"`
	ExitCode int             `json:"exit_code,omitempty"`
	Error    *errorJSON      `json:"error,omitempty"`
}

func resultOf(taskID string, r client.Result) resultJSON {
	v := json.RawMessage(r.Value)
	if len(v) == 0 || !json.Valid(v) {
		v = json.RawMessage("null")
	}
	return resultJSON{TaskID: taskID, Index: r.Index, Value: v, Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Error: wireError(r.Error)}
}

// feedFor returns the feed id, making it if needed.
func (s *Server) feedFor(id string) (*feed, error) {
	if !feedIDs.MatchString(id) {
		return nil, fault.E(fault.Invalid, "", "feed %q: 1 to 64 of A-Z a-z 0-9 _ . -", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.feeds[id]
	if f == nil {
		f = newFeed(id, s.now())
		s.feeds[id] = f
	}
	return f, nil
}

// taskAnswer is one task's line of a submit or follow answer.
type taskAnswer struct {
	TaskID   string     `json:"task_id,omitempty"`
	Endpoint string     `json:"endpoint,omitempty"`
	Count    int        `json:"count,omitempty"`
	Error    *errorJSON `json:"error,omitempty"`
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Feed  string        `json:"feed"`
		Tasks []taskRequest `json:"tasks"`
	}
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	var f *feed
	if req.Feed != "" {
		var err error
		if f, err = s.feedFor(req.Feed); err != nil {
			writeError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": s.submitTasks(req.Tasks, f)})
}

// submitTasks sends tasks, all at once, and answers each once it was
// acknowledged or refused; with a feed, their results go there.
func (s *Server) submitTasks(tasks []taskRequest, f *feed) []taskAnswer {
	answers := make([]taskAnswer, len(tasks))
	if len(tasks) == 1 {
		// The common case, a single task: no goroutine between the
		// request and the endpoint.
		answers[0] = s.submitOne(tasks[0], f)
		return answers
	}
	done := make(chan struct{}, len(tasks))
	for i, t := range tasks {
		go func() {
			defer func() { done <- struct{}{} }()
			answers[i] = s.submitOne(t, f)
		}()
	}
	for range tasks {
		<-done
	}
	return answers
}

// submitOne sends one task and, with a feed, follows it into the feed.
func (s *Server) submitOne(t taskRequest, f *feed) taskAnswer {
	actx, cancel := context.WithTimeout(s.ctx, opTimeout)
	defer cancel()
	sr, err := s.start(actx, t)
	if err != nil {
		return taskAnswer{Error: errorOf(err)}
	}
	ctx := s.ctx // a followed task is bounded by the server's life only
	if f == nil {
		ctx = actx
	} else {
		s.followTask(&sr, f)
	}
	sub, err := s.startTask(actx, ctx, sr)
	if err != nil {
		if f != nil {
			s.unbusy() // followTask's, for a task that never started
		}
		return taskAnswer{Error: errorOf(err)}
	}
	return taskAnswer{TaskID: sub.TaskID, Endpoint: sub.Endpoint.String(), Count: sub.Count}
}

// followTask sets sr's callbacks to fill f. The server counts as busy
// until the task ends.
func (s *Server) followTask(sr *client.StartRequest, f *feed) {
	s.busy()
	var tid string // set by OnAck, before any result, on the same goroutine
	sr.OnAck = func(sub *client.Submitted) { tid = sub.TaskID }
	sr.OnResult = func(r client.Result) {
		f.push(resultEvent{Type: "result", resultJSON: resultOf(tid, r)})
	}
	sr.OnEnd = func(st *client.Status, err error) {
		defer s.unbusy()
		f.push(endOf(tid, st, err))
	}
}

// endOf is a task's end event.
func endOf(taskID string, st *client.Status, err error) endEvent {
	ev := endEvent{Type: "end", TaskID: taskID}
	if st != nil {
		ev.State, ev.Count, ev.Error = string(st.State), st.Count, wireError(st.Error)
	}
	if err != nil {
		ev.State, ev.Error = string(client.StateFailed), errorOf(err)
	}
	return ev
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	var t taskRequest
	if err := decode(r, &t); err != nil {
		writeError(w, err)
		return
	}
	actx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	sr, err := s.start(actx, t)
	if err != nil {
		writeError(w, err)
		return
	}
	type end struct {
		st  *client.Status
		err error
	}
	ended := make(chan end, 1)
	var results []resultJSON
	var tid string
	sr.OnAck = func(sub *client.Submitted) { tid = sub.TaskID }
	sr.OnResult = func(res client.Result) { results = append(results, resultOf(tid, res)) }
	sr.OnEnd = func(st *client.Status, err error) { ended <- end{st, err} }
	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	sub, err := s.startTask(actx, ctx, sr)
	if err != nil {
		writeError(w, err)
		return
	}
	e := <-ended
	if e.err != nil {
		writeError(w, e.err)
		return
	}
	if e.st.State == client.StateFailed && e.st.Error != nil {
		writeError(w, e.st.Error.Err())
		return
	}
	slices.SortFunc(results, func(a, b resultJSON) int { return a.Index - b.Index })
	writeJSON(w, http.StatusOK, map[string]any{
		"task_id": sub.TaskID, "endpoint": sub.Endpoint.String(), "state": e.st.State,
		"results": emptyIfNil(results), "error": wireError(e.st.Error),
	})
}

// pingEvery is how often an idle feed says it is alive.
const pingEvery = 15 * time.Second

func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	f, err := s.feedFor(r.URL.Query().Get("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, fault.E(fault.Internal, "", "the connection cannot stream"))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	s.pump(w, fl, f, r.Context().Done())
}

// feedWriteTimeout bounds one write of a feed's events: a reader that
// stops reading loses the feed (what it was not sent stays queued for the
// next), rather than holding it.
var feedWriteTimeout = time.Minute

// pump makes the caller f's reader, taking it over from any other, and
// writes f's events to w, hello first, each flushed as it is queued, until
// writing fails (or takes over feedWriteTimeout), another reader takes f
// over, stop is closed or the server closes.
func (s *Server) pump(w http.ResponseWriter, fl http.Flusher, f *feed, stop <-chan struct{}) {
	rc := http.NewResponseController(w)
	gen := s.gen.Add(1)
	f.attach(gen)
	var unsent [][]byte
	defer func() { f.detach(gen, unsent, s.now()) }()
	hello, _ := json.Marshal(helloEvent{Type: "hello", Feed: f.id, APIVersion: Version})
	if _, err := w.Write(append(hello, '\n')); err != nil {
		return
	}
	fl.Flush()
	ping, _ := json.Marshal(pingEvent{Type: "ping"})
	ping = append(ping, '\n')
	// send writes what is queued; false when the pump is to end.
	send := func() bool {
		lines, ok := f.take(gen)
		if !ok {
			return false // another reader took the feed over
		}
		if len(lines) > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(feedWriteTimeout))
		}
		for i, l := range lines {
			if _, err := w.Write(l); err != nil {
				unsent = lines[i:]
				return false
			}
		}
		if len(lines) > 0 {
			fl.Flush()
		}
		return true
	}
	t := time.NewTimer(pingEvery)
	defer t.Stop()
	for send() {
		select {
		case <-f.wake:
		case <-t.C:
			_ = rc.SetWriteDeadline(time.Now().Add(feedWriteTimeout))
			if _, err := w.Write(ping); err != nil {
				return
			}
			fl.Flush()
		case <-stop:
			send() // what was queued before the end (a session's last answer)
			return
		case <-s.ctx.Done():
			return
		}
		t.Reset(pingEvery)
	}
}

// endpointOf is the endpoint holding a task: given, or from the record.
func (s *Server) endpointOf(taskID, given string) (peer.ID, error) {
	if given != "" {
		return parsePeer(given)
	}
	s.opts.Client.FlushRecords()
	return s.opts.Home.TaskEndpoint(taskID)
}

func (s *Server) follow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Feed  string `json:"feed"`
		Tasks []struct {
			TaskID   string `json:"task_id"`
			Endpoint string `json:"endpoint"`
		} `json:"tasks"`
		From int `json:"from"`
	}
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	f, err := s.feedFor(req.Feed)
	if err != nil {
		writeError(w, err)
		return
	}
	answers := make([]taskAnswer, len(req.Tasks))
	for i, t := range req.Tasks {
		ep, err := s.endpointOf(t.TaskID, t.Endpoint)
		if err != nil {
			answers[i] = taskAnswer{Error: errorOf(err)}
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
		st, err := s.opts.Client.Task(ctx, ep, t.TaskID, false, false, nil)
		cancel()
		if err != nil {
			answers[i] = taskAnswer{Error: errorOf(err)}
			continue
		}
		answers[i] = taskAnswer{TaskID: t.TaskID, Endpoint: ep.String(), Count: st.Count}
		s.busy()
		s.wg.Add(1)
		go func(id string) {
			defer s.wg.Done()
			defer s.unbusy()
			final, err := s.opts.Client.Task(s.ctx, ep, id, true, true, func(res client.Result) {
				if res.Index >= req.From {
					f.push(resultEvent{Type: "result", resultJSON: resultOf(id, res)})
				}
			})
			f.push(endOf(id, final, err))
		}(t.TaskID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": answers})
}

func (s *Server) tasks(w http.ResponseWriter, r *http.Request) {
	limit := 1000
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, fault.E(fault.Invalid, "", "limit %q: want a positive number", l))
			return
		}
		limit = n
	}
	s.opts.Client.FlushRecords()
	recs, err := s.opts.Home.Tasks(client.State(r.URL.Query().Get("state")), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": recs})
}

// record is the task's record after st was noted, or one made of st for a
// task submitted elsewhere.
func (s *Server) record(id string, ep peer.ID, st *client.Status) client.TaskRecord {
	s.opts.Client.FlushRecords()
	if rec, err := s.opts.Home.Task(id); err == nil {
		return rec
	}
	rec := client.TaskRecord{TaskID: id, Endpoint: ep.String(), Seen: s.now().UTC()}
	if st != nil {
		rec.Function, rec.Count, rec.State, rec.Done, rec.Error = st.Function, st.Count, st.State, st.Done, st.Error
	}
	return rec
}

func (s *Server) task(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ep, err := s.endpointOf(id, r.URL.Query().Get("endpoint"))
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	st, err := s.opts.Client.Task(ctx, ep, id, false, false, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": s.record(id, ep, st)})
}

func (s *Server) results(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	ep, err := s.endpointOf(id, q.Get("endpoint"))
	if err != nil {
		writeError(w, err)
		return
	}
	from := 0
	if v := q.Get("from"); v != "" {
		if from, err = strconv.Atoi(v); err != nil || from < 0 {
			writeError(w, fault.E(fault.Invalid, "", "from %q: want an index", v))
			return
		}
	}
	ctx := r.Context()
	if q.Get("wait") != "true" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opTimeout)
		defer cancel()
	}
	results := []resultJSON{}
	st, err := s.opts.Client.Task(ctx, ep, id, true, q.Get("wait") == "true", func(res client.Result) {
		if res.Index >= from {
			results = append(results, resultOf(id, res))
		}
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": s.record(id, ep, st), "results": results})
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		Endpoint string `json:"endpoint"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	ep, err := s.endpointOf(id, req.Endpoint)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	st, err := s.opts.Client.Cancel(ctx, ep, id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": s.record(id, ep, st)})
}
