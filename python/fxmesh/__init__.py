"""fxmesh: run Python functions on an fxmesh mesh from Python.

    from fxmesh import Executor
    def sq(x): return x*x
    with Executor() as ex: print(ex.submit(sq, 2).result())

The package talks to the fx local API (docs/local-api.md in the
repository), served on $FX_HOME/fx.sock by `fx serve`, which it starts when
nothing answers. Standard library only; Python 3.8 or later.
"""

from .client import API_VERSION, Client, Feed, Session
from .errors import (
    ApiVersionMismatch,
    ConnectionLost,
    FxError,
    FxNotFoundError,
    InternalError,
    InvalidRequest,
    NotFound,
    Overloaded,
    Replayed,
    SerializerError,
    ServerStartError,
    SocketOwnerError,
    SourceError,
    TaskCancelled,
    TaskDenied,
    TaskFailed,
    TaskSystemError,
    TaskTimeout,
    TooLarge,
    Unavailable,
)
from .executor import Executor, TaskFuture

__all__ = [
    "API_VERSION", "Client", "Feed", "Session", "Executor", "TaskFuture",
    "ApiVersionMismatch", "ConnectionLost", "FxError", "FxNotFoundError", "InternalError", "InvalidRequest",
    "NotFound", "Overloaded", "Replayed", "SerializerError", "ServerStartError", "SocketOwnerError",
    "SourceError", "TaskCancelled", "TaskDenied", "TaskFailed", "TaskSystemError", "TaskTimeout", "TooLarge",
    "Unavailable",
]
