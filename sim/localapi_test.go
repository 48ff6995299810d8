package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/client/localapi"
)

// api is a local API server on the fixture's mesh, and an HTTP client of
// its socket.
type api struct {
	*fixture
	srv    *localapi.Server
	home   client.Home
	socket string
	http   *http.Client
}

func newAPI(t *testing.T) *api {
	t.Helper()
	f := newFixture(t, nil)
	home := client.Home{Dir: t.TempDir()}
	c, err := client.New(f.ctx, client.Options{Key: f.owner, Bootstrap: f.mesh.Bootstrap.Addrs(), Home: home, RecordBehind: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	socket := localapi.SocketPath(home)
	ln, err := localapi.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localapi.New(localapi.Options{Client: c, Key: f.owner, Home: home, Socket: socket})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeUnix(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("ServeUnix: %v", err)
		}
	})
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	return &api{fixture: f, srv: srv, home: home, socket: socket, http: hc}
}

// register registers the test function entry through the API, as the
// user's private function; a second registration of the same source is
// reused, not a new version.
func (a *api) register(entry string) {
	a.t.Helper()
	for i, want := range []bool{false, true} {
		var out struct {
			Function struct {
				ID      string `json:"id"`
				Version int    `json:"version"`
				Reused  bool   `json:"reused"`
			} `json:"function"`
		}
		code := a.call("POST", "/v1/functions", map[string]any{"name": entry, "kind": "python", "source": testSource, "entry": entry, "reuse": true}, &out)
		if code != 200 || out.Function.Reused != want || out.Function.Version != 1 {
			a.t.Fatalf("register %s (%d): %d %+v", entry, i, code, out)
		}
	}
}

// call sends a request and decodes the JSON answer into out; it returns
// the HTTP status.
func (a *api) call(method, path string, body any, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(a.ctx, method, "http://fx"+path, rd)
	req.Header.Set(localapi.VersionHeader, localapi.Version)
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(localapi.VersionHeader) != localapi.Version {
		a.t.Errorf("%s %s: answer without the API version", method, path)
	}
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// event is any line of a feed.
type event struct {
	Type     string          `json:"type"`
	TaskID   string          `json:"task_id"`
	Index    int             `json:"index"`
	Value    json.RawMessage `json:"value"`
	State    string          `json:"state"`
	Count    int             `json:"count"`
	Feed     string          `json:"feed"`
	APIError *struct {
		Kind      string `json:"kind"`
		Type      string `json:"type"`
		Traceback string `json:"traceback"`
		ExitCode  int    `json:"exit_code"`
	} `json:"error"`
}

// openFeed opens feed id and returns its events, after hello.
func (a *api) openFeed(id string) <-chan event {
	a.t.Helper()
	req, _ := http.NewRequestWithContext(a.ctx, "GET", "http://fx/v1/feed?id="+id, nil)
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	if !sc.Scan() {
		a.t.Fatalf("feed ended before hello: %v", sc.Err())
	}
	var hello event
	if err := json.Unmarshal(sc.Bytes(), &hello); err != nil || hello.Type != "hello" || hello.Feed != id {
		a.t.Fatalf("first line %s, want hello", sc.Bytes())
	}
	ch := make(chan event, 1024)
	go func() {
		defer close(ch)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type != "ping" {
				ch <- e
			}
		}
	}()
	return ch
}

// until reads events until n tasks ended, returning them all.
func until(t *testing.T, ch <-chan event, n int) []event {
	t.Helper()
	var out []event
	for ends := 0; ends < n; {
		e, ok := <-ch
		if !ok {
			t.Fatalf("feed ended after %d events", len(out))
		}
		out = append(out, e)
		if e.Type == "end" {
			ends++
		}
	}
	return out
}

type submitAnswer struct {
	Tasks []struct {
		TaskID   string `json:"task_id"`
		Endpoint string `json:"endpoint"`
		Count    int    `json:"count"`
		Error    *struct {
			Kind string `json:"kind"`
		} `json:"error"`
	} `json:"tasks"`
}

