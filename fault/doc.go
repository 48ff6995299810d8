// Package fault is fxmesh's one vocabulary of error kinds: the few kinds that
// cross the wire (invalid, denied, expired, replayed, not-found, too-large,
// overloaded, timeout, unavailable, internal, system) and that the fx client
// turns into plain messages and exit codes. Every package but identity uses it;
// it imports only the standard library.
package fault
