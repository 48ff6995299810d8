package localapi

import (
	"encoding/json"
	"testing"
)

// FuzzSessionLine: any line a session's body may carry (over TCP, from
// whoever has the token) is read without a panic; a request read has
// tasks, and a task checked has inputs, no negative timeout or retries, and
// its inputs' arguments are JSON or absent; the answer is always JSON.
func FuzzSessionLine(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"tasks":[{"function":"sq","inputs":[{"args":[2]}]}]}`,
		`{"seq":2,"tasks":[{"function":"f","endpoint":"12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo","inputs":[{"kwargs":{"a":1}}],"timeout":1.5,"retries":2}]}`,
		`{"seq":3,"tasks":[{"function":"f","inputs":[{}],"timeout":1e300}]}`,
		`{"seq":4,"tasks":[]}`,
		`{"seq":5,"tasks":[{"function":"f","inputs":[{"args":"x"}],"timeout":-1}]}`,
		`{"seq":`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := parseSessionLine(line)
		if _, merr := json.Marshal(submittedEvent{Type: "submitted", Seq: req.Seq, Error: errorOf(err)}); merr != nil {
			t.Fatalf("answer not JSON: %v", merr)
		}
		if err != nil {
			return
		}
		if len(req.Tasks) == 0 {
			t.Fatal("a request without tasks was read")
		}
		for _, task := range req.Tasks {
			sr, err := checkTask(task)
			if err != nil {
				continue
			}
			if len(sr.Inputs) == 0 || sr.Timeout < 0 || sr.Retries < 0 {
				t.Fatalf("task %+v checked into %+v", task, sr)
			}
			for _, in := range sr.Inputs {
				for _, b := range [][]byte{in.Args, in.Kwargs} {
					if len(b) > 0 && !json.Valid(b) {
						t.Fatalf("input %q is not JSON", b)
					}
				}
			}
		}
	})
}
