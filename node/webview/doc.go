// Package webview is fxnode's read-only web view of the mesh: one page
// (its HTML, script and style embedded in the binary, nothing fetched from
// elsewhere, no build step) that polls a small JSON API and shows every
// endpoint the node knows (name, ID, owner, online, hardware, software,
// labels, datasets, load), filtered on the server by the requirement
// syntax of --require (package routing matches it), the public functions
// of the catalog, and, on the node's own endpoint page, its recent tasks
// and configuration.
//
// What the view may show is fixed by its types: a task is its IDs, state,
// times and error kind (Task), never its arguments, results or output,
// and the catalog lists public functions only. The package imports
// nothing that holds a task's inputs (exec, invoke, the task store), which
// arch_test.go checks.
//
// The handler answers GET and HEAD only. With a token (Options.Token)
// every path, /metrics included, needs it: "Authorization: Bearer TOKEN",
// or the cookie that a visit to any page with ?token=TOKEN sets. Without
// one, the node listens on loopback only, and the handler answers only
// requests whose Host is a loopback name or address, so that a web site
// cannot read it through a DNS name it points at 127.0.0.1.
package webview
