// Package boltstore keeps a catalog store on disk: it implements
// catalog.Backend on one bbolt file, and Open builds a *catalog.Store on
// it. The catalog itself knows nothing of files; this adapter is the only
// part of it that imports bbolt.
//
// # Layout
//
// Bucket "heads" maps OWNER/NAME to the envelope of its current update;
// "functions" maps a function ID's binary form to the function's canonical
// bytes; "meta" holds "schema" = "1". A file of another schema is refused.
// Each Commit, of one catalog.Batch or of many, is one bbolt transaction.
//
// # Sharing the file
//
// bbolt locks its file: a read-write Backend holds it alone, and another
// Open waits for it up to Options.LockTimeout, then fails with kind
// fault.Timeout. With Options.Catalog.ReadOnly the file is opened for
// lookups only, under a shared lock: any number of read-only stores, in
// this process or others, may hold it at once, and a read-write one waits
// for them all (and they for it). A read-only Open creates and repairs
// nothing. The file must exist (an error wrapping fs.ErrNotExist if not);
// an empty one, just created by a writer that has not yet written it,
// reads as an empty store, and so does a file whose buckets are missing.
// The store itself refuses every write (catalog.ErrReadOnly) and leaves
// stored records that no longer pass on disk. The fx commands of one user
// work so: each looks up under a shared lock, writes under its own, and
// holds the file only for that moment.
package boltstore
