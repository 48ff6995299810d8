"""How a Python callable becomes a function of the mesh: its source, taken
with inspect.getsource, dedented, without decorators, with the modules it
names as globals imported, under a content-addressed name."""

import ast
import hashlib
import inspect
import re
import textwrap
import types

from . import errors

# The entry point of a pickle-serialized function: it unpickles the
# arguments, calls the user's function and pickles what it returns. It is
# appended to the function's source; {entry} is the user's function.
PICKLE_ENTRY = "_fxmesh_pickle_call"
_PICKLE_SHIM = '''

def _fxmesh_pickle_call(payload):
    import base64, pickle
    args, kwargs = pickle.loads(base64.b64decode(payload))
    result = {entry}(*args, **kwargs)
    try:
        data = pickle.dumps(result, protocol=4)
    except Exception as e:
        raise TypeError("the result, of type %s.%s, cannot be pickled: %s"
                        % (type(result).__module__, type(result).__qualname__, e)) from None
    return base64.b64encode(data).decode("ascii")
'''


class Function:
    """A callable as the SDK registers it: name (content-addressed),
    source, entry."""

    __slots__ = ("name", "source", "entry")

    def __init__(self, name, source, entry):
        self.name = name
        self.source = source
        self.entry = entry


def function_source(fn):
    """The source of fn as the endpoint will run it, and its entry name.
    Raises SourceError for what cannot be sent."""
    what = getattr(fn, "__qualname__", None) or repr(fn)
    if isinstance(fn, (types.MethodType, classmethod, staticmethod)):
        raise errors.SourceError("fxmesh: %s is a method; submit a plain module-level function" % what)
    if not isinstance(fn, types.FunctionType):
        raise errors.SourceError(
            "fxmesh: %r is not a Python function defined in source (a builtin, a class, a partial or "
            "another callable); wrap it in a def" % (fn,)
        )
    if fn.__name__ == "<lambda>":
        raise errors.SourceError("fxmesh: cannot submit a lambda (%s); define it with def" % what)
    if fn.__code__.co_freevars:
        raise errors.SourceError(
            "fxmesh: %s is a closure over %s; the endpoint runs only the function's own source, so make "
            "those values arguments" % (what, ", ".join(fn.__code__.co_freevars))
        )
    if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise errors.SourceError("fxmesh: %s is a coroutine or generator function; submit a plain function" % what)
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError) as e:
        raise errors.SourceError(
            "fxmesh: the source of %s is not available (%s); define it in a file or a notebook cell" % (what, e)
        ) from None
    src = textwrap.dedent(src)
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        raise errors.SourceError("fxmesh: the source of %s does not parse on its own: %s" % (what, e)) from None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(tree.body) != 1 or not defs:
        raise errors.SourceError("fxmesh: the source of %s is not a single def statement" % what)
    node = defs[0]
    if node.decorator_list:
        lines = src.splitlines(True)
        src = "".join(lines[node.lineno - 1:])
    if node.name != fn.__name__:
        raise errors.SourceError("fxmesh: the source found for %s defines %s" % (what, node.name))
    imports = _module_imports(fn)
    if imports:
        src = "".join(imports) + "\n" + src
    if not src.endswith("\n"):
        src += "\n"
    return src, fn.__name__


def _module_imports(fn):
    # Modules the function names as globals (import numpy as np at the top
    # of a notebook): the endpoint imports them the same way.
    out = []
    g = fn.__globals__
    for name in sorted(set(_names(fn.__code__))):
        v = g.get(name)
        if isinstance(v, types.ModuleType) and not v.__name__.startswith("__"):
            if v.__name__ == name:
                out.append("import %s\n" % name)
            else:
                out.append("import %s as %s\n" % (v.__name__, name))
    return out


def _names(code):
    yield from code.co_names
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _names(c)


def make_function(fn, serializer="json"):
    """The Function the SDK registers for fn under serializer."""
    src, entry = function_source(fn)
    if serializer == "pickle":
        src = src + _PICKLE_SHIM.format(entry=entry)
        entry = PICKLE_ENTRY
    digest = hashlib.sha256(("%s\0%s\0%s" % (serializer, entry, src)).encode("utf-8")).hexdigest()
    base = re.sub(r"[^A-Za-z0-9_]", "_", fn.__name__)[:40] or "fn"
    return Function("%s.%s" % (base, digest[:20]), src, entry)
