package invoke

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
	"github.com/fxmesh/fxmesh/wire"
)

const fnID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func signed(t testing.TB, k *identity.Key, endpoint string, mutate func(*Invocation)) []byte {
	t.Helper()
	inv, err := New(fnID, endpoint, []Input{{Args: []byte(`[1,2]`), Kwargs: []byte(`{"x":3}`)}}, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(inv)
	}
	b, err := Sign(k, inv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	user, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	good := signed(t, user, ep.ID().String(), nil)

	s, err := Decode(good, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.Caller != user.ID() || s.TaskID == "" || string(s.Inputs[0].Args) != "[1,2]" {
		t.Fatalf("decoded %+v", s)
	}
	again, _ := Decode(good, 1<<20)
	if again.TaskID != s.TaskID {
		t.Fatal("task ID not stable for the same bytes")
	}
	fresh, _ := Decode(signed(t, user, ep.ID().String(), nil), 1<<20)
	if fresh.TaskID == s.TaskID {
		t.Fatal("two invocations share a task ID")
	}

	tests := []struct {
		name string
		data []byte
		max  int
		want error
		kind fault.Kind
	}{
		{"tampered", bytes.Replace(good, []byte(`"x":3`), []byte(`"x":4`), 1), 1 << 20, ErrBadSignature, fault.Invalid},
		{"too large", good, 10, ErrTooLarge, fault.TooLarge},
		{"garbage", []byte("garbage"), 1 << 20, ErrMalformed, fault.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if k := fault.KindOf(err); k != tc.kind {
				t.Fatalf("kind = %s, want %s", k, tc.kind)
			}
		})
	}
}

// TestTimeoutExtremes: a Timeout is any non-negative int64; a negative one
// is refused by Sign and, signed by hand, by Decode.
func TestTimeoutExtremes(t *testing.T) {
	user, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	tests := []struct {
		timeout int64
		ok      bool
	}{
		{0, true}, {1, true}, {1 << 62, true}, {math.MaxInt64, true},
		{-1, false}, {-1 << 62, false}, {math.MinInt64, false},
	}
	for _, tc := range tests {
		inv, err := New(fnID, ep.ID().String(), []Input{{}}, t0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		inv.Timeout = tc.timeout
		_, err = Sign(user, inv)
		if tc.ok != (err == nil) {
			t.Fatalf("Sign with timeout %d: %v", tc.timeout, err)
		}
		b, _ := encMode.Marshal(inv)
		env, err := identity.Seal(user, identity.DomainInvocation, Codec, b)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Decode(env, 1<<20)
		if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode with timeout %d: %v", tc.timeout, err)
		}
		if tc.ok && s.Timeout != tc.timeout {
			t.Fatalf("timeout %d decoded as %d", tc.timeout, s.Timeout)
		}
	}
}

// TestRetries: the retries count is signed with the invocation, checked,
// and left out when zero, so that an invocation without retries keeps the
// bytes, and the task ID, it had before the field existed.
func TestRetries(t *testing.T) {
	user, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	inv, err := New(fnID, ep.ID().String(), []Input{{Args: []byte(`[1]`)}}, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	inv.Timeout, inv.Require = int64(time.Second), []string{"gpu"}

	// The invocation as it was before Retries: keys 1 to 9.
	type before struct {
		Function string   `cbor:"1,keyasint"`
		Proof    *Proof   `cbor:"2,keyasint,omitempty"`
		Endpoint string   `cbor:"3,keyasint"`
		Inputs   []Input  `cbor:"4,keyasint"`
		Nonce    []byte   `cbor:"5,keyasint"`
		IssuedAt int64    `cbor:"6,keyasint"`
		Expires  int64    `cbor:"7,keyasint"`
		Timeout  int64    `cbor:"8,keyasint,omitempty"`
		Require  []string `cbor:"9,keyasint,omitempty"`
	}
	old, err := encMode.Marshal(before{inv.Function, inv.Proof, inv.Endpoint, inv.Inputs, inv.Nonce, inv.IssuedAt, inv.Expires, inv.Timeout, inv.Require})
	if err != nil {
		t.Fatal(err)
	}
	now, err := encMode.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, now) {
		t.Fatalf("no retries encodes as %x, before the field %x", now, old)
	}

	tests := []struct {
		retries int
		ok      bool
	}{
		{0, true}, {1, true}, {MaxRetries, true},
		{-1, false}, {MaxRetries + 1, false}, {math.MaxInt64, false}, {math.MinInt64, false},
	}
	ids := map[string]int{}
	for _, tc := range tests {
		inv := *inv
		inv.Retries = tc.retries
		env, id, err := SignTask(user, &inv)
		if !tc.ok {
			if !errors.Is(err, ErrMalformed) || fault.KindOf(err) != fault.Invalid {
				t.Fatalf("SignTask with %d retries: %v, want ErrMalformed", tc.retries, err)
			}
			// Signed by hand, the endpoint refuses it as well.
			b, _ := encMode.Marshal(&inv)
			if env, err = identity.Seal(user, identity.DomainInvocation, Codec, b); err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(env, 1<<20); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "retries") {
				t.Fatalf("Decode with %d retries: %v, want ErrMalformed about retries", tc.retries, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("SignTask with %d retries: %v", tc.retries, err)
		}
		s, err := Decode(env, 1<<20)
		if err != nil {
			t.Fatalf("Decode with %d retries: %v", tc.retries, err)
		}
		if s.Retries != tc.retries || s.TaskID != id {
			t.Fatalf("decoded %d retries as task %s, want %d as %s", s.Retries, s.TaskID, tc.retries, id)
		}
		if prev, dup := ids[id]; dup {
			t.Fatalf("%d and %d retries share task ID %s", prev, tc.retries, id)
		}
		ids[id] = tc.retries
	}
	// Raising the count invalidates the signature.
	inv.Retries = 1
	env, err := Sign(user, inv)
	if err != nil {
		t.Fatal(err)
	}
	// Key 10 sorts last in canonical CBOR: the payload ends 0a 01.
	sealed, err := identity.Unseal(env, identity.DomainInvocation, Codec)
	if err != nil || !bytes.HasSuffix(sealed.Payload, []byte{0x0a, 0x01}) {
		t.Fatalf("payload %x does not end with 1 retry (%v)", sealed.Payload, err)
	}
	raised := bytes.Clone(env)
	raised[bytes.Index(env, sealed.Payload)+len(sealed.Payload)-1] = 0x05
	if _, err := Decode(raised, 1<<20); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("raised retries: %v, want ErrBadSignature", err)
	}
}

// TestDecodeRefusesPaddedEnvelope: bytes added to a signed envelope, which
// protobuf would skip, do not make a second envelope of the same task: the
// envelope is refused as not canonical, before its signature is checked.
func TestDecodeRefusesPaddedEnvelope(t *testing.T) {
	user, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	good := signed(t, user, ep.ID().String(), nil)
	s, err := Decode(good, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"unknown field after", append(bytes.Clone(good), 0x22, 3, 'p', 'a', 'd')},
		{"unknown field before", append([]byte{0x30, 0x01}, good...)},
		{"empty unknown field", append(bytes.Clone(good), 0x32, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.data, 1<<20)
			if err == nil {
				t.Fatalf("accepted as task %s (the original is %s)", got.TaskID, s.TaskID)
			}
			if !errors.Is(err, ErrMalformed) || fault.KindOf(err) != fault.Invalid {
				t.Fatalf("err = %v (kind %s), want ErrMalformed, kind invalid", err, fault.KindOf(err))
			}
			if !strings.Contains(err.Error(), "not in canonical form") {
				t.Fatalf("err = %v, want it to say the envelope is not canonical", err)
			}
			if _, err := TaskIDOf(tc.data); !errors.Is(err, ErrMalformed) {
				t.Fatalf("TaskIDOf = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestSignRefusesBadInvocations(t *testing.T) {
	k, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	tests := []struct {
		name   string
		mutate func(*Invocation)
	}{
		{"bad function id", func(i *Invocation) { i.Function = "nope" }},
		{"no inputs", func(i *Invocation) { i.Inputs = nil }},
		{"args not array", func(i *Invocation) { i.Inputs[0].Args = []byte(`{"a":1}`) }},
		{"kwargs not object", func(i *Invocation) { i.Inputs[0].Kwargs = []byte(`[1]`) }},
		{"bad json", func(i *Invocation) { i.Inputs[0].Args = []byte(`[1,`) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, _ := New(fnID, ep.ID().String(), []Input{{}}, t0, time.Minute)
			tc.mutate(inv)
			if _, err := Sign(k, inv); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	want := Reply{Type: ReplyResult, TaskID: "t", Result: &Result{Index: 3, Value: []byte(`42`)}}
	if err := wire.WriteMsg(&buf, want); err != nil {
		t.Fatal(err)
	}
	var got Reply
	if err := wire.ReadMsg(bufio.NewReader(&buf), wire.MaxFrame, &got); err != nil {
		t.Fatal(err)
	}
	if got.Result.Index != 3 || string(got.Result.Value) != "42" {
		t.Fatalf("got %+v", got)
	}
	buf.Reset()
	wire.WriteMsg(&buf, Request{Invocation: make([]byte, 100)})
	if err := wire.ReadMsg(bufio.NewReader(&buf), 50, &Request{}); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	k, _ := identity.GenerateKey()
	ep, _ := identity.GenerateKey()
	f.Add(signed(f, k, ep.ID().String(), nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data, 1<<20)
		if err == nil && (s.TaskID == "" || s.Caller == "") {
			t.Fatal("accepted invocation without task ID or caller")
		}
	})
}

func FuzzReadMsg(f *testing.F) {
	var buf bytes.Buffer
	wire.WriteMsg(&buf, Reply{Type: ReplyAck, TaskID: "x", Count: 2})
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for i := 0; i < 4; i++ {
			var rep Reply
			if err := wire.ReadMsg(r, 1<<16, &rep); err != nil {
				return
			}
		}
	})
}

// FuzzDecodeCancel: whatever a peer sends on the cancel protocol decodes to
// a Cancel or an error, never a panic, and only its one field is read.
func FuzzDecodeCancel(f *testing.F) {
	seed, _ := wire.Canonical.Marshal(Cancel{TaskID: "bafkreitask"})
	f.Add(seed)
	f.Add([]byte{0xa1, 0x02, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Cancel
		if err := wire.DecodeMsg(data, &c); err == nil {
			again, _ := wire.Canonical.Marshal(c)
			var c2 Cancel
			if err := wire.DecodeMsg(again, &c2); err != nil || c2 != c {
				t.Fatalf("decoded %+v does not survive re-encoding: %v", c, err)
			}
		}
	})
}
