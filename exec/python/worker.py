# The fxmesh Python worker, embedded in exec/python and run as
#
#     python -u - MAX_OUTPUT_BYTES MAX_RESULT_BYTES ISOLATED
#
# with this file on stdin (so that ps shows that short line).
# It reads requests on fd 3 and writes replies on fd 4, each a frame of a
# 4-byte big-endian length and a JSON body (protocol.go describes them). The
# user's code never sees those descriptors: fd 1 and 2 go to the pool's log,
# and sys.stdout and sys.stderr are replaced by bounded per-task captures.
# It must run on Python 3.8 and later and import nothing outside the
# standard library.
import sys

# With the script on stdin the current directory heads sys.path; a json.py there must not
# replace the standard library's.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]

import builtins
import faulthandler
import json
import linecache
import os

REQ_FD, REP_FD, DIR_FD = 3, 4, 5

# An isolated worker (ISOLATED is 1) gets its tenant's working directory as
# fd 5: it enters it, closes it, and keeps what it creates to itself.
if sys.argv[3:4] == ["1"]:
    os.fchdir(DIR_FD)
    os.close(DIR_FD)
    os.umask(0o077)
MAX_FUNCTIONS = 256  # compiled functions kept; protocol.go's maxCached
SELF = sys._getframe().f_code.co_filename


class Capture:
    """A text stream that keeps the first `limit` bytes written to it (give
    or take a character) and counts every byte."""

    __slots__ = ("parts", "n", "kept", "limit")
    encoding = "utf-8"
    errors = "strict"
    closed = False
    newlines = None

    def __init__(self, limit):
        self.parts = []
        self.n = 0
        self.kept = 0
        self.limit = limit

    def write(self, s):
        if s.__class__ is not str and not isinstance(s, str):
            raise TypeError("write() argument must be str, not " + type(s).__name__)
        k = len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
        self.n += k
        room = self.limit - self.kept
        if room > 0:
            if k > room:
                self.parts.append(s[:room])
                self.kept = self.limit
            else:
                self.parts.append(s)
                self.kept += k
        return len(s)

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def flush(self):
        pass

    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False

    def fileno(self):
        import io

        raise io.UnsupportedOperation("fileno")

    def reset(self):
        self.parts = []
        self.n = 0
        self.kept = 0

    def text(self):
        return "".join(self.parts)


def type_name(t):
    mod = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", None) or t.__name__
    if mod in (None, "builtins", "__fxmesh__"):
        return name
    return mod + "." + name


def format_traceback(e):
    import traceback

    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == SELF:
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(e), e, tb))
    except BaseException:
        return ""


def main():
    max_out = int(sys.argv[1])
    max_res = int(sys.argv[2])
    os.set_inheritable(REQ_FD, False)
    os.set_inheritable(REP_FD, False)
    faulthandler.enable()  # on fd 2, before sys.stderr is replaced

    read = os.fdopen(REQ_FD, "rb", buffering=1 << 16).read
    write = os.write
    loads = json.loads
    enc = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
    out = Capture(max_out)
    err = Capture(max_out)
    fns = {}

    def send(s):
        b = s.encode()
        data = len(b).to_bytes(4, "big") + b
        n = write(REP_FD, data)
        if n != len(data):
            view = memoryview(data)
            while n < len(data):
                n += write(REP_FD, view[n:])

    def outputs():
        # The "o"/"e" members of a reply, each with its total byte count.
        s = ""
        if out.n:
            s = '"o":' + enc(out.text()) + ',"ot":' + str(out.n) + ","
        if err.n:
            s += '"e":' + enc(err.text()) + ',"et":' + str(err.n) + ","
        return s

    def failure(kind, e, prefix="", tb=True):
        name = type_name(type(e))
        try:
            msg = prefix + str(e)
        except BaseException:
            msg = prefix + "<unprintable " + name + ">"
        text = format_traceback(e) if tb else ""
        return (
            '{"k":' + enc(kind) + ',"t":' + enc(name) + ',"m":' + enc(msg[:max_out])
            + ',"tb":' + enc(text[-max_out:]) + "}"
        )

    def call(fn, a, k):
        sys.stdout = out
        sys.stderr = err
        if out.n:
            out.reset()
        if err.n:
            err.reset()
        try:
            r = fn(*a, **k)
        except BaseException as e:
            return "{" + outputs() + '"x":' + failure("user", e) + "}"
        try:
            v = enc(r)
        except BaseException as e:
            x = failure("user", e, "result is not JSON-serializable: ", False)
            return "{" + outputs() + '"x":' + x + "}"
        if len(v) > max_res:
            x = '{"k":"too-large","t":"ResultTooLarge","m":"result is %d bytes of JSON, over the limit of %d"}' % (
                len(v), max_res)
            return "{" + outputs() + '"x":' + x + "}"
        if out.n or err.n:
            return "{" + outputs() + '"v":' + v + "}"
        return '{"v":' + v + "}"

    def load(fid, src, entry):
        sys.stdout = out
        sys.stderr = err
        out.reset()
        err.reset()
        name = "<fxmesh %s>" % fid[:128]
        code = compile(src, name, "exec", dont_inherit=True)
        linecache.cache[name] = (len(src), None, src.splitlines(True), name)
        ns = {"__name__": "__fxmesh__", "__builtins__": builtins}
        exec(code, ns)
        fn = ns.get(entry)
        if fn is None:
            raise NameError("the function's source defines no %r" % entry)
        if not callable(fn):
            raise TypeError("%r is a %s, not a function" % (entry, type(fn).__name__))
        fns.pop(fid, None)
        fns[fid] = fn
        while len(fns) > MAX_FUNCTIONS:
            old = next(iter(fns))
            del fns[old]
            linecache.cache.pop("<fxmesh %s>" % old[:128], None)
        return fn

    send('{"ready":true}')
    while True:
        h = read(4)
        if len(h) != 4:
            return 0
        n = int.from_bytes(h, "big")
        body = read(n)
        if len(body) != n:
            return 0
        req = loads(body)
        fid = req["f"]
        items = req["b"]
        src = req.get("s")
        if src is not None:
            try:
                fn = load(fid, src, req.get("e") or "")
            except BaseException as e:
                send('{"lx":' + failure("user", e) + "}")
                continue
            if not items:
                send('{"loaded":true}')
                continue
        else:
            fn = fns.get(fid)
            if fn is None:
                send('{"miss":true}')
                continue
        for a, k in items:
            send(call(fn, a, k))


sys.exit(main())
