package catalog

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden is testdata/golden.json: a known function and update, their
// canonical bytes and IDs. If this test fails, IDs would change across
// releases: fix the code, do not regenerate, unless the wire format changes
// on purpose (and UpdateCodec with it).
type golden struct {
	Note         string   `json:"note"`
	Function     Function `json:"function"`
	FunctionCBOR string   `json:"function_cbor"`
	FunctionID   string   `json:"function_id"`
	Update       Update   `json:"update"`
	UpdateCBOR   string   `json:"update_cbor"`
	UpdateID     string   `json:"update_id"`
}

func goldenRecords(t *testing.T) (Function, Update) {
	owner := testKey(t, 7).ID().String()
	friend := testKey(t, 8).ID().String()
	fn := Function{
		Name:         "cryo-em.ctf-estimate",
		Kind:         KindPython,
		Source:       "import math\n\ndef estimate(path, pixel_size=1.06):\n    return {\"path\": path, \"defocus\": math.pi * pixel_size}\n",
		Entry:        "estimate",
		Description:  "Estimate the CTF of a micrograph. Ünïcödé survives.",
		Container:    "ghcr.io/fxmesh/cryo:2026.1",
		Requirements: []string{"dataset=cryo-2026", "gpus>=1", "python>=3.10"},
		Owner:        owner,
		Version:      3,
		Created:      1767225600, // 2026-01-01T00:00:00Z
	}
	id, err := fn.ID()
	if err != nil {
		t.Fatal(err)
	}
	u := Update{
		Op: OpPublish, Owner: owner, Name: fn.Name, Seq: 1767225600000000000, Time: 1767225600,
		Access: Access{Users: []string{friend}},
		Versions: []VersionRef{
			{Version: 1, ID: idOf([]byte("v1"))},
			{Version: 3, ID: id},
		},
		Function: &fn,
	}
	return fn, u
}

func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "golden.json")
	fn, u := goldenRecords(t)
	fb, err := fn.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ub, err := marshal(&u)
	if err != nil {
		t.Fatal(err)
	}
	got := golden{
		Note:         "catalog wire format pin: canonical CBOR (hex) and CIDs of a known function and update; regenerate only on purpose: go test ./catalog -run TestGolden -update",
		Function:     fn,
		FunctionCBOR: hex.EncodeToString(fb),
		FunctionID:   idOf(fb).String(),
		Update:       u,
		UpdateCBOR:   hex.EncodeToString(ub),
		UpdateID:     idOf(ub).String(),
	}
	if *update {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(got); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var want golden
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if got.FunctionCBOR != want.FunctionCBOR {
		t.Errorf("function bytes changed:\n got %s\nwant %s", got.FunctionCBOR, want.FunctionCBOR)
	}
	if got.FunctionID != want.FunctionID {
		t.Errorf("function ID changed: got %s, want %s", got.FunctionID, want.FunctionID)
	}
	if got.UpdateCBOR != want.UpdateCBOR {
		t.Errorf("update bytes changed:\n got %s\nwant %s", got.UpdateCBOR, want.UpdateCBOR)
	}
	if got.UpdateID != want.UpdateID {
		t.Errorf("update ID changed: got %s, want %s", got.UpdateID, want.UpdateID)
	}

	// The pinned bytes decode to the pinned records and IDs, from the file
	// alone: another implementation can check itself against it.
	wb, _ := hex.DecodeString(want.FunctionCBOR)
	f2, id2, err := DecodeFunction(wb, Limits{})
	if err != nil {
		t.Fatalf("golden function does not decode: %v", err)
	}
	if id2.String() != want.FunctionID || f2.Description != want.Function.Description {
		t.Errorf("golden function decodes to %s %q", id2, f2.Description)
	}
	parsed, err := ParseID(want.FunctionID)
	if err != nil || parsed != id2 {
		t.Errorf("ParseID(%s) = %v, %v", want.FunctionID, parsed, err)
	}
	wu, _ := hex.DecodeString(want.UpdateCBOR)
	u2, err := decodePayload(wu, Limits{})
	if err != nil {
		t.Fatalf("golden update does not decode: %v", err)
	}
	if idOf(wu).String() != want.UpdateID || u2.Seq != want.Update.Seq {
		t.Errorf("golden update decodes to %s seq %d", idOf(wu), u2.Seq)
	}
	if !bytes.HasPrefix(wb, []byte{0xaa}) { // a map of 10 pairs: Command is omitted
		t.Errorf("function encoding starts %x, want a map of 10", wb[:1])
	}
}
