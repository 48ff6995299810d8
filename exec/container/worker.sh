# The shell worker of exec/container, run inside a container as
#
#     /bin/sh -c SOURCE
#
# It needs a POSIX sh and mkdir, rm, cp, cat and wc (busybox has them all).
# Its stdin and stdout carry the protocol, moved to fd 3 and 4 at once; each
# command runs with /dev/null as stdin and its output captured in files.
#
# Request: a line with N, the number of words of argv, then N lines, each a
# word written as a printf format of plain characters and \NNN octal
# escapes. Reply: a line "STATUS STDOUT_BYTES STDERR_BYTES", then those
# bytes of stdout and of stderr. The worker writes "ready" when it starts.
exec 3<&0 4>&1 </dev/null >&2
d=${TMPDIR:-/tmp}/fxmesh-worker.$$
rm -rf "$d" && mkdir -p "$d" || exit 70
echo ready >&4
while read -r n <&3; do
	set --
	i=0
	while [ "$i" -lt "$n" ]; do
		read -r w <&3 || exit 71
		w=$(printf "${w}x")
		set -- "$@" "${w%x}"
		i=$((i + 1))
	done
	rm -rf "$d/run" && mkdir "$d/run" || exit 72
	(cd "$d/run" && exec "$@") >"$d/out" 2>"$d/err" </dev/null 3<&- 4>&-
	rc=$?
	cp "$d/out" "$d/out.1" && cp "$d/err" "$d/err.1" || exit 73
	echo "$rc $(wc -c <"$d/out.1") $(wc -c <"$d/err.1")" >&4
	cat "$d/out.1" "$d/err.1" >&4
done
