package hostinfo

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/routing"
)

// h200Dir holds real nvidia-smi outputs of a host with one H200.
const h200Dir = "../../testdata/nvidia-smi-h200"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h200Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const mib = 1 << 20

func TestParseNvidiaSMI(t *testing.T) {
	h200 := readTestdata(t, "query-name-memory.csv")
	h200GPU := routing.GPU{Model: "NVIDIA H200", MemoryBytes: 143771 * mib}
	a100GPU := routing.GPU{Model: "NVIDIA A100-SXM4-80GB", MemoryBytes: 81920 * mib}
	a100 := "NVIDIA A100-SXM4-80GB, 81920\n"

	tests := []struct {
		name    string
		out     string
		want    []routing.GPU
		wantErr string // a part of the error; "" for none
	}{
		{name: "none", out: "", want: nil},
		{name: "blank lines only", out: "\n  \n", want: nil},
		{name: "one real H200", out: string(h200), want: []routing.GPU{h200GPU}},
		{
			name: "four GPUs",
			out:  string(h200) + string(h200) + a100 + string(h200),
			want: []routing.GPU{h200GPU, h200GPU, a100GPU, h200GPU},
		},
		{name: "CRLF and blank lines", out: "\r\nNVIDIA H200, 143771\r\n\r\n" + a100, want: []routing.GPU{h200GPU, a100GPU}},
		{name: "real csv with header and units", out: string(readTestdata(t, "query-full.csv")), want: []routing.GPU{h200GPU}},
		{
			name: "csv header, memory first",
			out:  "memory.total [MiB], name\n143771 MiB, NVIDIA H200\n81920 MiB, NVIDIA A100-SXM4-80GB\n",
			want: []routing.GPU{h200GPU, a100GPU},
		},
		{name: "csv header only", out: "name, memory.total [MiB]\n", want: nil},
		{name: "missing column", out: "NVIDIA H200\n", wantErr: `line 1: "NVIDIA H200" has 1 columns, want 2`},
		{name: "missing column on a later line", out: string(h200) + "NVIDIA H200\n", wantErr: "line 2:"},
		{name: "extra column", out: "0, NVIDIA H200, 143771\n", wantErr: "has 3 columns, want 2"},
		{name: "missing column under header", out: "name, memory.total [MiB], index\nNVIDIA H200, 143771 MiB\n", wantErr: "line 2: \"NVIDIA H200, 143771 MiB\" has 2 columns, want 3"},
		{name: "non-numeric memory", out: "NVIDIA H200, lots\n", wantErr: `line 1: memory "lots" is not a number of MiB`},
		{name: "memory not available", out: "NVIDIA GH200 480GB, [N/A]\n", wantErr: `memory "[N/A]" is not a number of MiB`},
		{name: "negative memory", out: "NVIDIA H200, -1\n", wantErr: `memory "-1" is not a number of MiB`},
		{name: "memory in other units", out: "name, memory.total [MiB]\nNVIDIA H200, 140 GiB\n", wantErr: `memory "140 GiB" is not a number of MiB`},
		{name: "memory too large", out: "NVIDIA H200, 18446744073709551615\n", wantErr: "too large"},
		{name: "empty name", out: ", 143771\n", wantErr: "has an empty name"},
		{name: "header without memory", out: "index, name\n0, NVIDIA H200\n", wantErr: "lacks a name or memory.total column"},
		{name: "not csv", out: "No devices were found\n", wantErr: "has 1 columns, want 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNvidiaSMI([]byte(tc.out))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseNvidiaSMI = %v, nil; want an error with %q", got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "hostinfo: parse nvidia-smi: ") {
					t.Fatalf("error = %q, want it to start with \"hostinfo: parse nvidia-smi: \" and contain %q", err, tc.wantErr)
				}
				if !fault.Is(err, fault.Invalid) {
					t.Fatalf("error kind = %q, want %q", fault.KindOf(err), fault.Invalid)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNvidiaSMI: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseNvidiaSMI = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestH200TestdataAgrees checks that the other real outputs describe the
// same GPU the parsed ones do, so the fixtures cannot drift apart.
func TestH200TestdataAgrees(t *testing.T) {
	for _, name := range []string{"list.txt", "default.txt", "query.xml", "README.md"} {
		b := readTestdata(t, name)
		if !strings.Contains(string(b), "H200") {
			t.Errorf("%s does not mention the H200", name)
		}
	}
	if !strings.Contains(string(readTestdata(t, "default.txt")), "143771MiB") {
		t.Error("default.txt does not show 143771MiB")
	}
	if !strings.Contains(string(readTestdata(t, "query.xml")), "<total>143771 MiB</total>") {
		t.Error("query.xml does not show a total of 143771 MiB")
	}
}

func FuzzParseNvidiaSMI(f *testing.F) {
	f.Add([]byte("NVIDIA H200, 143771\n"))
	f.Add([]byte("index, uuid, name, memory.total [MiB]\n0, GPU-x, NVIDIA H200, 143771 MiB\n"))
	f.Add([]byte("name\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		gpus, err := ParseNvidiaSMI(out)
		if err != nil {
			return
		}
		for _, g := range gpus {
			if g.Model == "" || g.MemoryBytes%mib != 0 {
				t.Fatalf("bad GPU %+v from %q", g, out)
			}
		}
	})
}
