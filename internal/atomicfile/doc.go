// Package atomicfile writes a file so that readers see the old content or
// the new, never a part: the daemon's config, address and claim files and
// the client's config and task records.
package atomicfile
