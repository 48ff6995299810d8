package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

func frame(n int) []byte {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, bytes.Repeat([]byte{7}, n)); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func TestFrameReader(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want fault.Kind // "" means the frame is read
		eof  bool
	}{
		{"a frame", frame(100), 1 << 10, "", false},
		{"an empty frame", frame(0), 1 << 10, "", false},
		{"a large frame", frame(200 << 10), 1 << 20, "", false},
		{"two frames, the first read", append(frame(5), frame(9)...), 1 << 10, "", false},
		{"nothing at all", nil, 1 << 10, "", true},
		{"over the limit", frame(2 << 10), 1 << 10, fault.TooLarge, false},
		{"header cut short", []byte{0x80}, 1 << 10, fault.Unavailable, false},
		{"body cut short", frame(100)[:50], 1 << 10, fault.Unavailable, false},
		{"large body cut short", frame(200 << 10)[:100<<10], 1 << 20, fault.Unavailable, false},
		{"length overflows", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 1 << 10, fault.Invalid, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := &FrameReader{R: bufio.NewReader(bytes.NewReader(tc.in)), Max: tc.max}
			b, err := fr.Next(0)
			switch {
			case tc.eof:
				if !errors.Is(err, io.EOF) {
					t.Fatalf("err = %v, want io.EOF", err)
				}
			case tc.want == "":
				n, _ := binary.Uvarint(tc.in)
				if err != nil || uint64(len(b)) != n || !bytes.Equal(b, bytes.Repeat([]byte{7}, len(b))) {
					t.Fatalf("err = %v, %d bytes, want %d", err, len(b), n)
				}
			default:
				if fault.KindOf(err) != tc.want {
					t.Fatalf("err = %v (kind %s), want %s", err, fault.KindOf(err), tc.want)
				}
			}
		})
	}
}

// TestBudget: a frame is read only while its announced size fits the
// peer's share and the total; the size is given back when the frame ends,
// read or not.
func TestBudget(t *testing.T) {
	b := NewBudget(300, 200)
	read := func(peer string, in []byte) error {
		_, err := (&FrameReader{R: bufio.NewReader(bytes.NewReader(in)), Max: 1 << 10, Budget: b, Peer: peer}).Next(0)
		return err
	}
	if err := read("a", frame(150)); err != nil {
		t.Fatal(err)
	}
	if total, _ := b.Used("a"); total != 0 {
		t.Fatalf("%d bytes still reserved after a read frame", total)
	}
	if err := read("a", frame(250)); fault.KindOf(err) != fault.Overloaded || !errors.Is(err, ErrBudget) {
		t.Fatalf("a frame over the peer's share: %v", err)
	}
	if err := read("a", frame(150)[:20]); fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("cut short: %v", err)
	}
	if total, byPeer := b.Used("a"); total != 0 || byPeer != 0 {
		t.Fatalf("%d/%d bytes still reserved after a frame cut short", total, byPeer)
	}
	// Reservations held while frames are being read.
	if !b.take("a", 150) || !b.take("b", 120) {
		t.Fatal("take refused within bounds")
	}
	if b.take("c", 50) {
		t.Fatal("take over the total allowed")
	}
	if b.take("a", 60) {
		t.Fatal("take over a peer's share allowed")
	}
	b.give("b", 120)
	if !b.take("c", 50) {
		t.Fatal("take refused after give")
	}
}

// TestFrameDeadline: a peer that sends a header and then stalls loses the
// stream after FrameGrace; a peer that sends nothing may idle.
func TestFrameDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for FrameGrace")
	}
	local, remote := net.Pipe()
	defer local.Close()
	defer remote.Close()
	fr := &FrameReader{R: bufio.NewReader(local), Max: 1 << 20, Stream: local}
	go remote.Write(frame(1000)[:100])
	start := time.Now()
	_, err := fr.Next(time.Minute)
	if fault.KindOf(err) != fault.Timeout || !errors.Is(err, ErrFrameTimeout) {
		t.Fatalf("stalled frame: %v", err)
	}
	if took := time.Since(start); took < FrameGrace {
		t.Fatalf("stalled frame cut after %v, before its grace of %v", took, FrameGrace)
	}
}

// TestIdleBeforeFrame: the wait for a frame's first byte is bounded by
// idle, and it is no frame's fault.
func TestIdleBeforeFrame(t *testing.T) {
	local, remote := net.Pipe()
	defer local.Close()
	defer remote.Close()
	fr := &FrameReader{R: bufio.NewReader(local), Stream: local}
	_, err := fr.Next(50 * time.Millisecond)
	if fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("idle stream: %v", err)
	}
}

func TestMessages(t *testing.T) {
	type msg struct {
		A int    `cbor:"1,keyasint"`
		B string `cbor:"2,keyasint,omitempty"`
	}
	var buf bytes.Buffer
	if err := WriteMsg(&buf, msg{A: 7, B: "x"}); err != nil {
		t.Fatal(err)
	}
	var got msg
	if err := ReadMsg(bufio.NewReader(&buf), 1<<10, &got); err != nil || got != (msg{7, "x"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	// A field the receiver does not know is refused, not dropped.
	type more struct {
		A int `cbor:"1,keyasint"`
		C int `cbor:"3,keyasint"`
	}
	b, _ := Canonical.Marshal(more{A: 1, C: 2})
	if err := DecodeMsg(b, &got); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("unknown field: %v", err)
	}
}

func FuzzFrameReader(f *testing.F) {
	f.Add(frame(10))
	f.Add(append(frame(3), frame(70<<10)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBudget(1<<16, 1<<15)
		fr := &FrameReader{R: bufio.NewReader(bytes.NewReader(data)), Max: 1 << 17, Budget: b, Peer: "p"}
		for range 4 {
			got, err := fr.Next(0)
			if err != nil {
				break
			}
			if len(got) > 1<<15 {
				t.Fatalf("a frame of %d bytes read past the peer's budget", len(got))
			}
		}
		if total, _ := b.Used("p"); total != 0 {
			t.Fatalf("%d bytes left reserved", total)
		}
	})
}
