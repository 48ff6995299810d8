// Package gate holds the call gate that exec's implementations share: it
// admits calls until the executor closes, bounds how many run at once
// (the others wait, counted as queued, until a slot frees, their context
// ends or the executor closes), and lets Close wait for every call it
// admitted.
package gate
