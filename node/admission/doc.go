// Package admission decides whether an endpoint takes an invocation. The
// decision is one pure function, Decide, of the invocation as it arrived
// (its signed envelope and the peer that sent it), the endpoint's Policy,
// read-only views of what the endpoint holds (its catalog, its task store's
// replay record, its executors' queues, its container runtime's images, its
// own endpoint record), and the
// time. Decide writes nothing and starts nothing: it answers with the
// invocation admitted, the function compiled for the executor of its kind
// and the task the store is to record, or with a refusal whose fault kind
// crosses the wire.
//
// The checks, in order, each refusing with its kind:
//
//   - size (too-large), envelope, canonical form and schema (invalid),
//     signature (invalid);
//   - the sender is the signer (denied): results go back only to it;
//   - the target is this endpoint (invalid), the lifetime is within
//     Policy.MaxLifetime (invalid), the invocation is not issued ahead of
//     the clock by more than the skew tolerated (expired) and has not
//     expired (expired);
//   - the endpoint's policy admits the caller (denied), maps it to a local
//     account where it requires one (denied), and offers the function
//     (denied);
//   - the function is known: from the catalog, or from the proof the
//     invocation carries when the catalog does not hold it (not-found
//     without either; unavailable when the catalog cannot answer); a proof
//     is refused when it is not valid (invalid), not of the function
//     invoked (invalid), or older than what the catalog knows (denied);
//   - the function's access admits the caller (denied);
//   - on an endpoint that runs functions on its host for its owner alone
//     (Policy.HostOwnerOnly: it cannot keep users' workers apart), a
//     function without a container image is its owner's call (denied,
//     with the reason);
//   - the endpoint meets the function's and the invocation's requirements
//     (invalid);
//   - for a function with a container image: the endpoint has a container
//     runtime (unavailable, ErrNoContainerRuntime; such a function never
//     runs on the host) and the image is present on it (not-found,
//     ErrImageAbsent; unavailable when the runtime cannot tell);
//   - the endpoint runs the function (invalid), a function with a
//     container on its container executor whatever its kind, and has room
//     in that executor's queue (overloaded);
//   - the task was not issued before the task store's horizon (expired),
//     and was not seen before (replayed).
//
// The endpoint (package node) keeps the I/O around it: it reads the request
// from the stream, calls Decide, records the task with the task store
// (whose Admit checks replay again, atomically, for invocations that race),
// and runs it.
package admission
