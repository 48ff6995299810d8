package pbs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

func isKind(err error, k fault.Kind) bool {
	var fe *fault.Error
	return errors.As(err, &fe) && fe.Kind == k
}

func readData(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseQstatStates reads one job in every job_state, and finished
// jobs of each kind of exit (testdata/qstat-states.json, written from the
// Reference Guide).
func TestParseQstatStates(t *testing.T) {
	got, owners, err := parseQstat(readData(t, "qstat-states.json"))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]struct {
		state       pilot.State
		raw, reason string
	}{
		"101.server1":    {pilot.Pending, "Q", "Not Running: Insufficient amount of resource: ncpus"},
		"102.server1":    {pilot.Pending, "H", "Job held by user1 on Tue Aug  8 01:40:00 2017"},
		"103.server1":    {pilot.Pending, "W", ""},
		"104.server1":    {pilot.Pending, "T", ""},
		"105.server1":    {pilot.Running, "R", "Job run at Tue Aug 08 at 01:38 on (server1:ncpus=1)"},
		"106.server1":    {pilot.Completing, "E", ""},
		"107.server1":    {pilot.Pending, "S", ""},
		"108.server1":    {pilot.Pending, "U", ""},
		"109.server1":    {pilot.Unknown, "M", "moved to another server"},
		"110[].server1":  {pilot.Running, "B", ""},
		"110[1].server1": {pilot.Completed, "X (Exit_status 0)", ""},
		"111.server1":    {pilot.Completed, "F (Exit_status 0)", "Job run at Tue Aug 08 at 01:38 on (server1:ncpus=1) and finished"},
		"112.server1":    {pilot.Timeout, "F (Exit_status -29)", "Job run at Tue Aug 08 at 01:38 on (server1:ncpus=1) and finished; JOB_EXEC_KILL_WALLTIME: killed over its walltime"},
		"113.server1":    {pilot.Cancelled, "F (Exit_status 271)", "Job run at Tue Aug 08 at 01:38 on (server1:ncpus=1) and finished; killed by signal 15"},
		"114.server1":    {pilot.Cancelled, "F", "Job deleted by user1 before it ran"},
		"115.server1":    {pilot.Failed, "F (Exit_status 3)", "its script exited 3"},
		"116.server1":    {pilot.NodeFail, "F (Exit_status -20)", "JOB_EXEC_RERUN_MS_FAIL: lost the mother superior MoM"},
		"117.server1":    {pilot.Completed, "F (Exit_status 0)", ""},
	} {
		st, ok := got[id]
		if !ok {
			t.Errorf("job %s missing", id)
			continue
		}
		if st.ID != id || st.State != want.state || st.Raw != want.raw || st.Reason != want.reason {
			t.Errorf("job %s = %+v, want %s %q %q", id, st, want.state, want.raw, want.reason)
		}
		if owners[id] != "user1" {
			t.Errorf("job %s owner %q", id, owners[id])
		}
	}
	if len(got) != 18 {
		t.Errorf("%d jobs, want 18", len(got))
	}
	if got["101.server1"].Name != "fx-ep1-q" {
		t.Errorf("name %q", got["101.server1"].Name)
	}
}

