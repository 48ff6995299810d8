package slurm

import (
	"regexp"
	"strings"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// squeueFormat is the format of squeue's lines that parseSqueue reads:
// job ID, state (long), reason, user, name. The name is last: it is the
// one field that a user chooses and that may hold the separator.
const squeueFormat = "%i|%T|%r|%u|%j"

// states maps each state squeue and sacct print, long and short, to a
// pilot.State (squeue(1), "JOB STATE CODES", Slurm 22.05; and a few state
// flags that newer versions print).
var states = map[string]pilot.State{}

func init() {
	for _, s := range []struct {
		long, short string
		state       pilot.State
	}{
		{"PENDING", "PD", pilot.Pending},
		{"CONFIGURING", "CF", pilot.Pending},   // allocated, its nodes booting
		{"POWER_UP_NODE", "PU", pilot.Pending}, // a flag: its nodes power up
		{"REQUEUED", "RQ", pilot.Pending},      // completing, then queued again
		{"REQUEUE_FED", "RF", pilot.Pending},   // queued again by a federation
		{"REQUEUE_HOLD", "RH", pilot.Pending},  // held, being queued again
		{"RESV_DEL_HOLD", "RD", pilot.Pending}, // held: its reservation was deleted
		{"SUSPENDED", "S", pilot.Pending},      // its processes are stopped; it may resume
		{"STOPPED", "ST", pilot.Pending},       // SIGSTOP: allocated, not executing
		{"RUNNING", "R", pilot.Running},        //
		{"RESIZING", "RS", pilot.Running},      // about to change size
		{"SIGNALING", "SI", pilot.Running},     // being signalled
		{"COMPLETING", "CG", pilot.Completing}, //
		{"STAGE_OUT", "SO", pilot.Completing},  // staging out files after it ran
		{"COMPLETED", "CD", pilot.Completed},   //
		{"FAILED", "F", pilot.Failed},          // non-zero exit, or another failure
		{"BOOT_FAIL", "BF", pilot.Failed},      // its node failed to boot: never ran
		{"LAUNCH_FAILED", "LF", pilot.Failed},  // a flag: could not be launched
		{"OUT_OF_MEMORY", "OOM", pilot.Failed}, //
		{"SPECIAL_EXIT", "SE", pilot.Failed},   // held in a special state after its exit
		{"TIMEOUT", "TO", pilot.Timeout},       // its time limit
		{"DEADLINE", "DL", pilot.Timeout},      // its --deadline
		{"NODE_FAIL", "NF", pilot.NodeFail},    //
		{"PREEMPTED", "PR", pilot.Preempted},   //
		{"CANCELLED", "CA", pilot.Cancelled},   //
		{"REVOKED", "RV", pilot.Cancelled},     // a federation started its sibling elsewhere
	} {
		states[s.long], states[s.short] = s.state, s.state
	}
}

// parseState maps a state as squeue or sacct prints it ("RUNNING", "CG",
// "CANCELLED by 0", "CANCELLED+") to a pilot.State; a word with no mapping
// is pilot.Unknown.
func parseState(raw string) pilot.State {
	w, _, _ := strings.Cut(strings.TrimSpace(raw), " ")
	w = strings.ToUpper(strings.TrimRight(w, "+"))
	if s, ok := states[w]; ok {
		return s
	}
	return pilot.Unknown
}

// maxLine bounds one line of squeue's or sacct's output.
const maxLine = 64 << 10

// parseSqueue reads squeue -h -o squeueFormat: one job a line. Lines
// squeue adds with -M ("CLUSTER: name") and empty lines are skipped; any
// other line that is not five fields with a job ID is an error.
func parseSqueue(out []byte) ([]pilot.JobStatus, error) {
	var jobs []pilot.JobStatus
	for n, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "CLUSTER: ") {
			continue
		}
		if len(line) > maxLine {
			return nil, fault.E(fault.Invalid, "slurm: squeue", "line %d: longer than %d bytes", n+1, maxLine)
		}
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 || !jobIDRe.MatchString(strings.TrimSpace(f[0])) {
			return nil, fault.E(fault.Invalid, "slurm: squeue", "line %d: %q is not ID|STATE|REASON|USER|NAME", n+1, clip(line))
		}
		raw := strings.TrimSpace(f[1])
		reason := strings.TrimSpace(f[2])
		if reason == "None" {
			reason = ""
		}
		jobs = append(jobs, pilot.JobStatus{ID: strings.TrimSpace(f[0]), Name: f[4], State: parseState(raw), Raw: raw, Reason: reason})
	}
	return jobs, nil
}

// parseSacct reads sacct -n -P -X -o JobID,JobName,State: "ID|NAME|STATE",
// where the name may hold "|". Lines it cannot read are skipped: sacct is
// a second opinion.
func parseSacct(out []byte) []pilot.JobStatus {
	var jobs []pilot.JobStatus
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, "\r")
		id, rest, ok := strings.Cut(line, "|")
		i := strings.LastIndexByte(rest, '|')
		if !ok || i < 0 || len(line) > maxLine || !jobIDRe.MatchString(id) {
			continue
		}
		raw := strings.TrimSpace(rest[i+1:])
		jobs = append(jobs, pilot.JobStatus{ID: id, Name: rest[:i], State: parseState(raw), Raw: raw})
	}
	return jobs
}

// jobIDRe is a job ID as squeue prints it: a number, an array task
// ("12_3", "12_[4-9]") or a heterogeneous component ("12+1").
var jobIDRe = regexp.MustCompile(`^[0-9]+(_[0-9]+|_\[[0-9,\-%]+\])?(\+[0-9]+)?$`)

// idRe is an ID the provider hands out and accepts: "ID" or "ID;cluster",
// as sbatch --parsable prints it.
var idRe = regexp.MustCompile(`^([0-9]+(?:_[0-9]+)?(?:\+[0-9]+)?)(?:;([A-Za-z0-9][A-Za-z0-9_.\-]*))?$`)

// splitID parses an ID into the job's number and its cluster ("" for the
// local one).
func splitID(id string) (job, cluster string, err error) {
	m := idRe.FindStringSubmatch(id)
	if m == nil {
		return "", "", fault.E(fault.Invalid, "slurm", "job ID %q is not NUMBER or NUMBER;CLUSTER", clip(id))
	}
	return m[1], m[2], nil
}

// parseSbatch reads what sbatch --parsable prints: "ID" or "ID;cluster",
// on its last line.
func parseSbatch(out []byte) (string, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if _, _, err := splitID(last); err != nil {
		return "", fault.E(fault.Internal, "slurm: sbatch", "printed %q, not a job ID", clip(string(out)))
	}
	return last, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
