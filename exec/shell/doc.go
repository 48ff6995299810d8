// Package shell runs command templates, functions of kind exec.KindShell,
// without a shell: it implements exec.Executor, and exec.Statser.
//
// A template such as
//
//	convert {input} -resize '{width}x{height}' --out={output}
//
// is split into words once, like a shell would split it, and each task's
// keyword arguments fill its {name} placeholders. The values go straight
// into the argv of execve: no shell ever reads them, so a value of
// "; rm -rf ~" is one argument of that text, and nothing else. (A value may
// still start with "-" and be taken for an option by the program; templates
// guard against that the usual way, with "--".)
//
// # Template grammar
//
//   - Words are separated by unquoted blanks (space, tab, newline).
//   - 'single' and "double" quotes group text, blanks included, into one
//     word; empty quotes make an empty argument. Inside double
//     quotes, \" and \\ stand for " and \; elsewhere in quotes a backslash
//     is itself. Outside quotes, a backslash makes the next character
//     literal (\ , \', \{ ...).
//   - {name}, where name is [A-Za-z_][A-Za-z0-9_]*, is a placeholder,
//     inside quotes or not. A word may mix text and placeholders
//     ("--out={file}", '{w}x{h}'); each is replaced by its value, verbatim,
//     never split into more words. {{ and }} stand for literal braces; any
//     other brace is an error (so awk's '{print $1}' is written
//     '{{print $1}}').
//   - The first word names the program (looked up in PATH, the system's
//     /usr/local/bin:/usr/bin:/bin, never in this process's PATH, unless
//     it holds a "/", relative to the task's directory if so) and must be
//     literal.
//   - Nothing else is special: no $variables, globs, pipes, redirections
//     or ~. A template that wants them runs a shell itself, with the values
//     as its positional parameters: sh -c 'grep -c "$1" "$2"' sh {pattern}
//     {file}. Template.ShellSyntax reports the first such operator outside
//     quotes (fx refuses it at registration; an endpoint runs it, as text).
//
// Parse checks a template when a function is registered; Values and
// Template.Expand turn a task's kwargs into argv.
//
// # Arguments
//
// A task's kwargs must name exactly the template's placeholders. Strings
// are used as they are, numbers as written (exponents spelled out: 1e3 is
// 1000), booleans as true and false; null, arrays and objects, a missing or
// unknown argument, positional args, and a template that does not parse
// fail the task with fault.Invalid before anything runs.
//
// # Running
//
// Each command runs in a fresh directory under Config.WorkDir (for a
// tenant of Config.Tenants, under the tenant's working directory; see
// Tenants), removed afterwards, as the leader of its own process group, with stdout and
// stderr captured up to Limits.MaxOutputBytes each. At its timeout the
// whole group is killed and the task fails with fault.Timeout. A non-zero
// exit fails it with fault.User ("exit status 3"), and so does a signal
// ("killed by signal 11 (segmentation fault)"); Result.ExitCode is the exit
// status, or 128+N for signal N, as shells report it.
//
// Every command runs with umask 077, whatever this process's, so that what
// it makes is its own user's alone, and with PATH set to PATH
// (/usr/local/bin:/usr/bin:/bin), whatever this process's or Config.Env's:
// the programs a command finds are the system's, not those of whoever
// started the endpoint. On Linux the umask is set on an OS thread of the
// executor's own, apart from the rest of the process, that starts the
// command and waits for it; where that thread cannot stop sharing its
// umask (a seccomp filter forbidding unshare), and on other systems, /bin/sh
// sets it and executes the program in its place, the arguments passed to
// the program untouched.
//
// Result.Value is the JSON object
//
//	{"returncode": 0, "stdout": "...", "stderr": "..."}
//
// with the same (bounded) output as Result.Stdout and Result.Stderr, and is
// set for failed commands too.
//
// # Tenants
//
// Without Config.Tenants every command runs as this process's user, in a
// directory under Config.WorkDir: commands of different tenants are
// separate processes, but one tenant's command could read what this
// process may (as root, everything: the node's key, other tenants'
// directories, their processes through /proc).
//
// Config.Tenants, a tenant.Table (package exec/tenant) that the endpoint
// shares with its Python pool, runs each command of tenant T as T: with
// T's uid, gid and supplementary groups (a uid of the table's range, its
// group and no other; or T's local account), and in a fresh directory,
// made mode 0700 and owned by that uid, inside T's working directory (the
// account's home, or the table's directory/tenants/t-HASH) — the uid and
// directory T's Python workers have. The command enters it through a
// descriptor of this process (/proc/self/fd/N), so it needs no right to
// the directories above (on other systems than Linux it does). HOME names
// T's working directory (with an account, USER and LOGNAME its name too),
// and PWD the fresh one; PATH is PATH, the rest of the environment is
// Config.Env (nil: this process's, whatever it holds); the umask is 077. A
// tenant that the table refuses (an account required, and T has none)
// fails as fault.Denied, and nothing runs.
//
// What T's command can see, then: what its uid may read like any local
// user of the machine (programs, /usr, world-readable files, /tmp, the
// list of processes in /proc and their command lines), T's working
// directory (files its Python workers leave there, and those of T's
// commands running at the same time), and its environment. It cannot open
// another tenant's working directory, the files of the node's directory
// (its key, task journal and database, readable by root alone), or
// anything of another tenant's processes through /proc (their
// descriptors, memory or environment), nor signal them. The program must
// be one the tenant's uid may run: one it may not fails the task at start
// (fault.User, "StartError ... permission denied").
package shell
