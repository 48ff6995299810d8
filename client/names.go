package client

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
)

// plainError is an error whose message is its own, with its cause kept in
// the chain for errors.Is and errors.As but not repeated in the text.
type plainError struct {
	msg   string
	cause error
}

func (e *plainError) Error() string { return e.msg }
func (e *plainError) Unwrap() error { return e.cause }

// functionNotFound turns "not found" for ref (as u.ref gives it: an ID or
// OWNER/NAME[@VERSION]) into one sentence that says which function is
// missing, whose, what may have been meant (names of the user's own
// functions and of those shared with them), and how to list them. The
// cause stays in the chain.
func (u *UserCatalog) functionNotFound(ctx context.Context, ref string, cause error) error {
	fail := func(format string, args ...any) error {
		return fault.Wrap(fault.NotFound, "", &plainError{msg: fmt.Sprintf(format, args...), cause: cause})
	}
	owner, rest, ok := catalog.SplitRef(ref)
	if !ok {
		return fail("no function with ID %s in the catalog; fx function list shows the functions you may run", ref)
	}
	name, version, hasVersion := strings.Cut(rest, "@")
	mine := owner == u.Key.ID().String()
	entries, _ := u.List(ctx, "") // for suggestions only: a failure leaves none
	var names, sameName []string  // as the user would write them
	for _, e := range entries {
		if e.Owner == owner && e.Name == name && hasVersion {
			return fail("%s has no version %s; fx function show %s lists its versions", display(owner, name, mine), version, display(owner, name, mine))
		}
		d := display(e.Owner, e.Name, e.Owner == u.Key.ID().String())
		names = append(names, d)
		if e.Name == name {
			sameName = append(sameName, d) // the right name, another owner
		}
	}
	var typed, whose, list string
	if mine {
		typed, whose, list = name, "of yours", "fx function list --mine"
	} else {
		typed, whose, list = owner+"/"+name, "of owner "+owner, "fx function list --owner "+owner
	}
	msg := fmt.Sprintf("no function %q %s in the catalog", name, whose)
	var s []string
	for _, c := range append(sameName, Suggest(typed, names)...) {
		if !slices.Contains(s, c) {
			s = append(s, c)
		}
	}
	if len(s) > 0 {
		msg += "; did you mean " + quoteList(s[:min(len(s), 3)]) + "?"
	} else {
		msg += "; " + list + " lists them"
	}
	return fail("%s", msg)
}

// display is how a user names a function: NAME for their own, OWNER/NAME
// for another's.
func display(owner, name string, mine bool) string {
	if mine {
		return name
	}
	return owner + "/" + name
}

// quoteList writes "a", "b" or "c".
func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
