"""Arguments and results: JSON by default; pickle (base64 inside JSON) only
when the endpoint's Python major.minor is the client's."""

import base64
import json
import pickle
import sys

from . import errors

SERIALIZERS = ("json", "pickle")


def python_version():
    """This interpreter's major.minor, e.g. "3.11"."""
    return "%d.%d" % sys.version_info[:2]


def major_minor(v):
    """"3.11" from "3.11.7" (or from "Python 3.11.7"); "" when v has none."""
    s = str(v).strip()
    if s.lower().startswith("python"):
        s = s[6:].strip()
    parts = s.split(".")
    if len(parts) < 2 or not parts[0].isdigit():
        return ""
    minor = ""
    for ch in parts[1]:
        if not ch.isdigit():
            break
        minor += ch
    return parts[0] + "." + minor if minor else ""


def endpoint_python(record):
    """The Python version an endpoint record advertises for its workers:
    the first interpreter of software.python (the default worker
    interpreter), or ""."""
    sw = record.get("software") or {}
    pys = sw.get("python") or []
    return pys[0] if pys else ""


def check_pickle(record):
    """Raises SerializerError unless the endpoint's worker Python has this
    client's major.minor."""
    want = python_version()
    have = endpoint_python(record)
    if major_minor(have) != want:
        raise errors.SerializerError(
            "fxmesh: serializer=\"pickle\" needs the endpoint's Python to be %s like this client's, but "
            "endpoint %s (%s) runs Python %s; use serializer=\"json\" or an endpoint with Python %s"
            % (want, record.get("id", "?"), record.get("name", ""), have or "(none advertised)", want)
        )


_encode = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode


def encode_input(serializer, args, kwargs):
    """The API input ({"args", "kwargs"}) for one call, as JSON text."""
    if serializer == "pickle":
        try:
            data = pickle.dumps((tuple(args), dict(kwargs or {})), protocol=4)
        except Exception as e:
            raise errors.SerializerError("fxmesh: the arguments cannot be pickled: %s" % e) from None
        return '{"args":["' + base64.b64encode(data).decode("ascii") + '"]}'
    d = {}
    if args:
        d["args"] = args
    if kwargs:
        d["kwargs"] = kwargs
    try:
        return _encode(d)
    except (TypeError, ValueError) as e:
        raise errors.SerializerError(
            "fxmesh: the arguments are not JSON (%s; %s); pass JSON values or use serializer=\"pickle\""
            % (_culprit(d), e)
        ) from None


def _culprit(v):
    # The type of the first value JSON cannot carry.
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            for k, y in x.items():
                if not isinstance(k, str):
                    return "a key of type " + type(k).__name__
                stack.append(y)
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, float):
            if x != x or x in (float("inf"), float("-inf")):
                return "the float %r" % x
        elif x is not None and not isinstance(x, (str, int, bool)):
            return "a value of type %s.%s" % (type(x).__module__, type(x).__qualname__)
    return "a value JSON cannot carry"


def decode_value(serializer, value):
    """The Python value of a result's "value"."""
    if serializer == "pickle":
        if not isinstance(value, str):
            raise errors.SerializerError("fxmesh: a pickle result came back as %s, not text" % type(value).__name__)
        try:
            return pickle.loads(base64.b64decode(value))
        except Exception as e:
            raise errors.SerializerError("fxmesh: the result cannot be unpickled here: %s" % e) from None
    return value
