// Package require is the one grammar of requirements, what work needs of an
// endpoint (gpus>=1, memory>=64GiB, python>=3.10, dataset=cryo-2026,
// label:site=aps): their keys, operators and values, how they are parsed,
// how their values are read (counts, byte sizes with units, dotted
// versions) and normalised (architecture and operating system aliases), and
// the errors that say why one is refused.
//
// Catalog validation and routing both parse with it, so that a function
// record is accepted into the catalog exactly when its requirements mean
// something to routing: nothing the network stores is a requirement no
// endpoint can ever meet for want of a meaning. What a requirement means
// against an endpoint (Met, capability keys) is routing's, which has the
// endpoint record; this package knows no record.
//
// # Grammar
//
// A requirement is KEY OP VALUE without spaces; OP is one of =, !=, >=, <=,
// > and <. Every key takes = and !=; the keys whose values are numbers (and
// labels written label:K) take the comparisons too. The keys and their
// values:
//
//   - cpus, gpus: a whole number (FormCount).
//   - memory, gpu_memory: bytes (FormBytes): a whole number, or a number with a
//     unit, fraction allowed: KB, MB, GB, TB, PB are powers of 1000; KiB,
//     MiB, GiB, TiB, PiB powers of 1024; B is bytes; case does not matter
//     ("memory>=64GiB", "1.5tb").
//   - python: a dotted version such as 3.10 (FormVersion).
//   - gpu, gpu_model, arch, os, container, scheduler, dataset: a word of
//     [A-Za-z0-9_.:+/@-], with = and != only (FormWord).
//   - image: a container image reference, a word too, with = and != only
//     (FormWord): fxmesh-test/python:1, 127.0.0.1:5000/x/y:tag,
//     name@sha256:.... NormalizeImage says which references name the same
//     image.
//   - module: a Python distribution, NAME or NAME>=VERSION (FormModule), with
//     = and != only: module=numpy, module=scikit-learn>=1.4. NAME is 1 to
//     MaxModuleName of [A-Za-z0-9._-], starting and ending with a letter or
//     digit, compared as PEP 503 normalises it (NormalizeModule:
//     Scikit_Learn is scikit-learn); VERSION is a dotted version of digits.
//     The operator is the = after module; the >= is part of the value
//     (quote it in a shell: --require 'module=numpy>=1.26').
//   - label:K: the endpoint's label K, K being 1 to 64 of [A-Za-z0-9_.:/-] as
//     record label keys are. With = and != the value is a word; with a
//     comparison it is a number, a number with a byte unit, or a dotted
//     version (FormLabel).
//   - any other key K of [a-z0-9_.:-] is a label too: K=V means label:K=V.
//     A comparison on it parses (its value must be a number) but is never
//     met: labels are compared only when written label:K.
//
// Keys are at most 64 bytes (label:K at most 70), values at most 128, and
// one request or function has at most MaxRequirements. Every error of Parse
// has fault kind Invalid and wraps one of ErrNoOperator, ErrBadKey,
// ErrBadOperator or ErrBadValue; its message quotes the requirement and says
// what was wanted, and it is the same message whichever package parsed.
//
// Parse keeps the requirement as written: String gives back the input, so
// that a signed record's bytes and ID do not depend on this package's
// version. The comparisons of values (aliases of arch and os, units of
// bytes, precision of versions) are made by normalising both sides when
// matching (NormalizeArch, NormalizeOS, NormalizeImage).
package require
