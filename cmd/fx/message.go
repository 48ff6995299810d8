package main

import (
	"regexp"
	"strings"
)

// packagePrefix matches the "package: operation: " prefixes that errors
// gather as they rise through fxmesh's packages ("client: catalog resolve:
// ", "node: ", "catalog: "): the logs keep them, the user needs none.
var packagePrefix = regexp.MustCompile(`(^|: |; |\n)(?:client|node|catalog|routing|invoke|identity|p2p|require|taskstore|admission|wire|exec|fault)(?:(?: |: )[a-z]+)?: `)

// message is err as fx prints it: without package prefixes, so that what
// is left says what happened, to what, and what to do.
func message(err error) string {
	msg := err.Error()
	for {
		next := packagePrefix.ReplaceAllString(msg, "$1")
		if next == msg {
			break
		}
		msg = next
	}
	return strings.TrimSpace(msg)
}