// TestLocalAPISubmitAndFeed: one submit carries two tasks, a single input
// routed to the user's endpoint and a batch of three on a named endpoint,
// one of whose inputs raises; each result arrives on the feed with its
// task and index, the exception with its type and traceback, then each
// task's end; the tasks are in the local record.
func TestLocalAPISubmitAndFeed(t *testing.T) {
	a := newAPI(t)
	a.register("compute")
	a.register("fail")
	var v struct {
		APIVersion string `json:"api_version"`
		User       string `json:"user"`
	}
	if code := a.call("GET", "/v1/version", nil, &v); code != 200 || v.APIVersion != localapi.Version || v.User != a.owner.ID().String() {
		t.Fatalf("version: %d %+v", code, v)
	}
	feed := a.openFeed("f-test")
	var sub submitAnswer
	code := a.call("POST", "/v1/submit", map[string]any{"feed": "f-test", "tasks": []any{
		map[string]any{"function": "compute", "inputs": []any{map[string]any{"args": []int{20, 1}, "kwargs": map[string]any{"label": "sum"}}}},
		map[string]any{"function": "fail", "endpoint": a.ep.ID().String(), "inputs": []any{
			map[string]any{"args": []string{"a"}}, map[string]any{"args": []string{"b"}}, map[string]any{"args": []string{"c"}}}},
		map[string]any{"function": "nosuch", "inputs": []any{map[string]any{}}},
	}}, &sub)
	if code != 200 || len(sub.Tasks) != 3 {
		t.Fatalf("submit: %d %+v", code, sub)
	}
	if sub.Tasks[0].TaskID == "" || sub.Tasks[1].TaskID == "" || sub.Tasks[1].Count != 3 || sub.Tasks[0].Endpoint != a.ep.ID().String() {
		t.Fatalf("submit answer %+v", sub)
	}
	if e := sub.Tasks[2].Error; e == nil || e.Kind != "not-found" {
		t.Fatalf("unknown function: %+v", sub.Tasks[2])
	}
	events := until(t, feed, 2)
	results := map[string]int{}
	for _, e := range events {
		switch e.Type {
		case "result":
			results[e.TaskID]++
			if e.TaskID == sub.Tasks[0].TaskID && string(e.Value) != `{"pi":3.14,"sum":41}` && string(e.Value) != `{"sum":41,"pi":3.14}` {
				t.Errorf("compute gave %s", e.Value)
			}
			if e.TaskID == sub.Tasks[1].TaskID && (e.APIError == nil || e.APIError.Kind != "user" || e.APIError.Type != "ValueError" ||
				e.APIError.ExitCode != 1 || !strings.Contains(e.APIError.Traceback, "raise ValueError")) {
				t.Errorf("fail gave %+v", e.APIError)
			}
		case "end":
			if e.State != "done" {
				t.Errorf("task %s ended %s", e.TaskID, e.State)
			}
			if results[e.TaskID] != e.Count {
				t.Errorf("task %s ended after %d of %d results", e.TaskID, results[e.TaskID], e.Count)
			}
		}
	}
	var list struct {
		Tasks []client.TaskRecord `json:"tasks"`
	}
	if a.call("GET", "/v1/tasks", nil, &list); len(list.Tasks) != 2 {
		t.Fatalf("task record: %+v", list)
	}
	for _, r := range list.Tasks {
		if r.State != client.StateDone || r.Function == "" {
			t.Errorf("record %+v", r)
		}
	}
}

// session is one session of the local API: send writes a request line,
// events are what comes back after hello.
type session struct {
	w      *io.PipeWriter
	events <-chan sessionEvent
}

// sessionEvent is a line of a session: a feed event or a submit's answer.
type sessionEvent struct {
	event
	Seq   uint64        `json:"seq"`
	Tasks []taskAnswerJ `json:"tasks"`
}

type taskAnswerJ struct {
	TaskID string `json:"task_id"`
	Count  int    `json:"count"`
	Error  *struct {
		Kind string `json:"kind"`
	} `json:"error"`
}

