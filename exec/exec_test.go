package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/fault"
)

func TestTaskCheck(t *testing.T) {
	tests := []struct {
		name    string
		task    Task
		wantErr string
	}{
		{"no arguments", Task{}, ""},
		{"nulls", Task{Args: json.RawMessage("null"), Kwargs: json.RawMessage(" null ")}, ""},
		{"array and object", Task{Args: json.RawMessage(` [1, "a", {"b": []}] `), Kwargs: json.RawMessage(`{"k": [1]}`)}, ""},
		{"args object", Task{Args: json.RawMessage(`{}`)}, "args are not a JSON array"},
		{"args scalar", Task{Args: json.RawMessage(`1`)}, "args are not a JSON array"},
		{"args malformed", Task{Args: json.RawMessage(`[1`)}, "args are not a JSON array"},
		{"args with trailing value", Task{Args: json.RawMessage(`[1] [2]`)}, "args are not a JSON array"},
		{"args injecting", Task{Args: json.RawMessage(`[1],"s":"x"`)}, "args are not a JSON array"},
		{"kwargs array", Task{Kwargs: json.RawMessage(`[]`)}, "kwargs are not a JSON object"},
		{"kwargs malformed", Task{Kwargs: json.RawMessage(`{"a":}`)}, "kwargs are not a JSON object"},
		{"negative timeout", Task{Timeout: -time.Second}, "negative timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.task.Check()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Check = %v, want an invalid error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	note := func(n int) string { return fmt.Sprintf("%s%d bytes dropped]\n", TruncatedNote, n) }
	tests := []struct {
		name  string
		s     string
		total int64
		max   int
		want  string
	}{
		{"fits", "hello", 5, 10, "hello"},
		{"total unknown", "hello", 0, 10, "hello"},
		{"exactly", "hello", 5, 5, "hello"},
		{"cut", "hello world", 11, 5, "hello" + note(6)},
		{"more was written", "hello", 100, 10, "hello" + note(95)},
		{"utf-8 boundary", "ééé", 6, 3, "é" + note(4)},
		{"4-byte rune", "a😀b", 6, 3, "a" + note(5)},
		{"invalid utf-8", "\xff\xff\xff\xff", 4, 2, "\xff\xff" + note(2)},
		{"continuation bytes only", "\x80\x80\x80\x80\x80", 5, 4, "\x80\x80\x80\x80" + note(1)},
		{"zero max", "abc", 3, 0, note(3)},
		{"negative max", "abc", 3, -1, note(3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Truncate(tc.s, tc.total, tc.max); got != tc.want {
				t.Fatalf("Truncate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOutputBuffer(t *testing.T) {
	b := &OutputBuffer{Max: 10}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if n, err := b.Write([]byte("abc")); n != 3 || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
			}
		}()
	}
	wg.Wait()
	if b.Len() != 120 {
		t.Fatalf("Len = %d, want 120", b.Len())
	}
	if got, want := b.String(), "abcabcabca"+TruncatedNote+"110 bytes dropped]\n"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	var zero OutputBuffer
	zero.Write([]byte("x"))
	if !strings.HasPrefix(zero.String(), TruncatedNote) {
		t.Fatalf("zero buffer: %q", zero.String())
	}
}

func TestTaskError(t *testing.T) {
	tests := []struct {
		err  *TaskError
		want string
	}{
		{&TaskError{Kind: fault.User, Type: "ValueError", Message: "boom"}, "ValueError: boom"},
		{&TaskError{Kind: fault.Timeout, Message: "timed out"}, "timed out"},
		{&TaskError{Kind: fault.System, Type: "WorkerDied", Message: "signal 9"}, "WorkerDied: signal 9"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if k := fault.KindOf(tc.err); k != tc.err.Kind {
			t.Errorf("KindOf(%v) = %q, want %q", tc.err, k, tc.err.Kind)
		}
		if k := fault.KindOf(fmt.Errorf("wrapped: %w", tc.err)); k != tc.err.Kind {
			t.Errorf("KindOf(wrapped %v) = %q", tc.err, k)
		}
	}
	if (Result{}).Err() != nil {
		t.Error("Result{}.Err() != nil")
	}
	te := &TaskError{Kind: fault.User, Message: "m"}
	var as *TaskError
	if err := (Result{Error: te}).Err(); !errors.As(err, &as) || as != te {
		t.Errorf("Err() = %v", err)
	}
}

func TestContextError(t *testing.T) {
	tests := []struct {
		err  error
		kind fault.Kind
	}{
		{context.Canceled, fault.Unavailable},
		{context.DeadlineExceeded, fault.Timeout},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), fault.Timeout},
	}
	for _, tc := range tests {
		err := ContextError("op", tc.err)
		if fault.KindOf(err) != tc.kind || !errors.Is(err, tc.err) || !strings.HasPrefix(err.Error(), "op: ") {
			t.Errorf("ContextError(%v) = %v of kind %s, want kind %s wrapping it", tc.err, err, fault.KindOf(err), tc.kind)
		}
	}
	if fault.KindOf(ErrClosed) != fault.Unavailable || ErrClosed.Error() != "exec: executor closed" {
		t.Errorf("ErrClosed = %v of kind %s", ErrClosed, fault.KindOf(ErrClosed))
	}
}

func TestLimits(t *testing.T) {
	if got := (Limits{}).WithDefaults(); got != (Limits{DefaultMaxOutputBytes, DefaultMaxResultBytes}) {
		t.Errorf("zero Limits.WithDefaults() = %+v", got)
	}
	if got := (Limits{1, 2}).WithDefaults(); got != (Limits{1, 2}) {
		t.Errorf("set Limits.WithDefaults() = %+v", got)
	}
	for _, l := range []Limits{{MaxOutputBytes: -1}, {MaxResultBytes: -1}, {MaxResultBytes: 1 << 31}} {
		if err := l.Validate(); !fault.Is(err, fault.Invalid) {
			t.Errorf("%+v.Validate() = %v", l, err)
		}
	}
	if err := (Limits{}).Validate(); err != nil {
		t.Errorf("zero Limits: %v", err)
	}
}
