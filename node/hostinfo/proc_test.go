package hostinfo

import (
	"strings"
	"testing"
)

// hostSection returns a section of host.txt, whose sections (lscpu, the head
// of /proc/meminfo, then nproc, uname and os-release) are separated by "---"
// lines.
func hostSection(t *testing.T, i int) string {
	t.Helper()
	sections := strings.Split(string(readTestdata(t, "host.txt")), "---\n")
	if len(sections) != 3 {
		t.Fatalf("host.txt has %d sections, want 3", len(sections))
	}
	return sections[i]
}

func realLscpu(t *testing.T) string   { return hostSection(t, 0) }
func realMeminfo(t *testing.T) string { return hostSection(t, 1) }

// x86Cpuinfo is /proc/cpuinfo of a two-CPU x86 machine, shortened.
const x86Cpuinfo = `processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 207
model name	: Intel(R) Xeon(R) Processor
flags		: fpu vme de pse tsc msr

processor	: 1
vendor_id	: GenuineIntel
cpu family	: 6
model		: 207
model name	: Intel(R) Xeon(R) Processor
flags		: fpu vme de pse tsc msr
`

// arm64Cpuinfo is /proc/cpuinfo of an arm64 machine: it names no model.
const arm64Cpuinfo = `processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x3
CPU part	: 0xd0c
CPU revision	: 1
`

func TestParseCPUModel(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"x86 cpuinfo", x86Cpuinfo, "Intel(R) Xeon(R) Processor"},
		{"real lscpu", realLscpu(t), "Intel(R) Xeon(R) Processor"},
		{"arm64 cpuinfo", arm64Cpuinfo, ""},
		{"lscpu without a name", "Architecture: aarch64\nModel name: -\nModel: 1\n", ""},
		{"lscpu with a later name", "Model name: -\nModel name: Neoverse-N1\n", "Neoverse-N1"},
		{"empty", "", ""},
		{"no colon", "model name Intel\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseCPUModel([]byte(tc.in)); got != tc.want {
				t.Fatalf("parseCPUModel = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   uint64
		wantOK bool
	}{
		{"real meminfo", realMeminfo(t), 131981020 * 1024, true},
		{"no unit", "MemTotal: 4096\n", 4096, true},
		{"missing", "MemFree: 1 kB\n", 0, false},
		{"empty", "", 0, false},
		{"not a number", "MemTotal: many kB\n", 0, false},
		{"unknown unit", "MemTotal: 1 MB\n", 0, false},
		{"too many fields", "MemTotal: 1 kB x\n", 0, false},
		{"no value", "MemTotal:\n", 0, false},
		{"overflow", "MemTotal: 18446744073709551615 kB\n", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseMemTotal([]byte(tc.in))
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("parseMemTotal = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParsePythonProbe(t *testing.T) {
	tests := []struct {
		name        string
		out         string
		wantExe     string
		wantVersion string
		wantErr     string
	}{
		{"pyenv", "/root/.pyenv/versions/3.11.7/bin/python3\n3.11.7\n", "/root/.pyenv/versions/3.11.7/bin/python3", "3.11.7", ""},
		{"python 2", "/usr/bin/python2.7\n2.7.18\n", "/usr/bin/python2.7", "2.7.18", ""},
		{"CRLF", "/usr/bin/python3.12\r\n3.12.1\r\n", "/usr/bin/python3.12", "3.12.1", ""},
		{"empty", "", "", "", "1 lines, want 2"},
		{"pyenv complaint", "pyenv: python3.8: command not found\n", "", "", "1 lines, want 2"},
		{"no executable", "\n3.11.7\n", "", "", "1 lines, want 2"},
		{"relative executable", "python3\n3.11.7\n", "", "", `executable "python3" is not an absolute path`},
		{"bad version", "/usr/bin/python3\n3.11\n", "", "", `version "3.11" is not N.N.N`},
		{"release level in version", "/usr/bin/python3\n3.13.0rc1\n", "", "", `version "3.13.0rc1" is not N.N.N`},
		{"extra output", "/usr/bin/python3\n3.11.7\nhello\n", "", "", "3 lines, want 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exe, version, err := parsePythonProbe([]byte(tc.out))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "hostinfo: parse python probe: ") {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if exe != tc.wantExe || version != tc.wantVersion {
				t.Fatalf("parsePythonProbe = %q, %q; want %q, %q", exe, version, tc.wantExe, tc.wantVersion)
			}
		})
	}
}
