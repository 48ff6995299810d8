// Package tenant gives each tenant of an endpoint (exec.Task.Tenant, the
// invocation's signer) the identity its processes run under: a uid, gid
// and supplementary groups, a working directory, and HOME. The executors
// that start processes for tenants (exec/python, exec/shell) share one
// Table, so that a tenant has the same uid and directory in all of them.
//
// Isolation says how: with a uid range (Isolation.UIDs), a tenant without
// an account gets an unprivileged uid of its own, the group of the same
// number and no supplementary groups; the uid is the first free one from
// a hash of the tenant, kept in Isolation.Dir/uids.json so that it stays
// the tenant's across restarts, and never given to two tenants. Its
// working directory is Isolation.Dir/tenants/t-HASH, mode 0700, owned by
// its uid. A tenant that Isolation.Accounts maps runs as that local
// account (uid, gid, supplementary groups) in its home directory. With
// Isolation.RequireAccount, unmapped tenants are refused as fault.Denied.
// Switching uids needs this process to run as root; New refuses an
// Isolation it cannot honour, saying why.
//
// A nil *Table, and one of the zero Isolation, isolate nothing: every
// tenant's Identity is this process's user, in no directory of its own.
package tenant
