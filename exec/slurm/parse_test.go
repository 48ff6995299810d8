package slurm

import (
	"errors"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// everyState is each state of squeue(1)'s "JOB STATE CODES" (Slurm
// 22.05), long and short, with the flags newer versions print, and what it
// maps to.
var everyState = []struct {
	long, short string
	want        pilot.State
}{
	{"PENDING", "PD", pilot.Pending},
	{"CONFIGURING", "CF", pilot.Pending},
	{"POWER_UP_NODE", "PU", pilot.Pending},
	{"REQUEUED", "RQ", pilot.Pending},
	{"REQUEUE_FED", "RF", pilot.Pending},
	{"REQUEUE_HOLD", "RH", pilot.Pending},
	{"RESV_DEL_HOLD", "RD", pilot.Pending},
	{"SUSPENDED", "S", pilot.Pending},
	{"STOPPED", "ST", pilot.Pending},
	{"RUNNING", "R", pilot.Running},
	{"RESIZING", "RS", pilot.Running},
	{"SIGNALING", "SI", pilot.Running},
	{"COMPLETING", "CG", pilot.Completing},
	{"STAGE_OUT", "SO", pilot.Completing},
	{"COMPLETED", "CD", pilot.Completed},
	{"FAILED", "F", pilot.Failed},
	{"BOOT_FAIL", "BF", pilot.Failed},
	{"LAUNCH_FAILED", "LF", pilot.Failed},
	{"OUT_OF_MEMORY", "OOM", pilot.Failed},
	{"SPECIAL_EXIT", "SE", pilot.Failed},
	{"TIMEOUT", "TO", pilot.Timeout},
	{"DEADLINE", "DL", pilot.Timeout},
	{"NODE_FAIL", "NF", pilot.NodeFail},
	{"PREEMPTED", "PR", pilot.Preempted},
	{"CANCELLED", "CA", pilot.Cancelled},
	{"REVOKED", "RV", pilot.Cancelled},
}

// TestParseSqueueStates reads every state from lines written as squeue -h
// -o '%i|%T|%r|%u|%j' prints them (and with %t, the short form).
func TestParseSqueueStates(t *testing.T) {
	for _, c := range everyState {
		for _, raw := range []string{c.long, c.short} {
			t.Run(raw, func(t *testing.T) {
				out := "4242|" + raw + "|Priority|alice|fx-ep1-b7\n"
				jobs, err := parseSqueue([]byte(out))
				if err != nil {
					t.Fatal(err)
				}
				want := pilot.JobStatus{ID: "4242", Name: "fx-ep1-b7", State: c.want, Raw: raw, Reason: "Priority"}
				if len(jobs) != 1 || jobs[0] != want {
					t.Fatalf("parseSqueue(%q) = %+v, want [%+v]", out, jobs, want)
				}
			})
		}
	}
}

func TestParseStateForms(t *testing.T) {
	for raw, want := range map[string]pilot.State{
		"CANCELLED by 0":    pilot.Cancelled, // sacct
		"CANCELLED by 1001": pilot.Cancelled,
		"CANCELLED+":        pilot.Cancelled, // sacct, truncated
		"running":           pilot.Running,
		" PD ":              pilot.Pending,
		"":                  pilot.Unknown,
		"SOMETHING_NEW":     pilot.Unknown,
		"R2":                pilot.Unknown,
	} {
		if got := parseState(raw); got != want {
			t.Errorf("parseState(%q) = %s, want %s", raw, got, want)
		}
	}
}

func TestParseSqueue(t *testing.T) {
	out := strings.Join([]string{
		"CLUSTER: fxmesh",
		"101|RUNNING|None|alice|fx-a-1",
		"102|PENDING|ReqNodeNotAvail, UnavailableNodes:n[1-2]|bob|fx|with|bars",
		"103_4|COMPLETING|None|alice|fx-a-2\r",
		"104+1|CANCELLED|None|root|",
		"",
	}, "\n")
	jobs, err := parseSqueue([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []pilot.JobStatus{
		{ID: "101", Name: "fx-a-1", State: pilot.Running, Raw: "RUNNING"},
		{ID: "102", Name: "fx|with|bars", State: pilot.Pending, Raw: "PENDING", Reason: "ReqNodeNotAvail, UnavailableNodes:n[1-2]"},
		{ID: "103_4", Name: "fx-a-2", State: pilot.Completing, Raw: "COMPLETING"},
		{ID: "104+1", Name: "", State: pilot.Cancelled, Raw: "CANCELLED"},
	}
	if len(jobs) != len(want) {
		t.Fatalf("got %+v", jobs)
	}
	for i := range want {
		if jobs[i] != want[i] {
			t.Errorf("job %d = %+v, want %+v", i, jobs[i], want[i])
		}
	}
	for name, bad := range map[string]string{
		"fields":   "101|RUNNING|None|alice\n",
		"id":       "abc|RUNNING|None|alice|x\n",
		"error":    "slurm_load_jobs error: Invalid job id specified\n",
		"long":     "1|R|None|u|" + strings.Repeat("x", maxLine) + "\n",
		"empty id": "|RUNNING|None|alice|x\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseSqueue([]byte(bad)); !isKind(err, fault.Invalid) {
				t.Fatalf("parseSqueue(%.40q) = %v, want an invalid error", bad, err)
			}
		})
	}
}

