package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error for callers on the other side of a wire.
type Kind string

// The kinds. Their strings are part of the protocol and the JSON output.
const (
	Internal    Kind = "internal"    // a bug or an unexpected local failure
	Invalid     Kind = "invalid"     // malformed, forged or unacceptable input
	Denied      Kind = "denied"      // the caller is not allowed
	Expired     Kind = "expired"     // outside its validity window
	Replayed    Kind = "replayed"    // seen before
	NotFound    Kind = "not-found"   // no such function, endpoint or task
	TooLarge    Kind = "too-large"   // over a size limit
	Overloaded  Kind = "overloaded"  // the endpoint refuses more work now
	Timeout     Kind = "timeout"     // a deadline passed
	Unavailable Kind = "unavailable" // a peer or service cannot be reached
	System      Kind = "system"      // the system failed the task (crash, restart)
	User        Kind = "user"        // the user's function itself failed
)

// ExitCode maps a kind to the fx client's exit status.
func (k Kind) ExitCode() int {
	switch k {
	case "":
		return 0
	case User:
		return 1
	case Invalid:
		return 2
	case Denied:
		return 3
	case NotFound:
		return 4
	case Timeout, Expired:
		return 5
	case Unavailable, Overloaded:
		return 6
	case TooLarge:
		return 7
	case Replayed:
		return 8
	case System:
		return 9
	default:
		return 10
	}
}

// Error is an error with a kind and the operation that failed.
type Error struct {
	Kind Kind
	Op   string // e.g. "catalog: apply"; may be empty
	Err  error
}

func (e *Error) Error() string {
	msg := string(e.Kind)
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Op != "" {
		return e.Op + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an Error of kind for op; args are formatted like fmt.Errorf
// (wrapping with %w works).
func E(kind Kind, op string, format string, args ...any) error {
	return &Error{Kind: kind, Op: op, Err: fmt.Errorf(format, args...)}
}

// Wrap gives err a kind, keeping it in the chain.
func Wrap(kind Kind, op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Op: op, Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, Internal for
// an error without one, and "" for nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err has kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