func TestParseQstatRunning(t *testing.T) {
	got, _, err := parseQstat(readData(t, "qstat-running.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := pilot.JobStatus{ID: "1.server1", Name: "fx-ep1-b1", State: pilot.Running, Raw: "R", Reason: "Job run at Tue Aug 08 at 01:38 on (server1:ncpus=1)"}
	if len(got) != 1 || got["1.server1"] != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestExitState: every JOB_EXEC_* code of the Reference Guide, and the
// ranges around them.
func TestExitState(t *testing.T) {
	want := map[int]pilot.State{
		0: pilot.Completed, 1: pilot.Failed, 255: pilot.Failed, 256: pilot.Failed,
		257: pilot.Cancelled, 265: pilot.Cancelled, 271: pilot.Cancelled,
		-29: pilot.Timeout, -14: pilot.NodeFail, -20: pilot.NodeFail,
		-11: pilot.Preempted, -12: pilot.Preempted, -15: pilot.Preempted,
		-8: pilot.Failed, -31: pilot.Failed, -1000: pilot.Failed,
	}
	for _, c := range []int{-1, -2, -3, -4, -5, -6, -7, -10, -13, -16, -17, -18, -19, -21, -22, -23, -24, -25, -26, -27, -28, -30} {
		want[c] = pilot.Failed
	}
	for code, w := range want {
		if got, why := exitState(code); got != w {
			t.Errorf("exitState(%d) = %s (%s), want %s", code, got, why, w)
		}
	}
	for code, c := range execCodes {
		if _, why := exitState(code); why != c.name || !strings.HasPrefix(why, "JOB_EXEC_") {
			t.Errorf("exitState(%d) says %q", code, why)
		}
	}
}

func TestParseQstatBad(t *testing.T) {
	for name, bad := range map[string]string{
		"not json":   "qstat: Unknown Job Id 1.server1\n",
		"truncated":  `{"Jobs":{"1.s":{"job_state":"R"`,
		"bad id":     `{"Jobs":{"-u root":{"job_state":"R"}}}`,
		"bad exit":   `{"Jobs":{"1.s":{"job_state":"F","Exit_status":"soon"}}}`,
		"jobs array": `{"Jobs":[1,2]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := parseQstat([]byte(bad)); !isKind(err, fault.Invalid) {
				t.Fatalf("parseQstat(%q) = %v, want an invalid error", bad, err)
			}
		})
	}
	for _, empty := range []string{"", "\n", `{"timestamp":1}`, `{"Jobs":{}}`} {
		if got, _, err := parseQstat([]byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("parseQstat(%q) = %v, %v; want no jobs", empty, got, err)
		}
	}
	got, _, err := parseQstat([]byte(`{"Jobs":{"1.s":{"job_state":"Z"}}}`))
	if err != nil || got["1.s"].State != pilot.Unknown || got["1.s"].Raw != "Z" {
		t.Fatalf("a state with no mapping: %+v, %v", got, err)
	}
}

func TestParseQsub(t *testing.T) {
	if id, err := parseQsub(readData(t, "qsub.out")); err != nil || id != "1234.server1" {
		t.Fatalf("parseQsub(qsub.out) = %q, %v", id, err)
	}
	for _, ok := range []string{"7", "12[].pbs-01.example.org", "1.s\n"} {
		if _, err := parseQsub([]byte(ok)); err != nil {
			t.Errorf("parseQsub(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "qsub: Unknown queue", "1234.server1 extra", "-W force"} {
		if id, err := parseQsub([]byte(bad)); err == nil {
			t.Errorf("parseQsub(%q) = %q, want an error", bad, id)
		}
	}
}

func TestGone(t *testing.T) {
	if !onlyUnknown(string(readData(t, "qdel-gone.err"))) || !onlyUnknown(string(readData(t, "qstat-unknown.err"))) {
		t.Fatal("unknown and finished jobs are not read as gone")
	}
	if onlyUnknown(string(readData(t, "qsub-badqueue.err"))) || onlyUnknown("") || onlyUnknown("qdel: Unknown Job Id 1.s\nqdel: Unauthorized Request 2.s") {
		t.Fatal("another error is read as gone")
	}
}

// FuzzParseQstat: whatever qstat prints, parsing neither panics nor
// returns a job with a bad ID or an unmapped state.
func FuzzParseQstat(f *testing.F) {
	for _, name := range []string{"qstat-running.json", "qstat-states.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Jobs":{"1.s":{"job_state":"F","Exit_status":"-29"}}}`))
	f.Fuzz(func(t *testing.T, out []byte) {
		jobs, _, err := parseQstat(out)
		if err != nil {
			return
		}
		for id, j := range jobs {
			if id != j.ID || !idRe.MatchString(id) {
				t.Fatalf("job ID %q / %q", id, j.ID)
			}
			switch j.State {
			case pilot.Pending, pilot.Running, pilot.Completing, pilot.Completed, pilot.Failed,
				pilot.Timeout, pilot.NodeFail, pilot.Preempted, pilot.Cancelled, pilot.Unknown:
			default:
				t.Fatalf("state %q", j.State)
			}
		}
		if id, err := parseQsub(out); err == nil && !idRe.MatchString(id) {
			t.Fatalf("qsub ID %q", id)
		}
	})
}