func TestParseSacct(t *testing.T) {
	out := "7|fx-a|CANCELLED by 0\n8|fx|b|COMPLETED\n9|x|FAILED\nnot a line\n9.batch|batch|FAILED\n"
	got := parseSacct([]byte(out))
	want := []pilot.JobStatus{
		{ID: "7", Name: "fx-a", State: pilot.Cancelled, Raw: "CANCELLED by 0"},
		{ID: "8", Name: "fx|b", State: pilot.Completed, Raw: "COMPLETED"},
		{ID: "9", Name: "x", State: pilot.Failed, Raw: "FAILED"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("job %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseSbatch(t *testing.T) {
	for out, want := range map[string]string{
		"1234\n":             "1234",
		"1234;cluster-a\n":   "1234;cluster-a",
		"  77  ":             "77",
		"note: x\n1234;c2\n": "1234;c2",
	} {
		if got, err := parseSbatch([]byte(out)); err != nil || got != want {
			t.Errorf("parseSbatch(%q) = %q, %v; want %q", out, got, err, want)
		}
	}
	for _, bad := range []string{"", "Submitted batch job 12\n", "12;\n", "-u root\n", "12;a b\n"} {
		if got, err := parseSbatch([]byte(bad)); err == nil {
			t.Errorf("parseSbatch(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSplitID(t *testing.T) {
	for id, want := range map[string][2]string{
		"12":       {"12", ""},
		"12;fx":    {"12", "fx"},
		"12_3":     {"12_3", ""},
		"12+1;a.b": {"12+1", "a.b"},
	} {
		job, cluster, err := splitID(id)
		if err != nil || job != want[0] || cluster != want[1] {
			t.Errorf("splitID(%q) = %q, %q, %v", id, job, cluster, err)
		}
	}
	for _, bad := range []string{"", "-j", "12,13", "12;", "12;-M", "x12"} {
		if _, _, err := splitID(bad); !isKind(err, fault.Invalid) {
			t.Errorf("splitID(%q) = %v, want an invalid error", bad, err)
		}
	}
}

func isKind(err error, k fault.Kind) bool {
	var fe *fault.Error
	return errors.As(err, &fe) && fe.Kind == k
}

// FuzzParseSqueue: whatever squeue prints, parsing neither panics nor
// returns a job without a valid ID or state.
func FuzzParseSqueue(f *testing.F) {
	f.Add([]byte("101|RUNNING|None|alice|fx-a-1\n102|PD|Priority|bob|fx|x\n"))
	f.Add([]byte("CLUSTER: fxmesh\n103_4|COMPLETING|None|alice|\r\n"))
	f.Add([]byte("7|fx-a|CANCELLED by 0\n"))
	f.Add([]byte("slurm_load_jobs error: Invalid job id specified\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		jobs, err := parseSqueue(out)
		if err != nil {
			if jobs != nil {
				t.Fatal("jobs with an error")
			}
		}
		for _, j := range jobs {
			if !jobIDRe.MatchString(j.ID) {
				t.Fatalf("job ID %q", j.ID)
			}
			if j.State != parseState(j.Raw) {
				t.Fatalf("state %s of %q", j.State, j.Raw)
			}
		}
		for _, j := range parseSacct(out) {
			if !jobIDRe.MatchString(j.ID) {
				t.Fatalf("sacct job ID %q", j.ID)
			}
		}
		if id, err := parseSbatch(out); err == nil {
			if _, _, err := splitID(id); err != nil {
				t.Fatalf("sbatch ID %q: %v", id, err)
			}
		}
	})
}

// TestOnlyGone: scancel's complaints about jobs that ended or that Slurm
// forgot are no error (as scancel -v prints them; newer versions exit 1).
func TestOnlyGone(t *testing.T) {
	gone := "scancel: error: Kill job error on job id 99999991: Invalid job id specified\n" +
		"scancel: error: Kill job error on job id 12: Job/step already completing or completed\n"
	if !onlyGone(gone) {
		t.Fatal("ended and unknown jobs read as an error")
	}
	for _, other := range []string{"", "scancel: error: Kill job error on job id 12: Access/permission denied", gone + "scancel: error: Unable to contact slurm controller"} {
		if onlyGone(other) {
			t.Errorf("%q read as gone", other)
		}
	}
}