// openSession opens a session on feed id and reads its hello.
func (a *api) openSession(id string) *session {
	a.t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(a.ctx, "POST", "http://fx/v1/session?feed="+id, pr)
	req.Header.Set(localapi.VersionHeader, localapi.Version)
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { pw.Close(); resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		a.t.Fatalf("session: %d %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || !strings.Contains(sc.Text(), `"type":"hello"`) {
		a.t.Fatalf("session began with %q (%v), not hello", sc.Text(), sc.Err())
	}
	ch := make(chan sessionEvent, 1024)
	go func() {
		defer close(ch)
		for sc.Scan() {
			var e sessionEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type != "ping" {
				ch <- e
			}
		}
	}()
	return &session{w: pw, events: ch}
}

func (s *session) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(s.w, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// next is the session's next event of type typ; those of other types
// before it are returned too.
func (s *session) next(t *testing.T, typ string) (sessionEvent, []sessionEvent) {
	t.Helper()
	var skipped []sessionEvent
	for e := range s.events {
		if e.Type == typ {
			return e, skipped
		}
		skipped = append(skipped, e)
	}
	t.Fatalf("the session ended before a %s event (after %+v)", typ, skipped)
	return sessionEvent{}, nil
}

// TestLocalAPISession: on one connection a session takes submit requests
// and answers each with a submitted event of its seq, while the results and
// ends of its tasks stream back; a line that is not a request, or has no
// tasks, is answered with an error and the session goes on; a second
// session on the feed takes it over and the first ends.
func TestLocalAPISession(t *testing.T) {
	a := newAPI(t)
	a.register("compute")
	s := a.openSession("f-sess")
	s.send(t, `{"seq":1,"tasks":[{"function":"compute","inputs":[{"args":[1,2]}]}]}`)
	ans, _ := s.next(t, "submitted")
	if ans.Seq != 1 || len(ans.Tasks) != 1 || ans.Tasks[0].TaskID == "" || ans.Tasks[0].Count != 1 {
		t.Fatalf("answer %+v", ans)
	}
	end, before := s.next(t, "end")
	if end.TaskID != ans.Tasks[0].TaskID || end.State != "done" || len(before) != 1 || !strings.Contains(string(before[0].Value), `"r":4`) {
		t.Fatalf("end %+v after %+v", end, before)
	}

	s.send(t, `{"seq":2,"tasks":[{"function":"compute","inputs":[{"args":[1,2]`) // cut short
	s.send(t, `{"seq":3,"tasks":[]}`)
	s.send(t, `{"seq":4,"tasks":[{"function":"nosuch","inputs":[{}]},{"function":"compute","inputs":[{"args":[1,1]},{"args":[2,2]}]}]}`)
	for _, want := range []struct {
		seq  uint64
		kind string
	}{{0, "invalid"}, {3, "invalid"}} {
		if e, _ := s.next(t, "submitted"); e.Seq != want.seq || e.APIError == nil || e.APIError.Kind != want.kind {
			t.Fatalf("answer %+v; want seq %d, %s", e, want.seq, want.kind)
		}
	}
	ans, _ = s.next(t, "submitted")
	if ans.Seq != 4 || len(ans.Tasks) != 2 || ans.Tasks[0].Error == nil || ans.Tasks[0].Error.Kind != "not-found" || ans.Tasks[1].Count != 2 {
		t.Fatalf("answer %+v", ans)
	}
	if end, _ := s.next(t, "end"); end.TaskID != ans.Tasks[1].TaskID || end.State != "done" {
		t.Fatalf("end %+v", end)
	}

	s2 := a.openSession("f-sess")
	for range s.events {
	} // the first session ends
	s2.send(t, `{"seq":1,"tasks":[{"function":"compute","inputs":[{"args":[5,5]}]}]}`)
	if e, _ := s2.next(t, "end"); e.State != "done" {
		t.Fatalf("second session: %+v", e)
	}
}

// TestLocalAPIRunCancelFollow: run waits for a task; a submitted task is
// cancelled through the API and its end on the feed says cancelled; a
// batch submitted without a feed is followed later into another one, as a
// client restarted mid-work would.
func TestLocalAPIRunCancelFollow(t *testing.T) {
	a := newAPI(t)
	a.register("compute")
	a.register("nap")
	var run struct {
		State   string `json:"state"`
		Results []struct {
			Value json.RawMessage `json:"value"`
		} `json:"results"`
	}
	if code := a.call("POST", "/v1/run", map[string]any{"function": "compute", "inputs": []any{map[string]any{"args": []int{1, 2}}}}, &run); code != 200 || run.State != "done" || len(run.Results) != 1 {
		t.Fatalf("run: %d %+v", code, run)
	}

	feed := a.openFeed("f-cancel")
	var sub submitAnswer
	a.call("POST", "/v1/submit", map[string]any{"feed": "f-cancel", "tasks": []any{
		map[string]any{"function": "nap", "inputs": []any{map[string]any{"args": []int{300}}}}}}, &sub)
	if len(sub.Tasks) != 1 || sub.Tasks[0].TaskID == "" {
		t.Fatalf("submit: %+v", sub)
	}
	id := sub.Tasks[0].TaskID
	var cancelled struct {
		Task client.TaskRecord `json:"task"`
	}
	if code := a.call("POST", "/v1/tasks/"+id+"/cancel", map[string]any{}, &cancelled); code != 200 || cancelled.Task.State != client.StateCancelled {
		t.Fatalf("cancel: %d %+v", code, cancelled)
	}
	if ev := until(t, feed, 1); ev[len(ev)-1].State != "cancelled" {
		t.Fatalf("end event %+v, want cancelled", ev[len(ev)-1])
	}

	inputs := []any{}
	for i := range 5 {
		inputs = append(inputs, map[string]any{"args": []int{i, 0}})
	}
	a.call("POST", "/v1/submit", map[string]any{"tasks": []any{map[string]any{"function": "compute", "inputs": inputs}}}, &sub)
	if len(sub.Tasks) != 1 || sub.Tasks[0].TaskID == "" {
		t.Fatalf("submit without a feed: %+v", sub)
	}
	later := a.openFeed("f-later")
	var fol submitAnswer
	if code := a.call("POST", "/v1/follow", map[string]any{"feed": "f-later", "tasks": []any{map[string]any{"task_id": sub.Tasks[0].TaskID}}}, &fol); code != 200 || fol.Tasks[0].Count != 5 {
		t.Fatalf("follow: %d %+v", code, fol)
	}
	got := map[int]bool{}
	for _, e := range until(t, later, 1) {
		if e.Type == "result" {
			got[e.Index] = true
		}
	}
	if len(got) != 5 {
		t.Fatalf("followed results: %v, want 5", got)
	}
}

// TestLocalAPIVersion: a client of another major version gets a specific
// error, by header or by path, before anything else.
func TestLocalAPIVersion(t *testing.T) {
	a := newAPI(t)
	for _, tc := range []struct{ path, header string }{{"/v1/version", "2.0"}, {"/v2/version", ""}} {
		req, _ := http.NewRequestWithContext(a.ctx, "GET", "http://fx"+tc.path, nil)
		if tc.header != "" {
			req.Header.Set(localapi.VersionHeader, tc.header)
		}
		resp, err := a.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct {
				Kind             string `json:"kind"`
				Reason           string `json:"reason"`
				ServerAPIVersion string `json:"server_api_version"`
			} `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body.Error.Kind != "invalid" || body.Error.Reason != "api_version" || body.Error.ServerAPIVersion != localapi.Version {
			t.Errorf("%s with %q: %d %+v", tc.path, tc.header, resp.StatusCode, body.Error)
		}
	}
}

// TestLocalAPIOtherUID: a process of another uid that can reach the
// socket (its file modes opened here) is refused: SO_PEERCRED, not the
// file's mode, keeps other users out.
func TestLocalAPIOtherUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as another uid")
	}
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no " + py)
	}
	a := newAPI(t)
	for p := a.socket; p != "/"; p = filepath.Dir(p) {
		if p == a.socket {
			os.Chmod(p, 0o666)
		} else if st, err := os.Stat(p); err == nil {
			os.Chmod(p, st.Mode().Perm()|0o055)
		}
	}
	const probe = `
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /v1/version HTTP/1.1\r\nHost: fx\r\nConnection: close\r\n\r\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
`
	for _, uid := range []uint32{65534, 0} {
		cmd := exec.CommandContext(a.ctx, py, "-c", probe, a.socket)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		if uid == 0 {
			cmd.SysProcAttr = nil // the owner of $FX_HOME
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("uid %d: %v: %s", uid, err, out)
		}
		s := string(out)
		if uid == 65534 && (!strings.HasPrefix(s, "HTTP/1.1 403") || !strings.Contains(s, `"reason":"peer_uid"`) || !strings.Contains(s, `"kind":"denied"`)) {
			t.Fatalf("uid 65534 got:\n%s", s)
		}
		if uid == 0 && !strings.HasPrefix(s, "HTTP/1.1 200") {
			t.Fatalf("the owner got:\n%s", s)
		}
	}
}

// TestLocalAPIIdle: the server is idle between requests and busy while a
// feed is read, which is what fx serve --idle-exit watches.
func TestLocalAPIIdle(t *testing.T) {
	a := newAPI(t)
	a.call("GET", "/v1/version", nil, nil)
	if a.srv.IdleSince().IsZero() {
		t.Fatal("busy with no request in progress")
	}
	ctx, cancel := context.WithCancel(a.ctx)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://fx/v1/feed?id=f-idle", nil)
	resp, err := a.http.Do(req) // returns once hello is sent: the feed is being read
	if err != nil {
		t.Fatal(err)
	}
	if !a.srv.IdleSince().IsZero() {
		t.Fatal("idle while a feed is read")
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(time.Minute)
	for a.srv.IdleSince().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("still busy after the feed's reader left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLocalAPITCPToken: on loopback TCP only a request with the token is
// served; one without it, or with another, is denied with reason token.
func TestLocalAPITCPToken(t *testing.T) {
	a := newAPI(t)
	tok, err := a.srv.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go a.srv.ServeTCP(ln)
	for _, tc := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer " + tok, 200}} {
		req, _ := http.NewRequestWithContext(a.ctx, "GET", "http://"+ln.Addr().String()+"/v1/version", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error *struct {
				Kind   string `json:"kind"`
				Reason string `json:"reason"`
			} `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || (tc.code == 401 && (body.Error == nil || body.Error.Kind != "denied" || body.Error.Reason != "token")) {
			t.Errorf("authorization %q: %d %+v", tc.auth, resp.StatusCode, body.Error)
		}
	}
	if err := a.srv.ServeTCP(&fakeAddrListener{ln}); err == nil {
		t.Error("ServeTCP on a non-loopback address")
	}
}

// fakeAddrListener claims a non-loopback address.
type fakeAddrListener struct{ net.Listener }

func (fakeAddrListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1} }
