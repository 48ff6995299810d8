#!/bin/sh
# build-test-images.sh builds the container images exec/container's tests run
# in, locally, with no registry:
#
#   fxmesh-test/python:1   this machine's Python interpreter (PYTHON, default
#                          /usr/bin/python3, else python3 in PATH), its
#                          standard library and the shared libraries ldd
#                          lists, plus /fxmesh/marker, a file that exists
#                          only in the image
#   fxmesh-test/busybox:1  the static busybox of Debian's busybox-static
#                          package (BUSYBOX, or fetched with apt-get
#                          download), its applets linked in /bin, the same
#                          marker
#   fxmesh-test/busybox-entrypoint:1
#                          the same with ENTRYPOINT ["/bin/false"], as
#                          images made to run one program have
#
# Each image is made by `docker import` of a root file system tarball, and
# when podman is installed, by `podman import` of the same tarball, so that
# the tests can run under both runtimes. ENGINES names the runtimes to build
# for (default: docker, and podman when present; DOCKER=PROGRAM, the older
# knob, means just that one). An image that every engine has already is left
# alone (FORCE=1 rebuilds), so a second run takes a fraction of a second.
# Needs docker and/or podman, tar, ldd, and for busybox either BUSYBOX or
# apt-get and dpkg-deb.
set -eu

if [ -n "${DOCKER:-}" ]; then
	ENGINES=${ENGINES:-$DOCKER}
else
	ENGINES=${ENGINES:-docker$(command -v podman >/dev/null 2>&1 && echo ' podman' || :)}
fi
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
PY_IMAGE=${PY_IMAGE:-fxmesh-test/python:1}
BB_IMAGE=${BB_IMAGE:-fxmesh-test/busybox:1}
EP_IMAGE=${EP_IMAGE:-fxmesh-test/busybox-entrypoint:1}
FORCE=${FORCE:-}
MARKER="fxmesh test image"

# have_image IMAGE: whether every engine has IMAGE (and FORCE is unset).
have_image() {
	[ -z "$FORCE" ] || return 1
	for engine in $ENGINES; do
		"$engine" image inspect "$1" >/dev/null 2>&1 || return 1
	done
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# skeleton ROOT: the directories every image gets, and the marker.
skeleton() {
	mkdir -p "$1/bin" "$1/usr/bin" "$1/etc" "$1/tmp" "$1/fxmesh" "$1/proc" "$1/sys" "$1/dev"
	chmod 1777 "$1/tmp"
	printf '%s\n' "$MARKER" >"$1/fxmesh/marker"
	printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$1/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$1/etc/group"
}

# import ROOT IMAGE [CHANGE]: make IMAGE of the file system under ROOT, with
# a Dockerfile instruction CHANGE, in every engine, from one tarball.
import_root() {
	tar -C "$1" --numeric-owner --owner=0 --group=0 -cf "$work/root.tar" .
	for engine in $ENGINES; do
		"$engine" import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' ${3:+--change "$3"} "$work/root.tar" "$2" >/dev/null 2>"$work/import.err" || {
			cat "$work/import.err" >&2
			exit 1
		}
		echo "built $2 ($engine)"
	done
	rm -f "$work/root.tar"
}

# copy_libs ROOT FILE...: copy the shared libraries FILEs need (ldd), and the
# loader, into ROOT at their own paths.
copy_libs() {
	root=$1
	shift
	ldd "$@" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | sort -u |
		while read -r lib; do
			[ -e "$lib" ] || continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
}

build_python() {
	if have_image "$PY_IMAGE"; then
		echo "have $PY_IMAGE"
		return
	fi
	exe=$("$PYTHON" -c 'import os, sys; print(os.path.realpath(sys.executable))')
	stdlib=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
	root=$work/python
	skeleton "$root"
	mkdir -p "$root$(dirname "$exe")" "$root$stdlib"
	cp -L "$exe" "$root$exe"
	[ "$exe" = /usr/bin/python3 ] || ln -sf "$exe" "$root/usr/bin/python3"
	# The standard library, less its tests and GUI parts.
	tar -C "$stdlib" --exclude=./test --exclude=./idlelib --exclude=./tkinter \
		--exclude=./turtledemo --exclude=./ensurepip --exclude=./lib2to3 \
		--exclude=./site-packages --exclude=./dist-packages -cf - . | tar -C "$root$stdlib" -xf -
	copy_libs "$root" "$exe" $(find "$root$stdlib" -name '*.so')
	import_root "$root" "$PY_IMAGE"
}

build_busybox() {
	if have_image "$BB_IMAGE" && have_image "$EP_IMAGE"; then
		echo "have $BB_IMAGE and $EP_IMAGE"
		return
	fi
	bb=${BUSYBOX:-}
	if [ -z "$bb" ]; then
		# A fresh machine may have no package lists yet: update once.
		(cd "$work" && { apt-get download busybox-static >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 && apt-get download busybox-static >/dev/null 2>&1; }; }) || {
			echo "build-test-images: cannot fetch busybox-static (set BUSYBOX to a static busybox binary)" >&2
			exit 1
		}
		dpkg-deb -x "$work"/busybox-static_*.deb "$work/deb"
		bb=$work/deb/bin/busybox
	fi
	root=$work/busybox
	skeleton "$root"
	cp "$bb" "$root/bin/busybox"
	for applet in $("$root/bin/busybox" --list); do
		[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
	done
	import_root "$root" "$BB_IMAGE"
	import_root "$root" "$EP_IMAGE" 'ENTRYPOINT ["/bin/false"]'
}

build_python
build_busybox
