package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/client/localapi"
)

// BenchmarkLocalAPISubmit: one caller, sequential no-op calls of a private
// function (whose proof travels with each call) through the local API on
// the unix socket: a submit over HTTP with the result on a feed, and a
// submit line of a session with the result on its response, as the Python
// SDK's Executor makes them. To the named endpoint, and routed (the ranking
// reused for a second); the baseline, in the same run, is the mesh client's
// own call to the endpoint (BenchmarkInvokeSequential's).
func BenchmarkLocalAPISubmit(b *testing.B) {
	f, fn := benchFixture(b)
	home := client.Home{Dir: b.TempDir()}
	c, err := client.New(f.ctx, client.Options{Key: f.owner, Bootstrap: f.mesh.Bootstrap.Addrs(), Home: home, RecordBehind: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	socket := localapi.SocketPath(home)
	ln, err := localapi.Listen(socket)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := localapi.New(localapi.Options{Client: c, Key: f.owner, Home: home, Socket: socket})
	if err != nil {
		b.Fatal(err)
	}
	go srv.ServeUnix(ln)
	b.Cleanup(func() { srv.Close() })
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	post := func(path string, body any, out any) {
		js, _ := json.Marshal(body)
		resp, err := hc.Post("http://fx"+path, "application/json", bytes.NewReader(js))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			b.Fatal(err)
		}
	}
	var reg struct {
		Function struct {
			ID string `json:"id"`
		} `json:"function"`
	}
	post("/v1/functions", map[string]any{"name": "noop", "kind": "python", "source": "def noop(*a, **k):\n    return None\n", "entry": "noop"}, &reg)

	resp, err := hc.Get("http://fx/v1/feed?id=bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { resp.Body.Close() })
	results := make(chan string, 1024) // task IDs of the results on the feed
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e struct {
				Type   string `json:"type"`
				TaskID string `json:"task_id"`
			}
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type == "result" {
				results <- e.TaskID
			}
		}
		close(results)
	}()
	call := func(endpoint string) error {
		var sub struct {
			Tasks []struct {
				TaskID string `json:"task_id"`
				Error  any    `json:"error"`
			} `json:"tasks"`
		}
		post("/v1/submit", map[string]any{"feed": "bench", "tasks": []any{map[string]any{
			"function": reg.Function.ID, "endpoint": endpoint, "inputs": []any{map[string]any{}},
		}}}, &sub)
		if len(sub.Tasks) != 1 || sub.Tasks[0].TaskID == "" {
			return fmt.Errorf("submit answered %+v", sub)
		}
		for id := range results {
			if id == sub.Tasks[0].TaskID {
				return nil
			}
		}
		return fmt.Errorf("the feed ended")
	}
	run := func(name string, once func() error) {
		for range 20 { // warm: the function in the workers, the ranking made
			if err := once(); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				s := time.Now()
				if err := once(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(s))
			}
			b.StopTimer()
			reportQuantiles(b, lat)
		})
	}
	// A session: the submit as a line on the request body, its answer and
	// result on the response, as the SDK's Executor sends them.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://fx/v1/session?feed=bench-session", pr)
	sresp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pw.Close(); sresp.Body.Close() })
	sessionResults := make(chan struct{}, 1024)
	go func() {
		sc := bufio.NewScanner(sresp.Body)
		for sc.Scan() {
			if bytes.Contains(sc.Bytes(), []byte(`"type":"result"`)) {
				sessionResults <- struct{}{}
			}
		}
		close(sessionResults)
	}()
	seq := 0
	line := func(endpoint string) []byte {
		seq++
		return fmt.Appendf(nil, `{"seq":%d,"tasks":[{"function":%q,"endpoint":%q,"inputs":[{}]}]}`+"\n", seq, reg.Function.ID, endpoint)
	}
	session := func(endpoint string) error {
		if _, err := pw.Write(line(endpoint)); err != nil {
			return err
		}
		if _, ok := <-sessionResults; !ok {
			return fmt.Errorf("the session ended")
		}
		return nil
	}
	run("baseline-invoke", func() error { _, err := f.invoke(fn, 1); return err })
	run("named", func() error { return call(f.ep.ID().String()) })
	run("routed", func() error { return call("") })
	run("session-named", func() error { return session(f.ep.ID().String()) })
	run("session-routed", func() error { return session("") })
}
