package pbs

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/exec/pilot"
	"github.com/fxmesh/fxmesh/fault"
)

// qstatJob is what the provider reads of one job in qstat -f -F json.
type qstatJob struct {
	Name    string          `json:"Job_Name"`
	Owner   string          `json:"Job_Owner"` // user@host
	State   string          `json:"job_state"`
	Exit    json.RawMessage `json:"Exit_status"` // a number; some versions quote it
	Comment string          `json:"comment"`
}

// qstatOutput is qstat -f -F json's document.
type qstatOutput struct {
	Jobs map[string]qstatJob `json:"Jobs"`
}

// maxJobs bounds the jobs one qstat output may list.
const maxJobs = 1 << 20

// parseQstat reads qstat -f -F json; an empty output (qstat printed
// nothing: no jobs, or only unknown ones) is no jobs.
func parseQstat(out []byte) (map[string]pilot.JobStatus, map[string]string, error) {
	statuses := map[string]pilot.JobStatus{}
	owners := map[string]string{}
	if len(bytes.TrimSpace(out)) == 0 {
		return statuses, owners, nil
	}
	var doc qstatOutput
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, nil, fault.E(fault.Invalid, "pbs: qstat", "output is not qstat's JSON: %v", err)
	}
	if len(doc.Jobs) > maxJobs {
		return nil, nil, fault.E(fault.TooLarge, "pbs: qstat", "%d jobs", len(doc.Jobs))
	}
	for id, j := range doc.Jobs {
		if !idRe.MatchString(id) {
			return nil, nil, fault.E(fault.Invalid, "pbs: qstat", "job ID %q is not NUMBER.SERVER", clip(id))
		}
		st, err := jobStatus(j)
		if err != nil {
			return nil, nil, fault.E(fault.Invalid, "pbs: qstat", "job %s: %v", id, err)
		}
		st.ID = id
		statuses[id] = st
		owner, _, _ := strings.Cut(j.Owner, "@")
		owners[id] = owner
	}
	return statuses, owners, nil
}

// jobStatus maps one job's state and exit status.
func jobStatus(j qstatJob) (pilot.JobStatus, error) {
	st := pilot.JobStatus{Name: j.Name, Raw: j.State, Reason: j.Comment}
	switch j.State {
	case "Q", "H", "W", "T", "S", "U":
		st.State = pilot.Pending
	case "R", "B":
		st.State = pilot.Running
	case "E":
		st.State = pilot.Completing
	case "M":
		st.State = pilot.Unknown
		if st.Reason == "" {
			st.Reason = "moved to another server"
		}
	case "F", "X":
		code, ok, err := exitStatus(j.Exit)
		if err != nil {
			return st, err
		}
		if !ok {
			st.State = pilot.Cancelled
			if st.Reason == "" {
				st.Reason = "finished without an exit status: deleted before it ran"
			}
			break
		}
		var why string
		st.State, why = exitState(code)
		st.Raw += " (Exit_status " + strconv.Itoa(code) + ")"
		if why != "" {
			st.Reason = strings.TrimPrefix(st.Reason+"; "+why, "; ")
		}
	default:
		st.State = pilot.Unknown
	}
	return st, nil
}

// exitStatus reads Exit_status: absent, a number, or a quoted number.
func exitStatus(raw json.RawMessage) (int, bool, error) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false, fault.E(fault.Invalid, "pbs: qstat", "Exit_status %s is not a number", clip(string(raw)))
	}
	return n, true, nil
}

