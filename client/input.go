package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/fxmesh/fxmesh/fault"
)

// MaxInputLine bounds one line of a batch's input file: an input must fit
// the largest invocation an endpoint accepts (10 MiB), so a longer line is
// refused before anything is sent.
const MaxInputLine = 10 << 20

// ArgsJSON checks that value, given to flag (e.g. "--args"), is JSON that
// starts with open ('[' for an array, '{' for an object), and returns it.
// A syntax error names the flag, the line and column of the mistake, and
// hints at double quotes when the value holds single quotes.
func ArgsJSON(flag string, value []byte, open byte) ([]byte, error) {
	what := map[byte]string{'[': "a JSON array, like [1, \"x\"]", '{': "a JSON object, like {\"n\": 1}"}[open]
	trimmed := bytes.TrimSpace(value)
	if len(trimmed) == 0 {
		return nil, fault.E(fault.Invalid, "", "%s is empty; give %s", flag, what)
	}
	if err := syntaxError(trimmed); err != nil {
		return nil, fault.E(fault.Invalid, "", "%s is not valid JSON: %v%s", flag, err, quoteHint(trimmed))
	}
	if trimmed[0] != open {
		return nil, fault.E(fault.Invalid, "", "%s must be %s, not %s", flag, what, jsonType(trimmed[0]))
	}
	return trimmed, nil
}

// syntaxError is json.Valid's verdict as an error that says where, or nil.
func syntaxError(b []byte) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	err := d.Decode(&v)
	if err == nil {
		// One value only: something after it is an error too.
		off := int(d.InputOffset())
		if _, err2 := d.Token(); err2 != io.EOF {
			for off < len(b) && (b[off] == ' ' || b[off] == '\t' || b[off] == '\r' || b[off] == '\n') {
				off++
			}
			return fmt.Errorf("%s: text after the JSON value", position(b, off))
		}
		return nil
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the bad one included.
		off := int(se.Offset) - 1
		if off < 0 {
			off = 0
		}
		return fmt.Errorf("%s: %s", position(b, off), strings.TrimPrefix(se.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%s: the value is cut short (a bracket, brace or quote is not closed)", position(b, len(b)))
	}
	return err
}

// position says where offset off of b is, as line and column (1-based,
// counting bytes); a one-line text is told by column only.
func position(b []byte, off int) string {
	if off > len(b) {
		off = len(b)
	}
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(b[:off], '\n')
	if line == 1 && !bytes.Contains(b, []byte{'\n'}) {
		return fmt.Sprintf("column %d", col)
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}

// quoteHint is a hint for a value that uses single quotes, as Python does.
func quoteHint(b []byte) string {
	if bytes.ContainsRune(b, '\'') {
		return ` (JSON strings take double quotes: write ["x"], not ['x']; in a shell, wrap the whole value in single quotes: --args '["x"]')`
	}
	return ""
}

func jsonType(first byte) string {
	switch first {
	case '[':
		return "an array"
	case '{':
		return "an object"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// inputKeys are the keys of one line of a batch's input.
var inputKeys = []string{"args", "kwargs"}

// ReadInputs reads a batch's inputs: JSON lines, each an object with
// "args" (an array) and/or "kwargs" (an object); blank lines are skipped.
// It reads them all before anything is sent, and refuses the first line
// that is not an object, has another key, has args or kwargs of the wrong
// type, or is longer than MaxInputLine, naming name, the line and the rule.
func ReadInputs(r io.Reader, name string) ([]Input, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Input
	for n := 1; ; n++ {
		b, err := readLine(br, MaxInputLine)
		if errors.Is(err, errLineTooLong) {
			return nil, fault.E(fault.TooLarge, "", "%s:%d: the line is over %d MiB, the most one input may be", name, n, MaxInputLine>>20)
		}
		if err != nil && err != io.EOF {
			return nil, fault.E(fault.Invalid, "", "read %s: %v", name, err)
		}
		if line := bytes.TrimSpace(b); len(line) > 0 {
			in, perr := parseInputLine(line)
			if perr != nil {
				return nil, fault.E(fault.Invalid, "", "%s:%d: %v", name, n, perr)
			}
			out = append(out, in)
		}
		if err == io.EOF {
			break
		}
	}
	if len(out) == 0 {
		return nil, fault.E(fault.Invalid, "", "%s holds no inputs; each line is {\"args\": [...], \"kwargs\": {...}}", name)
	}
	return out, nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line (without its newline) of at most max bytes; it
// returns io.EOF with the last line, and errLineTooLong past max.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		content := len(line) + len(chunk)
		if err == nil {
			content-- // the newline
		}
		if content > max {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return line, err
		}
		return line[:len(line)-1], nil
	}
}

// parseInputLine checks one non-blank line of a batch's input.
func parseInputLine(line []byte) (Input, error) {
	if err := syntaxError(line); err != nil {
		return Input{}, fmt.Errorf("not valid JSON: %v%s", err, quoteHint(line))
	}
	if line[0] != '{' {
		return Input{}, fmt.Errorf(`each line must be a JSON object, {"args": [...], "kwargs": {...}}, not %s`, jsonType(line[0]))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return Input{}, err
	}
	var unknown []string
	for k := range fields {
		if k != "args" && k != "kwargs" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		msg := fmt.Sprintf("unknown key %q; a line has only \"args\" and \"kwargs\"", unknown[0])
		if s := Suggest(unknown[0], inputKeys); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %q?)", s[0])
		}
		return Input{}, errors.New(msg)
	}
	var in Input
	if a, ok := fields["args"]; ok && string(a) != "null" {
		if a[0] != '[' {
			return Input{}, fmt.Errorf(`"args" must be a JSON array, not %s`, jsonType(a[0]))
		}
		in.Args = a
	}
	if k, ok := fields["kwargs"]; ok && string(k) != "null" {
		if k[0] != '{' {
			return Input{}, fmt.Errorf(`"kwargs" must be a JSON object, not %s`, jsonType(k[0]))
		}
		in.Kwargs = k
	}
	return in, nil
}
