# The Python worker of exec/container, run inside a container as
#
#     python3 -u -c SOURCE MAX_OUTPUT_BYTES MAX_RESULT_BYTES
#
# It speaks the protocol of protocol.go on its stdin and stdout, which it
# moves to private descriptors first: the user's code sees /dev/null as
# fd 0 and the worker's stderr as fd 1, and within a task sys.stdout and
# sys.stderr are bounded captures. It needs only the standard library of
# Python 3.8 or later, and nothing of fxmesh in the image.
import io
import json
import os
import sys
import traceback

MAX_OUT = int(sys.argv[1])
MAX_RESULT = int(sys.argv[2])

_rfd = os.dup(0)
_wfd = os.dup(1)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
os.dup2(2, 1)
_read = os.fdopen(_rfd, "rb", buffering=1 << 16).read
_out = os.fdopen(_wfd, "wb", buffering=0)
sys.stdin = open(os.devnull)
_real_stdout = sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)


class Capture(io.TextIOBase):
    """A text stream that keeps the first MAX_OUT bytes written and counts all."""

    def __init__(self):
        self.kept = bytearray()
        self.total = 0

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not " + type(s).__name__)
        b = s.encode("utf-8", "replace")
        room = MAX_OUT - len(self.kept)
        if room > 0:
            self.kept += b[:room]
        self.total += len(b)
        return len(s)

    def text(self):
        return self.kept.decode("utf-8", "ignore")


def send(msg):
    body = json.dumps(msg, allow_nan=False, separators=(",", ":")).encode()
    _out.write(len(body).to_bytes(4, "big") + body)


def exception(kind):
    t, e, _ = sys.exc_info()
    name = t.__name__
    if t.__module__ not in ("builtins", "__main__"):
        name = t.__module__ + "." + name
    return {"k": kind, "t": name, "m": str(e)[:MAX_OUT], "tb": traceback.format_exc()[-MAX_OUT:]}


def load(fid, source, entry):
    scope = {"__name__": "__fxmesh_" + fid.replace("-", "_")}
    exec(compile(source, "<function " + fid + ">", "exec"), scope)
    fn = scope.get(entry)
    if not callable(fn):
        raise NameError("entry %r is not a function defined in the source" % entry)
    return fn


def call(fn, args, kwargs):
    """Calls fn and returns the body of its reply frame."""
    out, err = Capture(), Capture()
    sys.stdout, sys.stderr = out, err
    value, reply = None, {}
    try:
        result = fn(*args, **kwargs)
    except BaseException:
        reply["x"] = exception("user")
    finally:
        sys.stdout, sys.stderr = _real_stdout, sys.__stderr__
    if not reply:
        try:
            value = json.dumps(result, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):
            reply["x"] = exception("user")
        if value is not None and len(value) > MAX_RESULT:
            reply["x"] = {"k": "too-large", "t": "ResultTooLarge",
                          "m": "result is %d bytes of JSON, over the limit of %d" % (len(value), MAX_RESULT)}
            value = None
    reply.update(o=out.text(), ot=out.total, e=err.text(), et=err.total)
    body = json.dumps(reply, separators=(",", ":"))
    if value is not None:
        body = body[:-1] + ',"v":' + value + "}"
    return body.encode()


def main():
    fns = {}
    send({"ready": True})
    while True:
        head = _read(4)
        if len(head) < 4:
            return
        n = int.from_bytes(head, "big")
        body = _read(n)
        if len(body) < n:
            return
        req = json.loads(body)
        if req.get("c"):
            fns.clear()
        fid = req["f"]
        if "s" in req:
            try:
                fns[fid] = load(fid, req["s"], req["e"])
            except BaseException:
                fns.pop(fid, None)
                send({"lx": exception("user")})
                continue
            if "a" not in req:
                send({"loaded": True})
                continue
        fn = fns.get(fid)
        if fn is None:
            send({"miss": True})
            continue
        body = call(fn, req.get("a") or [], req.get("k") or {})
        _out.write(len(body).to_bytes(4, "big") + body)


main()