// execCodes are PBS's own exit statuses, JOB_EXEC_* (PBS Professional
// Reference Guide, "Job Exit Status Codes"), and what each means for a
// block.
var execCodes = map[int]struct {
	name  string
	state pilot.State
}{
	-1:  {"JOB_EXEC_FAIL1: exec failed before files, no retry", pilot.Failed},
	-2:  {"JOB_EXEC_FAIL2: exec failed after files, no retry", pilot.Failed},
	-3:  {"JOB_EXEC_RETRY: exec failed, to be retried", pilot.Failed},
	-4:  {"JOB_EXEC_INITABT: aborted on MoM initialization", pilot.Failed},
	-5:  {"JOB_EXEC_INITRST: aborted on MoM initialization, checkpoint, no migrate", pilot.Failed},
	-6:  {"JOB_EXEC_INITRMG: aborted on MoM initialization, checkpoint, ok migrate", pilot.Failed},
	-7:  {"JOB_EXEC_BADRESRT: restart failed", pilot.Failed},
	-10: {"JOB_EXEC_FAILUID: invalid uid or gid", pilot.Failed},
	-11: {"JOB_EXEC_RERUN: rerun", pilot.Preempted},
	-12: {"JOB_EXEC_CHKP: checkpointed and killed", pilot.Preempted},
	-13: {"JOB_EXEC_FAIL_PASSWORD: bad password", pilot.Failed},
	-14: {"JOB_EXEC_RERUN_SIS_FAIL: lost a sister MoM", pilot.NodeFail},
	-15: {"JOB_EXEC_QUERST: requeued for restart from checkpoint", pilot.Preempted},
	-16: {"JOB_EXEC_FAILHOOK_RERUN: a hook rejected its execution, requeued", pilot.Failed},
	-17: {"JOB_EXEC_FAILHOOK_DELETE: a hook rejected its execution, deleted", pilot.Failed},
	-18: {"JOB_EXEC_HOOK_RERUN: a hook requeued it", pilot.Failed},
	-19: {"JOB_EXEC_HOOK_DELETE: a hook deleted it", pilot.Failed},
	-20: {"JOB_EXEC_RERUN_MS_FAIL: lost the mother superior MoM", pilot.NodeFail},
	-21: {"JOB_EXEC_FAIL_SECURITY: security breach in PBS directory", pilot.Failed},
	-22: {"JOB_EXEC_HOOKERROR: a hook failed or timed out", pilot.Failed},
	-23: {"JOB_EXEC_FAIL_KRB5: no Kerberos credentials", pilot.Failed},
	-24: {"JOB_EXEC_KILL_NCPUS_BURST: killed over its ncpus (burst)", pilot.Failed},
	-25: {"JOB_EXEC_KILL_NCPUS_SUM: killed over its ncpus (sum)", pilot.Failed},
	-26: {"JOB_EXEC_KILL_VMEM: killed over its vmem", pilot.Failed},
	-27: {"JOB_EXEC_KILL_MEM: killed over its mem", pilot.Failed},
	-28: {"JOB_EXEC_KILL_CPUT: killed over its cput", pilot.Failed},
	-29: {"JOB_EXEC_KILL_WALLTIME: killed over its walltime", pilot.Timeout},
	-30: {"JOB_EXEC_JOINJOB: join job error", pilot.Failed},
}

// exitState maps a finished job's Exit_status, and says why.
func exitState(code int) (pilot.State, string) {
	switch {
	case code == 0:
		return pilot.Completed, ""
	case code > 256:
		return pilot.Cancelled, "killed by signal " + strconv.Itoa(code-256)
	case code > 0:
		return pilot.Failed, "its script exited " + strconv.Itoa(code)
	}
	if c, ok := execCodes[code]; ok {
		return c.state, c.name
	}
	return pilot.Failed, "PBS exit status " + strconv.Itoa(code)
}

// idRe is a PBS job ID: "1234.server", "1234[].server", "1234[7].server",
// or a bare number.
var idRe = regexp.MustCompile(`^[0-9]+(\[[0-9]*\])?(\.[A-Za-z0-9][A-Za-z0-9_.\-]*)?$`)

// parseQsub reads what qsub prints: the job's ID on its last line.
func parseQsub(out []byte) (string, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if !idRe.MatchString(last) {
		return "", fault.E(fault.Internal, "pbs: qsub", "printed %q, not a job ID", clip(string(out)))
	}
	return last, nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
