#!/bin/sh
# STAND-IN, NOT APPTAINER. Apptainer is not packaged for this machine, so the
# tests of exec/container's Apptainer runtime run this script in its place.
# It appends its argv to the file $FXMESH_STANDIN_LOG, each word ended by a
# NUL byte and the call by a record separator (octal 036), and then:
#   version                    prints a version
#   pull DEST SRC              creates DEST, unless SRC names "absent", for
#                              which it fails as a registry without the
#                              image would
#   exec [OPTIONS] -- IMAGE COMMAND...
#                              checks that IMAGE exists and runs COMMAND on
#                              the host, with none of the options applied:
#                              no container, no limits, no isolation
# Anything else fails.
set -eu
log=${FXMESH_STANDIN_LOG:-/dev/null}
{
	for w in "$@"; do printf '%s\000' "$w"; done
	printf '\036'
} >>"$log"
case ${1:-} in
version)
	echo "apptainer stand-in 0 (not Apptainer)"
	;;
pull)
	shift
	[ "${1:-}" = "--" ] && shift
	case $2 in
	*absent*)
		echo "FATAL: While making image from oci registry: manifest unknown" >&2
		exit 255
		;;
	esac
	: >"$1"
	;;
exec)
	shift
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
	[ $# -ge 2 ] || {
		echo "stand-in: exec: no -- IMAGE" >&2
		exit 2
	}
	shift
	[ -e "$1" ] || {
		echo "FATAL: could not open image $1: no such file" >&2
		exit 255
	}
	shift
	exec "$@"
	;;
*)
	echo "stand-in: unknown command ${1:-}" >&2
	exit 2
	;;
esac
