"""The exceptions of fxmesh: one class per error kind of the local API
(docs/local-api.md, "Errors"), and a few the SDK raises itself."""

import builtins


class FxError(Exception):
    """An error of the fx local API or of the SDK. `kind` is one of the
    API's error kinds (user, invalid, denied, not-found, timeout, expired,
    unavailable, overloaded, too-large, replayed, system, internal) or
    "sdk" for the SDK's own; `exit_code` is what `fx` would exit with."""

    kind = "sdk"

    def __init__(self, message, kind=None, exit_code=None, reason="", task_id=None, index=None):
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.exit_code = exit_code
        self.reason = reason
        self.task_id = task_id
        self.index = index

    def __str__(self):
        return self.message


class TaskFailed(FxError):
    """The function itself raised (kind "user"). `remote_type` is the remote
    exception's type name, `remote_message` its message and
    `remote_traceback` the traceback text from the endpoint."""

    kind = "user"

    def __init__(self, message, remote_type="", remote_traceback="", **kw):
        super().__init__(message, **kw)
        self.remote_type = remote_type
        self.remote_message = message
        self.remote_traceback = remote_traceback

    def __str__(self):
        head = "%s: %s" % (self.remote_type, self.message) if self.remote_type else self.message
        if self.remote_traceback:
            return head + "\n\nRemote traceback:\n" + self.remote_traceback.rstrip("\n")
        return head


class TaskSystemError(FxError):
    """The endpoint lost the task (a crash or restart): kind "system"."""

    kind = "system"


class TaskTimeout(FxError, builtins.TimeoutError):
    """The task ran past its walltime, or expired: kinds "timeout" and
    "expired". It is also a built-in TimeoutError."""

    kind = "timeout"


class TaskDenied(FxError):
    """The endpoint or the server refused the caller: kind "denied"."""

    kind = "denied"


class TaskCancelled(FxError):
    """The task was cancelled on the endpoint by someone else than this
    Executor (e.g. `fx cancel`). A future cancelled with its own cancel()
    raises concurrent.futures.CancelledError instead."""

    kind = "cancelled"


class Overloaded(FxError):
    """Every eligible endpoint refused as overloaded: kind "overloaded"."""

    kind = "overloaded"


class Unavailable(FxError):
    """No endpoint could be reached, or none meets the requirements: kind
    "unavailable"."""

    kind = "unavailable"


class NotFound(FxError):
    """A function, endpoint or task the mesh does not know: kind "not-found"."""

    kind = "not-found"


class InvalidRequest(FxError, ValueError):
    """The request was malformed: kind "invalid"."""

    kind = "invalid"


class TooLarge(FxError):
    """Arguments or a result over the size limits: kind "too-large"."""

    kind = "too-large"


class Replayed(FxError):
    """The endpoint saw this invocation before: kind "replayed"."""

    kind = "replayed"


class InternalError(FxError):
    """A bug in fx or the endpoint: kind "internal"."""

    kind = "internal"


class ApiVersionMismatch(FxError):
    """The server speaks another major version of the local API than this
    SDK. `server_version` and `client_version` are both MAJOR.MINOR."""

    kind = "invalid"

    def __init__(self, message, server_version="", client_version="", **kw):
        super().__init__(message, **kw)
        self.server_version = server_version
        self.client_version = client_version


class SocketOwnerError(FxError, PermissionError):
    """The API socket is owned by another user; the SDK refuses to talk
    to it."""

    kind = "denied"


class FxNotFoundError(FxError, FileNotFoundError):
    """No server answered and the `fx` binary, needed to start one, is not
    on PATH."""


class ServerStartError(FxError):
    """`fx serve` was started but did not answer in time, or exited."""


class ConnectionLost(FxError):
    """The connection to the local API broke (the server exited)."""

    kind = "unavailable"


class SerializerError(FxError, TypeError):
    """Arguments or a result cannot be serialised with the chosen
    serializer, or pickle was asked for with an endpoint whose Python
    major.minor is not this client's."""


class SourceError(FxError, TypeError):
    """The SDK cannot send this callable: a lambda, a closure, a method, a
    builtin, or a function whose source is not available."""


_BY_KIND = {
    "user": TaskFailed,
    "system": TaskSystemError,
    "timeout": TaskTimeout,
    "expired": TaskTimeout,
    "denied": TaskDenied,
    "overloaded": Overloaded,
    "unavailable": Unavailable,
    "not-found": NotFound,
    "invalid": InvalidRequest,
    "too-large": TooLarge,
    "replayed": Replayed,
    "internal": InternalError,
}


def from_error(obj, task_id=None, index=None, client_version=""):
    """The exception for an API error object ({"kind", "message", ...})."""
    if not isinstance(obj, dict):
        obj = {"kind": "internal", "message": "malformed error object: %r" % (obj,)}
    kind = obj.get("kind") or "internal"
    msg = obj.get("message") or kind
    common = dict(
        kind=kind,
        exit_code=obj.get("exit_code"),
        reason=obj.get("reason") or "",
        task_id=task_id,
        index=index,
    )
    if obj.get("reason") == "api_version":
        return ApiVersionMismatch(
            msg, server_version=obj.get("server_api_version") or "", client_version=client_version, **common
        )
    if kind == "user":
        return TaskFailed(msg, remote_type=obj.get("type") or "", remote_traceback=obj.get("traceback") or "", **common)
    cls = _BY_KIND.get(kind, FxError)
    return cls(msg, **common)
