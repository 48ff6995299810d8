package localapi

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

// TestErrorMapping: each kind becomes the HTTP status and exit code of
// docs/local-api.md, and the reasons travel.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		err    error
		status int
		exit   int
		reason string
	}{
		{fault.E(fault.User, "", "x"), 422, 1, ""},
		{fault.E(fault.Invalid, "", "x"), 400, 2, ""},
		{fault.E(fault.Denied, "", "x"), 403, 3, ""},
		{&apiError{"token", fault.E(fault.Denied, "", "x")}, 401, 3, "token"},
		{&apiError{"peer_uid", fault.E(fault.Denied, "", "x")}, 403, 3, "peer_uid"},
		{&apiError{"api_version", fault.E(fault.Invalid, "", "x")}, 400, 2, "api_version"},
		{fault.E(fault.NotFound, "", "x"), 404, 4, ""},
		{fault.E(fault.Timeout, "", "x"), 504, 5, ""},
		{fault.E(fault.Expired, "", "x"), 410, 5, ""},
		{fault.E(fault.Unavailable, "", "x"), 503, 6, ""},
		{fault.E(fault.Overloaded, "", "x"), 429, 6, ""},
		{fault.E(fault.TooLarge, "", "x"), 413, 7, ""},
		{fault.E(fault.Replayed, "", "x"), 409, 8, ""},
		{fault.E(fault.System, "", "x"), 502, 9, ""},
		{errors.New("a bug"), 500, 10, ""},
	}
	for _, tc := range tests {
		e := errorOf(tc.err)
		if got := statusOf(tc.err); got != tc.status || e.ExitCode != tc.exit || e.Reason != tc.reason {
			t.Errorf("%v (%s): status %d, exit %d, reason %q; want %d, %d, %q", tc.err, e.Kind, got, e.ExitCode, e.Reason, tc.status, tc.exit, tc.reason)
		}
	}
	if e := errorOf(&apiError{"api_version", fault.E(fault.Invalid, "", "x")}); e.ServerAPIVersion != Version {
		t.Errorf("a version error without the server's version: %+v", e)
	}
}

// TestFeedTakeOver: a feed keeps what was queued for a reader that is
// gone, hands it to the next, and a reader taken over gets nothing more.
func TestFeedTakeOver(t *testing.T) {
	now := time.Now()
	f := newFeed("f", now)
	f.push(pingEvent{Type: "a"})
	f.attach(1)
	if lines, ok := f.take(1); !ok || len(lines) != 1 {
		t.Fatalf("first reader took %d lines, %v", len(lines), ok)
	}
	f.push(pingEvent{Type: "b"})
	f.push(pingEvent{Type: "c"})
	lines, _ := f.take(1)
	f.detach(1, lines[1:], now) // wrote b, not c
	if !f.unread(now.Add(time.Second)) {
		t.Fatal("a feed without a reader is not unread")
	}
	f.attach(2)
	if _, ok := f.take(1); ok {
		t.Fatal("a reader taken over still reads")
	}
	lines, ok := f.take(2)
	if !ok || len(lines) != 1 || string(lines[0]) != "{\"type\":\"c\"}\n" {
		t.Fatalf("next reader got %q, %v; want the unwritten c", lines, ok)
	}
	f.drop()
	f.push(pingEvent{Type: "d"}) // returns: a dropped feed queues nothing
	if lines, _ := f.take(2); len(lines) != 0 {
		t.Fatalf("a dropped feed queued %q", lines)
	}
}

// TestReadLine: lines come without their newline, a last one without a
// newline too; a line over the bound is refused however it arrives, and
// one at the bound is not.
func TestReadLine(t *testing.T) {
	const max = 100
	in := strings.Repeat("a", max) + "\n" + "b\n\n" + strings.Repeat("c", 300) + "\n"
	br := bufio.NewReaderSize(strings.NewReader(in), 16) // lines longer than the buffer
	for _, want := range []string{strings.Repeat("a", max), "b", ""} {
		got, err := readLine(br, max)
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if _, err := readLine(br, max); !errors.Is(err, errLineTooLong) {
		t.Fatalf("a line of 300 bytes: %v, want errLineTooLong", err)
	}
	br = bufio.NewReaderSize(strings.NewReader("tail"), 16)
	if got, err := readLine(br, max); err != nil || string(got) != "tail" {
		t.Fatalf("last line without newline: %q, %v", got, err)
	}
	if _, err := readLine(br, max); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last line: %v, want EOF", err)
	}
}
