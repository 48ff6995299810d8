package routing

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/libp2p/go-libp2p/core/peer"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testRecord(k *identity.Key, seq uint64) *EndpointRecord {
	return &EndpointRecord{
		ID:       k.ID().String(),
		Name:     "lab-gpu",
		Owner:    k.ID().String(),
		Addrs:    []string{"/ip4/127.0.0.1/tcp/4001"},
		Hardware: Hardware{CPUs: 16, MemoryBytes: 128 << 30, Arch: "amd64", OS: "linux", GPUs: []GPU{{Model: "NVIDIA H200", MemoryBytes: 143771 << 20}}},
		Software: Software{Python: []string{"3.11.7"}, Scheduler: "slurm"},
		Labels:   map[string]string{"site": "aps"},
		Datasets: []string{"cryo-2026"},
		Seq:      seq,
		Updated:  t0.UnixNano(),
		Expires:  t0.Add(time.Hour).UnixNano(),
	}
}

func mustSign(t testing.TB, k *identity.Key, r *EndpointRecord) []byte {
	t.Helper()
	b, err := SignRecord(k, r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecord(t *testing.T) {
	k, _ := identity.GenerateKey()
	other, _ := identity.GenerateKey()
	good := mustSign(t, k, testRecord(k, 5))

	r, err := DecodeRecord(good, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("valid record rejected: %v", err)
	}
	if r.Name != "lab-gpu" || r.Hardware.GPUs[0].Model != "NVIDIA H200" || r.Seq != 5 {
		t.Fatalf("decoded %+v", r)
	}

	// A record naming k but signed by other: seal the bytes by hand.
	forgedRec := testRecord(k, 6)
	payload, _ := encMode.Marshal(forgedRec)
	forged, _ := identity.Seal(other, identity.DomainEndpoint, RecordCodec, payload)

	bigRec := testRecord(k, 7)
	bigRec.Datasets = []string{strings.Repeat("x", MaxRecordBytes)}
	bigPayload, _ := encMode.Marshal(bigRec)
	big, _ := identity.Seal(k, identity.DomainEndpoint, RecordCodec, bigPayload)

	tampered := bytes.Replace(good, []byte("lab-gpu"), []byte("lab-cpu"), 1)

	expiredRec := testRecord(k, 8)
	expiredRec.Expires = t0.Add(-time.Second).UnixNano()
	expiredRec.Updated = t0.Add(-time.Hour).UnixNano()
	expired := mustSign(t, k, expiredRec)

	badField := testRecord(k, 9)
	badField.Labels = map[string]string{"bad key!": "x"}
	badPayload, _ := encMode.Marshal(badField)
	badEnv, _ := identity.Seal(k, identity.DomainEndpoint, RecordCodec, badPayload)

	sealed := func(r *EndpointRecord) []byte {
		p, _ := encMode.Marshal(r)
		env, _ := identity.Seal(k, identity.DomainEndpoint, RecordCodec, p)
		return env
	}
	manyImages := testRecord(k, 10)
	manyImages.Software.Containers = []string{"docker"}
	for i := range MaxImages + 1 {
		manyImages.Software.Images = append(manyImages.Software.Images, fmt.Sprintf("img%d:1", i))
	}
	longImage := testRecord(k, 11)
	longImage.Software.Images = []string{strings.Repeat("i", MaxImageBytes+1)}
	oddImage := testRecord(k, 12)
	oddImage.Software.Images = []string{"busy box"}
	emptyImage := testRecord(k, 13)
	emptyImage.Software.Images = []string{""}

	otherDomain, _ := identity.Seal(k, identity.DomainFunction, RecordCodec, payload)

	withModules := func(seq uint64, ms ...Module) *EndpointRecord {
		r := testRecord(k, seq)
		r.Software.Modules = ms
		return r
	}
	manyModules := withModules(14)
	for i := range MaxModules + 1 {
		manyModules.Software.Modules = append(manyModules.Software.Modules, Module{Name: fmt.Sprintf("m%05d", i), Version: "1"})
	}
	heavyModules := withModules(15)
	for i := range MaxModulesBytes/(MaxModuleVersion+6) + 1 {
		heavyModules.Software.Modules = append(heavyModules.Software.Modules, Module{Name: fmt.Sprintf("m%05d", i), Version: strings.Repeat("1", MaxModuleVersion)})
	}
	manyFunctions := testRecord(k, 16)
	for i := range MaxFunctionEntries + 1 {
		manyFunctions.Functions = append(manyFunctions.Functions, fmt.Sprintf("fn%d", i))
	}
	heavyFunctions := testRecord(k, 17)
	for i := range MaxFunctionsBytes/MaxFunctionEntryBytes + 1 {
		heavyFunctions.Functions = append(heavyFunctions.Functions, fmt.Sprintf("%03d", i)+strings.Repeat("f", MaxFunctionEntryBytes-3))
	}
	bothFunctions := testRecord(k, 18)
	bothFunctions.Functions, bothFunctions.FunctionsUnlisted = []string{"fn"}, true
	oddFunction := testRecord(k, 19)
	oddFunction.Functions = []string{"owner/na me"}

	tests := []struct {
		name string
		data []byte
		want error
		kind fault.Kind
	}{
		{"signed by another key", forged, ErrWrongSigner, fault.Denied},
		{"tampered field", tampered, ErrBadSignature, fault.Invalid},
		{"oversized", big, ErrRecordTooLarge, fault.TooLarge},
		{"expired", expired, ErrExpired, fault.Expired},
		{"random bytes", []byte("\x00\x01garbage"), ErrMalformed, fault.Invalid},
		{"empty", nil, ErrMalformed, fault.Invalid},
		{"bad label key", badEnv, ErrInvalidField, fault.Invalid},
		{"too many images", sealed(manyImages), ErrInvalidField, fault.Invalid},
		{"image too long", sealed(longImage), ErrInvalidField, fault.Invalid},
		{"image with a space", sealed(oddImage), ErrInvalidField, fault.Invalid},
		{"empty image", sealed(emptyImage), ErrInvalidField, fault.Invalid},
		{"other domain", otherDomain, ErrBadSignature, fault.Invalid},
		{"too many modules", sealed(manyModules), ErrMalformed, fault.Invalid}, // over the decoder's array bound
		{"modules over the byte bound", sealed(heavyModules), ErrInvalidField, fault.Invalid},
		{"module name not normalised", sealed(withModules(20, Module{Name: "NumPy", Version: "1"})), ErrInvalidField, fault.Invalid},
		{"module name invalid", sealed(withModules(21, Module{Name: "num py", Version: "1"})), ErrInvalidField, fault.Invalid},
		{"modules unsorted", sealed(withModules(22, Module{Name: "scipy"}, Module{Name: "numpy"})), ErrInvalidField, fault.Invalid},
		{"module twice", sealed(withModules(23, Module{Name: "numpy"}, Module{Name: "numpy"})), ErrInvalidField, fault.Invalid},
		{"module version too long", sealed(withModules(24, Module{Name: "numpy", Version: strings.Repeat("1", MaxModuleVersion+1)})), ErrInvalidField, fault.Invalid},
		{"module version with a space", sealed(withModules(25, Module{Name: "numpy", Version: "1 2"})), ErrInvalidField, fault.Invalid},
		{"too many allowlist entries", sealed(manyFunctions), ErrInvalidField, fault.Invalid},
		{"allowlist over the byte bound", sealed(heavyFunctions), ErrInvalidField, fault.Invalid},
		{"allowlist listed and unlisted", sealed(bothFunctions), ErrInvalidField, fault.Invalid},
		{"allowlist entry with a space", sealed(oddFunction), ErrInvalidField, fault.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord(tc.data, t0.Add(time.Minute))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if k := fault.KindOf(err); k != tc.kind {
				t.Fatalf("kind = %s, want %s", k, tc.kind)
			}
		})
	}
}

// TestRecordMostImages: a record with as many images as allowed, each as
// long as allowed, and a full set of other fields, signs within
// MaxRecordBytes and decodes as it was; one more image is refused by
// SignRecord with a message that says the limit.
func TestRecordMostImages(t *testing.T) {
	k, _ := identity.GenerateKey()
	r := testRecord(k, 1)
	r.Software.Containers = []string{"docker", "podman"}
	r.Software.PullImages = true
	for i := range MaxImages {
		name := fmt.Sprintf("127.0.0.1:5000/lab/%03d/", i)
		r.Software.Images = append(r.Software.Images, name+strings.Repeat("x", MaxImageBytes-len(name)-4)+":tag")
	}
	if len(r.Software.Images[0]) != MaxImageBytes {
		t.Fatalf("image of %d bytes", len(r.Software.Images[0]))
	}
	b := mustSign(t, k, r)
	t.Logf("a record with %d images of %d bytes: %d bytes signed, limit %d", MaxImages, MaxImageBytes, len(b), MaxRecordBytes)
	if len(b) > MaxRecordBytes*3/4 {
		t.Fatalf("record with the most images is %d bytes: too close to the limit %d", len(b), MaxRecordBytes)
	}
	got, err := DecodeRecord(b, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Software.Images, r.Software.Images) || !got.Software.PullImages {
		t.Fatalf("images did not survive: %d, pull %v", len(got.Software.Images), got.Software.PullImages)
	}
	r.Software.Images = append(r.Software.Images, "one:more")
	_, err = SignRecord(k, r)
	if !errors.Is(err, ErrInvalidField) || !strings.Contains(err.Error(), fmt.Sprintf("%d images, limit %d", MaxImages+1, MaxImages)) {
		t.Fatalf("SignRecord with %d images: %v", MaxImages+1, err)
	}
}

// TestRecordModulesAndAllowlist: a record with as many modules and
// allowlist entries as allowed, each as long as allowed, and as many images
// too, signs within MaxRecordBytes and decodes as it was; a record without
// them (as a node before them made it) decodes with none.
func TestRecordModulesAndAllowlist(t *testing.T) {
	k, _ := identity.GenerateKey()
	r := testRecord(k, 1)
	r.Software.Containers = []string{"docker"}
	for i := range MaxImages {
		name := fmt.Sprintf("127.0.0.1:5000/lab/%03d/", i)
		r.Software.Images = append(r.Software.Images, name+strings.Repeat("x", MaxImageBytes-len(name)-4)+":tag")
	}
	size := 0
	for i := 0; size < MaxModulesBytes-200; i++ {
		m := Module{Name: fmt.Sprintf("m%04d-", i) + strings.Repeat("x", 40), Version: fmt.Sprintf("1.%d.0rc1", i)}
		size += len(m.Name) + len(m.Version)
		r.Software.Modules = append(r.Software.Modules, m)
	}
	for i := 0; len(r.Functions) < MaxFunctionEntries && (len(r.Functions)+1)*64 <= MaxFunctionsBytes; i++ {
		r.Functions = append(r.Functions, fmt.Sprintf("owner%03d/", i)+strings.Repeat("n", 55))
	}
	b := mustSign(t, k, r)
	t.Logf("a record with %d images, %d modules, %d allowlist entries: %d bytes signed, limit %d",
		len(r.Software.Images), len(r.Software.Modules), len(r.Functions), len(b), MaxRecordBytes)
	got, err := DecodeRecord(b, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Software.Modules, r.Software.Modules) || !slices.Equal(got.Functions, r.Functions) {
		t.Fatalf("modules or allowlist did not survive: %d modules, %d entries", len(got.Software.Modules), len(got.Functions))
	}
	plain, err := DecodeRecord(mustSign(t, k, testRecord(k, 2)), t0.Add(time.Minute))
	if err != nil || plain.Software.Modules != nil || plain.Functions != nil || plain.FunctionsUnlisted {
		t.Fatalf("record without modules or allowlist: %v, %+v", err, plain)
	}
}

func TestValidatorSelectHighestSequence(t *testing.T) {
	k, _ := identity.GenerateKey()
	v := Validator{Now: func() time.Time { return t0 }}
	key := Key(k.ID())
	old := mustSign(t, k, testRecord(k, 3))
	cur := mustSign(t, k, testRecord(k, 4))
	if err := v.Validate(key, cur); err != nil {
		t.Fatal(err)
	}
	other, _ := identity.GenerateKey()
	if err := v.Validate(Key(other.ID()), cur); !errors.Is(err, ErrWrongSigner) {
		t.Fatalf("record under another key: err = %v", err)
	}
	tests := []struct {
		name   string
		values [][]byte
		want   int
	}{
		{"newer second", [][]byte{old, cur}, 1},
		{"newer first", [][]byte{cur, old}, 0},
		{"garbage never wins", [][]byte{[]byte("junk"), old}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Select(key, tc.values)
			if err != nil || got != tc.want {
				t.Fatalf("Select = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if _, err := v.Select(key, [][]byte{[]byte("junk")}); err == nil {
		t.Fatal("Select of only garbage succeeded")
	}
}

func TestSignRecordRefusesOtherNode(t *testing.T) {
	k, _ := identity.GenerateKey()
	other, _ := identity.GenerateKey()
	if _, err := SignRecord(other, testRecord(k, 1)); !errors.Is(err, ErrWrongSigner) {
		t.Fatalf("err = %v", err)
	}
}

func TestPolicy(t *testing.T) {
	k, _ := identity.GenerateKey()
	u, _ := identity.GenerateKey()
	r := testRecord(k, 1)
	if r.Policy().Allows(u.ID()) {
		t.Fatal("stranger allowed by default")
	}
	r.Allowed = []string{u.ID().String()}
	if !r.Policy().Allows(u.ID()) || !r.Policy().Allows(k.ID()) {
		t.Fatal("allowed user or owner refused")
	}
	if r.Policy().Allows(peer.ID("x")) {
		t.Fatal("unknown allowed")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	k, _ := identity.GenerateKey()
	owner, _ := identity.GenerateKey()
	f.Add(mustSign(f, k, testRecord(k, 1)))
	f.Add(claimedRecord(f, k, owner, mustClaim(f, owner, k, t0.Add(time.Hour))))
	f.Add(claimedRecord(f, k, owner, mustClaim(f, k, k, t0.Add(time.Hour))))
	withImages := testRecord(k, 2)
	withImages.Software.Containers = []string{"docker"}
	withImages.Software.Images = []string{"fxmesh-test/python:1", "busybox@sha256:00ff"}
	withImages.Software.PullImages = true
	f.Add(mustSign(f, k, withImages))
	withModules := testRecord(k, 3)
	withModules.Software.Modules = []Module{{Name: "numpy", Version: "1.26.4"}, {Name: "scikit-learn", Version: "1.4.2rc1"}}
	withModules.Functions = []string{"bafyfn", k.ID().String() + "/add"}
	f.Add(mustSign(f, k, withModules))
	unlisted := testRecord(k, 4)
	unlisted.FunctionsUnlisted = true
	f.Add(mustSign(f, k, unlisted))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data, t0)
		if err == nil && r.ID == "" {
			t.Fatal("accepted record without ID")
		}
		if err == nil && len(r.Software.Images) > MaxImages {
			t.Fatalf("accepted record with %d images", len(r.Software.Images))
		}
		if err == nil && (validateModules(r.Software.Modules) != nil || validateFunctions(r.Functions, r.FunctionsUnlisted) != nil) {
			t.Fatalf("accepted record with %d modules, %d allowlist entries out of bounds", len(r.Software.Modules), len(r.Functions))
		}
		if err == nil && len(r.Software.Modules) > MaxModules {
			t.Fatalf("accepted record with %d modules", len(r.Software.Modules))
		}
		if err != nil && fault.KindOf(err) == fault.Internal {
			t.Fatalf("rejection without a kind: %v", err)
		}
		if err != nil {
			return
		}
		// The owner is verified exactly when its claim holds, and an
		// unverified owner always says why.
		_, cerr := VerifyOwnerClaim(r.OwnerClaim, r.ID, r.Owner, t0)
		if r.OwnerVerified != (cerr == nil) || r.OwnerVerified == (r.OwnerUnverified != "") {
			t.Fatalf("OwnerVerified %v (%q), claim check %v", r.OwnerVerified, r.OwnerUnverified, cerr)
		}
	})
}
