package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/invoke"
	"github.com/fxmesh/fxmesh/node"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// auditLine is what the test reads of an audit log line.
type auditLine struct {
	Event     string `json:"event"`
	Task      string `json:"task"`
	Caller    string `json:"caller"`
	Function  string `json:"function"`
	Reason    string `json:"reason"`
	Outcome   string `json:"outcome"`
	ErrorKind string `json:"error_kind"`
}

// readAudit reads the audit log at path; each line must be JSON.
func readAudit(t *testing.T, path string) ([]auditLine, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditLine
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var l auditLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out, string(b)
}

// get fetches url from the web view and returns its status and body.
func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestAuditMetricsAndEndpointPage runs tasks through a real endpoint over
// loopback (three admitted: two that return, one whose function raises;
// two refused: a stranger the endpoint does not admit), then checks the
// audit log (exactly one admitted, started and finished line per task, a
// refused line with its reason per refusal, no argument in it), /metrics
// (valid text format, its task counters those of the run, fxmesh_ names,
// no ID in a label) and the endpoint's page of the web view (the tasks'
// function IDs, states and times, in its JSON and as headless Chromium
// renders it; neither the argument string nor the private function's name
// anywhere).
func TestAuditMetricsAndEndpointPage(t *testing.T) {
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	f := newFixture(t, func(cfg *node.Config) {
		cfg.AuditLog = auditPath
		cfg.HTTPListen = "127.0.0.1:0"
	})
	// A private function with a name to look for in the view.
	const secretName = "compute"
	const secretArg = "needle-7f3a9c" // the argument string the view must never show
	priv := f.register(secretName, catalog.Access{})
	fail := f.register("fail", catalog.Access{})
	var tasks []string
	run := func(fn *client.ResolvedFunction, args string, wantErr bool) {
		t.Helper()
		var res *invoke.Result
		sub, err := f.client.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: fn,
			Inputs: []invoke.Input{{Args: []byte(args)}}, Wait: true, OnResult: func(r invoke.Result) { res = &r }})
		if err != nil || res == nil || (res.Error != nil) != wantErr {
			t.Fatalf("run %s: %v %+v", args, err, res)
		}
		tasks = append(tasks, sub.TaskID)
	}
	run(priv, `[1, 2, 1, "`+secretArg+`"]`, false)
	run(priv, `[3, 4]`, false)
	run(fail, `["`+secretArg+`"]`, true)

	stranger, _ := identity.GenerateKey()
	sc, err := f.mesh.Client(f.ctx, stranger)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	const refusals = 2
	for range refusals {
		_, err := sc.Invoke(f.ctx, client.InvokeRequest{Endpoint: f.ep.ID(), Function: priv,
			Inputs: []invoke.Input{{Args: []byte(`[5, 6]`)}}, Wait: true})
		if err == nil {
			t.Fatal("a stranger's invocation was admitted")
		}
	}

	// The audit log.
	count := func(lines []auditLine, event string) int {
		n := 0
		for _, l := range lines {
			if l.Event == event {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "the audit log's lines", func() error {
		lines, _ := readAudit(t, auditPath)
		if count(lines, "finished") < len(tasks) || count(lines, "refused") < refusals {
			return fmt.Errorf("%d finished and %d refused lines", count(lines, "finished"), count(lines, "refused"))
		}
		return nil
	})
	lines, raw := readAudit(t, auditPath)
	if strings.Contains(raw, secretArg) {
		t.Errorf("the audit log holds an argument: %s", raw)
	}
	for _, id := range tasks {
		per := map[string]int{}
		for _, l := range lines {
			if l.Task == id && l.Event != "refused" {
				per[l.Event]++
				if l.Caller != f.owner.ID().String() || l.Function == "" {
					t.Errorf("line %+v: want the caller and the function", l)
				}
			}
		}
		if per["admitted"] != 1 || per["started"] != 1 || per["finished"] != 1 {
			t.Errorf("task %s has lines %v, want one admitted, started and finished", id, per)
		}
	}
	if n := count(lines, "admitted"); n != len(tasks) {
		t.Errorf("%d admitted lines for %d tasks", n, len(tasks))
	}
	if n := count(lines, "finished"); n != len(tasks) {
		t.Errorf("%d finished lines for %d tasks", n, len(tasks))
	}
	refused := 0
	for _, l := range lines {
		if l.Event == "refused" {
			refused++
			if l.Reason != "denied" || l.Caller != stranger.ID().String() {
				t.Errorf("refused line %+v: want reason denied, caller the stranger", l)
			}
		}
		if l.Event == "finished" && l.Task == tasks[2] && (l.Outcome != "done" || l.ErrorKind != "user") {
			t.Errorf("finished line of the raising task %+v: want outcome done, error kind user", l)
		}
	}
	if refused != refusals {
		t.Errorf("%d refused lines for %d refusals", refused, refusals)
	}

	// /metrics.
	base := "http://" + f.ep.HTTPAddr()
	status, body := get(t, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	value := func(name string, labels ...string) float64 {
		fam := fams[name]
		if fam == nil {
			t.Errorf("no %s in /metrics", name)
			return -1
		}
		sum := 0.0
	next:
		for _, m := range fam.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if labelValue(m, labels[i]) != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return sum
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"fxmesh_tasks_admitted_total", nil, float64(len(tasks))},
		{"fxmesh_tasks_finished_total", nil, float64(len(tasks))},
		{"fxmesh_tasks_finished_total", []string{"outcome", "done"}, float64(len(tasks))},
		{"fxmesh_task_duration_seconds", nil, float64(len(tasks))},
		{"fxmesh_tasks_refused_total", []string{"reason", "denied"}, refusals},
		{"fxmesh_tasks_refused_total", nil, refusals},
		{"fxmesh_tasks_running", nil, 0},
		{"fxmesh_build_info", nil, 1},
	} {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"fxmesh_workers", "fxmesh_peers_connected", "fxmesh_catalog_records", "fxmesh_gossip_messages_total", "fxmesh_dht_lookups_total", "fxmesh_dht_lookup_duration_seconds"} {
		if fams[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	ids := append([]string{f.owner.ID().String(), stranger.ID().String(), priv.ID.String()}, tasks...)
	for name, fam := range fams {
		if !strings.HasPrefix(name, "fxmesh_") {
			t.Errorf("metric %s does not start with fxmesh_", name)
		}
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				for _, id := range ids {
					if lp.GetValue() == id {
						t.Errorf("metric %s has an ID as label %s", name, lp.GetName())
					}
				}
			}
		}
	}

	// The endpoint's own page.
	status, page := get(t, base+"/api/endpoint/"+f.ep.ID().String())
	if status != http.StatusOK {
		t.Fatalf("endpoint page: %d %s", status, page)
	}
	var p struct {
		Self *struct {
			Tasks []struct {
				ID, Function, State string
				Received, Started   time.Time
				Finished            time.Time
				ErrorKind           string `json:"error_kind"`
			}
		}
	}
	if err := json.Unmarshal([]byte(page), &p); err != nil || p.Self == nil {
		t.Fatalf("endpoint page %s: %v", page, err)
	}
	shown := map[string]bool{}
	for _, tk := range p.Self.Tasks {
		shown[tk.ID] = true
		if tk.Function == "" || tk.State != "done" || tk.Received.IsZero() || tk.Started.IsZero() || tk.Finished.Before(tk.Started) {
			t.Errorf("task on the page: %+v; want its function, state done and its times", tk)
		}
		if tk.ID == tasks[2] && tk.ErrorKind != "user" {
			t.Errorf("the raising task shows error kind %q, want user", tk.ErrorKind)
		}
	}
	for _, id := range tasks {
		if !shown[id] {
			t.Errorf("task %s is not on the endpoint's page", id)
		}
	}
	_, mesh := get(t, base+"/api/mesh")
	_, html := get(t, base+"/")
	_, js := get(t, base+"/static/app.js")
	for what, text := range map[string]string{"the endpoint page": page, "the mesh": mesh, "the page": html, "the script": js} {
		for _, secret := range []string{secretArg, `"` + secretName + `"`, "/" + secretName} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q", what, secret)
			}
		}
	}
	if !strings.Contains(page, priv.ID.String()) {
		t.Errorf("the endpoint page does not show the function's ID %s", priv.ID)
	}

	// The page as a browser renders it: each task's function ID, state
	// and times, and neither secret.
	browser := chromium(t)
	bctx := newBrowser(t, f.ctx, browser)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/endpoint/"+f.ep.ID().String()), chromedp.WaitVisible("#tasks")); err != nil {
		t.Fatal(err)
	}
	type shownTask struct {
		ID, Function, State, Received, Started, Finished, Took string
	}
	var rendered []shownTask
	deadline := time.Now().Add(30 * time.Second)
	for len(rendered) < len(tasks) {
		if time.Now().After(deadline) {
			t.Fatalf("the endpoint page shows %d of %d tasks", len(rendered), len(tasks))
		}
		time.Sleep(100 * time.Millisecond)
		rendered, err = chromedp.Run(bctx, chromedp.Evaluate[[]shownTask](`[...document.querySelectorAll("#tasks tbody tr:not(.empty)")].map(r => {
			const c = r.querySelectorAll("td");
			return {ID: r.dataset.id, Function: c[1].textContent, State: c[4].textContent, Received: c[5].textContent,
				Started: c[6].textContent, Finished: c[7].textContent, Took: c[8].textContent};
		})`))
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rendered {
		if r.State != "done" || r.Received == "" || r.Started == "" || r.Finished == "" || r.Took == "" ||
			(r.Function != priv.ID.String() && r.Function != fail.ID.String()) {
			t.Errorf("the endpoint page shows task %+v; want its function ID, state done and its times", r)
		}
	}
	dom, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{secretArg, ">" + secretName + "<"} {
		if strings.Contains(dom, secret) {
			t.Errorf("the rendered endpoint page shows %q", secret)
		}
	}
}

// labelValue is the value of m's label name, "" if it has none.
func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}
