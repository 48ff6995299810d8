package catalog

import (
	"strings"
	"unicode/utf8"

	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/require"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Kind says how a function runs.
type Kind string

// The kinds of function.
const (
	// KindPython runs Entry, a function defined in Source.
	KindPython Kind = "python"
	// KindShell runs Command, a command template.
	KindShell Kind = "shell"
)

// Bounds on fields that Limits does not configure.
const (
	maxNameLen        = 128
	maxEntryLen       = 128
	maxCommandLen     = 64 << 10
	maxDescriptionLen = 16 << 10
	maxContainerLen   = 512
)

// Function is the immutable content of one version of a function. Its
// canonical CBOR (integer keys, Core Deterministic encoding) is the same on
// every platform and release, and its ID is the CID over those bytes, so a
// function ID pins exactly this content, owner, name and version.
type Function struct {
	// Name is [a-zA-Z0-9_.-]{1,128}; OWNER/NAME names the function.
	Name string `cbor:"1,keyasint" json:"name"`
	// Kind is KindPython (Source and Entry set) or KindShell (Command set).
	Kind Kind `cbor:"2,keyasint" json:"kind"`
	// Source is the python source, at most Limits.MaxSourceBytes.
	Source string `cbor:"3,keyasint,omitempty" json:"source,omitempty"`
	// Entry is the python function to call, an identifier defined in Source.
	Entry string `cbor:"4,keyasint,omitempty" json:"entry,omitempty"`
	// Command is the shell command template.
	Command string `cbor:"5,keyasint,omitempty" json:"command,omitempty"`
	// Description is free text for people.
	Description string `cbor:"6,keyasint,omitempty" json:"description,omitempty"`
	// Container optionally names a container image to run in.
	Container string `cbor:"7,keyasint,omitempty" json:"container,omitempty"`
	// Requirements are what an endpoint must offer, each as package
	// require's grammar writes it (gpus>=1, python>=3.10), at most
	// require.MaxRequirements, sorted and without duplicates.
	Requirements []string `cbor:"8,keyasint,omitempty" json:"requirements,omitempty"`
	// Owner is the owner's user ID (a libp2p peer ID string).
	Owner string `cbor:"9,keyasint" json:"owner"`
	// Version is 1 or more and grows with each publish of OWNER/NAME.
	Version uint64 `cbor:"10,keyasint" json:"version"`
	// Created is when this version was made, in unix seconds, from 0 to the
	// end of the year 9999.
	Created int64 `cbor:"11,keyasint" json:"created"`
}

// Marshal returns the function's canonical CBOR bytes.
func (f *Function) Marshal() ([]byte, error) { return marshal(f) }

// ID returns the function's ID: the CID over its canonical bytes.
func (f *Function) ID() (ID, error) {
	b, err := f.Marshal()
	if err != nil {
		return ID{}, err
	}
	return idOf(b), nil
}

// Ref returns "OWNER/NAME".
func (f *Function) Ref() string { return f.Owner + "/" + f.Name }

// Validate checks the function's fields against the schema and lim (zero
// fields of lim mean the defaults).
func (f *Function) Validate(lim Limits) error {
	lim = lim.withDefaults()
	if err := validateName(f.Name); err != nil {
		return err
	}
	if err := validateOwner(f.Owner); err != nil {
		return err
	}
	if f.Version < 1 {
		return invalid("function %s: version must be at least 1", f.Name)
	}
	if f.Created < 0 || f.Created > maxUnixSeconds {
		return invalid("function %s: creation time %d outside 0 to %d (unix seconds, up to the year 9999)", f.Name, f.Created, int64(maxUnixSeconds))
	}
	switch f.Kind {
	case KindPython:
		if f.Source == "" {
			return invalid("python function %s: no source", f.Name)
		}
		if len(f.Source) > lim.MaxSourceBytes {
			return fail(fault.TooLarge, ErrSourceTooLarge, "function %s: %d bytes of source, limit %d",
				f.Name, len(f.Source), lim.MaxSourceBytes)
		}
		if !utf8.ValidString(f.Source) {
			return invalid("function %s: source is not UTF-8", f.Name)
		}
		if !isIdentifier(f.Entry) || len(f.Entry) > maxEntryLen {
			return invalid("python function %s: entry %q is not a python identifier", f.Name, f.Entry)
		}
		if f.Command != "" {
			return invalid("python function %s: has a shell command", f.Name)
		}
	case KindShell:
		if f.Command == "" {
			return invalid("shell function %s: no command", f.Name)
		}
		if len(f.Command) > maxCommandLen || !utf8.ValidString(f.Command) {
			return invalid("shell function %s: command over %d bytes or not UTF-8", f.Name, maxCommandLen)
		}
		if f.Source != "" || f.Entry != "" {
			return invalid("shell function %s: has python source or entry", f.Name)
		}
	default:
		return invalid("function %s: kind %q is neither python nor shell", f.Name, f.Kind)
	}
	if len(f.Description) > maxDescriptionLen || !utf8.ValidString(f.Description) {
		return invalid("function %s: description over %d bytes or not UTF-8", f.Name, maxDescriptionLen)
	}
	if len(f.Container) > maxContainerLen || !allIn(f.Container, func(c byte) bool { return c > ' ' && c < 0x7f }) {
		return invalid("function %s: container %q is not an image reference", f.Name, f.Container)
	}
	// The grammar routing matches by, so that no record enters the network
	// with a requirement that means nothing to an endpoint; the error
	// carries require's message, the one routing gives.
	if _, err := require.ParseAll(f.Requirements); err != nil {
		return fail(fault.Invalid, ErrInvalidField, "function %s: %w", f.Name, err)
	}
	for i, s := range f.Requirements {
		if i > 0 && f.Requirements[i-1] >= s {
			return invalid("function %s: requirements not sorted or duplicated at %q", f.Name, s)
		}
	}
	return nil
}

// DecodeFunction decodes and validates a function's canonical bytes (as sync
// carries them) and returns it with its ID. The size is checked first.
func DecodeFunction(b []byte, lim Limits) (*Function, ID, error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxRecordBytes {
		return nil, ID{}, fail(fault.TooLarge, ErrTooLarge, "function of %d bytes, limit %d", len(b), lim.MaxRecordBytes)
	}
	var f Function
	if err := decodeCanonical(b, &f); err != nil {
		return nil, ID{}, err
	}
	if err := f.Validate(lim); err != nil {
		return nil, ID{}, err
	}
	return &f, idOf(b), nil
}

// normalizeRequirements sorts and de-duplicates requirements; it leaves
// each as written, since require.Parse keeps it so.
func normalizeRequirements(rs []string) []string {
	return sortedUnique(rs)
}

func validateName(name string) error {
	if name == "" || len(name) > maxNameLen || !allIn(name, isNameByte) {
		return invalid("name %q: want 1 to %d of [a-zA-Z0-9_.-]", name, maxNameLen)
	}
	return nil
}

// ValidateName reports whether name is a valid function name.
func ValidateName(name string) error { return validateName(name) }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// validateOwner requires s to be a peer ID in its canonical string form, so
// one user has one spelling.
func validateOwner(s string) error {
	id, err := peer.Decode(s)
	if err != nil || id.String() != s {
		return invalid("%q is not a user ID", s)
	}
	return nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// SplitRef splits "OWNER/NAME" (or "OWNER/NAME@VERSION"); ok is false
// unless both parts are non-empty.
func SplitRef(ref string) (owner, name string, ok bool) {
	owner, name, ok = strings.Cut(ref, "/")
	return owner, name, ok && owner != "" && name != ""
}

func allIn(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
