package hostinfo

import (
	"math"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/routing"
)

// ParseNvidiaSMI reads the GPUs from the output of
//
//	nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits
//
// one "NAME, MIB" line per GPU, e.g. "NVIDIA H200, 143771". It also reads the
// output of --format=csv, whose first line is a header naming the columns
// ("name, memory.total [MiB]", other queried columns allowed, in any order)
// and whose memory values carry a " MiB" unit.
//
// Blank lines are skipped; empty output means no GPUs (nil, nil). Any other
// line that is not a GPU is an error of kind fault.Invalid naming the line.
func ParseNvidiaSMI(out []byte) ([]routing.GPU, error) {
	const op = "hostinfo: parse nvidia-smi"
	nameCol, memCol, width := 0, 1, 2
	var gpus []routing.GPU
	first := true
	for i, line := range strings.Split(string(out), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fields := strings.Split(line, ",")
		for j := range fields {
			fields[j] = strings.TrimSpace(fields[j])
		}
		if first {
			first = false
			if isNvidiaSMIHeader(fields) {
				nameCol, memCol = -1, -1
				for j, f := range fields {
					switch {
					case f == "name":
						nameCol = j
					case f == "memory.total" || strings.HasPrefix(f, "memory.total "):
						memCol = j
					}
				}
				if nameCol < 0 || memCol < 0 {
					return nil, fault.E(fault.Invalid, op, "line %d: header %q lacks a name or memory.total column", n, line)
				}
				width = len(fields)
				continue
			}
		}
		if len(fields) != width {
			return nil, fault.E(fault.Invalid, op, "line %d: %q has %d columns, want %d", n, line, len(fields), width)
		}
		name := fields[nameCol]
		if name == "" {
			return nil, fault.E(fault.Invalid, op, "line %d: %q has an empty name", n, line)
		}
		mem := fields[memCol]
		mib, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(mem, "MiB")), 10, 64)
		if err != nil {
			return nil, fault.E(fault.Invalid, op, "line %d: memory %q is not a number of MiB", n, mem)
		}
		if mib > math.MaxUint64>>20 {
			return nil, fault.E(fault.Invalid, op, "line %d: memory %q is too large", n, mem)
		}
		gpus = append(gpus, routing.GPU{Model: name, MemoryBytes: mib << 20})
	}
	return gpus, nil
}

// isNvidiaSMIHeader reports whether fields are the header line of
// --format=csv: it names a name or a memory.total column.
func isNvidiaSMIHeader(fields []string) bool {
	for _, f := range fields {
		if f == "name" || f == "memory.total" || strings.HasPrefix(f, "memory.total [") {
			return true
		}
	}
	return false
}
