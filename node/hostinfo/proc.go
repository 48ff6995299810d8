package hostinfo

import (
	"bufio"
	"bytes"
	"math"
	"strconv"
	"strings"
)

// parseCPUModel returns the first "model name" of /proc/cpuinfo ("model
// name\t: Intel(R) Xeon(R) ...") or of lscpu's output ("Model name:   ..."),
// or "" if there is none.
func parseCPUModel(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024) // lscpu's Flags line is long
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(key), "model name") {
			continue
		}
		// lscpu prints "-" when it cannot name the model.
		if v := strings.TrimSpace(value); v != "" && v != "-" {
			return v
		}
	}
	return ""
}

// parseMemTotal returns MemTotal of /proc/meminfo in bytes ("MemTotal:
// 131981020 kB"), and false if it is missing or malformed.
func parseMemTotal(b []byte) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "MemTotal" {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 || len(fields) > 2 {
			return 0, false
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, false
		}
		if len(fields) == 1 {
			return n, true
		}
		if fields[1] != "kB" || n > math.MaxUint64/1024 {
			return 0, false
		}
		return n * 1024, true
	}
	return 0, false
}
