"""A concurrent.futures.Executor whose calls run on the mesh, through the
fx local API."""

import collections
import functools
import os
import threading
import time
from concurrent import futures
from concurrent.futures import _base

from . import errors, serialize, source
from .client import Client

# One call's arguments, and one request's calls together, at most (JSON
# bytes): a session line is at most 64 MiB (docs/local-api.md), and an
# endpoint bounds an invocation's size too.
MAX_CALL_BYTES = 60 << 20
MAX_REQUEST_BYTES = 32 << 20

# Functions registered by this process: (socket, code object, serializer)
# -> function ID. A function is registered once per process and server.
_registered = {}
_registered_lock = threading.Lock()


class TaskFuture(futures.Future):
    """A Future of one input of a task on the mesh. task_id and index are
    set once the endpoint acknowledged the task. cancel() cancels the task
    on its endpoint when it was sent and has not finished."""

    def __init__(self, executor=None):
        super().__init__()
        self._executor = executor
        self.task_id = None
        self.endpoint = None
        self.index = None
        self._cancel_wanted = False
        self._claimed = False  # its outcome is decided (under the executor's lock)

    def cancel(self):
        if super().cancel():
            return True
        if self.done() or self._executor is None:
            return self.cancelled()
        return self._executor._cancel_sent(self)

    def _force_cancel(self):
        # Cancels a running future (the stdlib's cancel refuses RUNNING):
        # the endpoint said the task is cancelled.
        with self._condition:
            if self._state in (_base.FINISHED, _base.CANCELLED, _base.CANCELLED_AND_NOTIFIED):
                return self._state != _base.FINISHED
            self._state = _base.CANCELLED_AND_NOTIFIED
            for w in self._waiters:
                w.add_cancelled(self)
            self._condition.notify_all()
        self._invoke_callbacks()
        return True


def _settle(fut, value=None, exc=None):
    # Completes fut unless it is already done (cancelled meanwhile).
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)
    except futures.InvalidStateError:
        pass


class _Item:
    __slots__ = ("fut", "ref", "input", "plain")  # input: its JSON text

    def __init__(self, fut, ref, inp, plain):
        self.fut = fut
        self.ref = ref
        self.input = inp
        self.plain = plain  # a registered function: its results are JSON whatever the serializer


class _Task:
    __slots__ = ("task_id", "endpoint", "futs", "plain", "left", "replaying")

    def __init__(self, task_id, endpoint, futs, plain):
        self.task_id = task_id
        self.endpoint = endpoint
        self.futs = futs
        self.plain = plain
        self.left = len(futs)
        self.replaying = True  # until _adopt applied the events that came before it


class _instance_or_class:
    """A method that also works on the class: Executor.reattach(ids, **kw)
    makes an Executor(**kw) for the call, which closes itself once those
    futures are done."""

    def __init__(self, f):
        self.f = f
        self.__doc__ = f.__doc__

    def __get__(self, obj, cls):
        f = self.f
        if obj is not None:
            return functools.partial(f, obj)

        def on_class(tasks, **kw):
            ex = cls(**kw)
            try:
                return f(ex, tasks)
            finally:
                ex.shutdown(wait=False)

        on_class.__doc__ = f.__doc__
        return on_class


class Executor(futures.Executor):
    """Runs Python callables on the mesh.

    endpoint: an endpoint ID, or None to let fx route each task (to your own
    endpoints and those of owners you trust). require: requirements added
    to every task ("python>=3.10", "gpus>=1"). timeout: each call's
    walltime in seconds (None: the endpoint's default). retries: how many
    more times an endpoint may run a call it lost mid-run (only for
    functions safe to repeat). batch_size: most calls per submit request.
    serializer: "json" (arguments and results are JSON values) or "pickle"
    (any picklable values; only when the endpoint runs this client's
    Python major.minor, checked here). client: a Client to use (default: a
    new one, which starts `fx serve` when none answers); other keyword
    arguments go to Client. public: register functions as public (default
    private to you)."""

    def __init__(self, endpoint=None, require=None, timeout=None, retries=0, batch_size=1024, serializer="json",
                 client=None, public=False, any_endpoint=False, **client_kw):
        if serializer not in serialize.SERIALIZERS:
            raise ValueError("fxmesh: serializer must be one of %s, not %r" % (", ".join(serialize.SERIALIZERS), serializer))
        if batch_size < 1:
            raise ValueError("fxmesh: batch_size must be at least 1")
        self.endpoint = endpoint or None
        self.require = list(require or ())
        self.timeout = timeout
        self.retries = retries
        self.batch_size = batch_size
        self.serializer = serializer
        self.public = public
        self.any_endpoint = any_endpoint
        self._own_client = client is None
        self.client = client or Client(**client_kw)
        if serializer == "pickle":
            self._check_pickle()
        self._cv = threading.Condition()  # guards everything below
        self._pending = collections.deque()  # _Items not yet sent
        self._inflight = False  # a submit request is unanswered
        self._seq = 0  # the last request's number
        self._requests = {}  # seq -> its groups of _Items, until answered
        self._tasks = {}  # task ID -> _Task with futures not all done
        self._early = {}  # task ID -> feed events that came before its acknowledgement
        self._outstanding = 0  # futures taken and not yet settled or dropped
        self._shutdown = False
        self._broken = None  # the exception that ended the session
        self._broken_by = None  # what broke a send, if one did
        self._ended_by = None  # an error the server answered no request with
        v = str(self.client.server.get("api_version") or "")
        if v.split(".")[0] == "1" and _minor(v) < 1:
            raise errors.ApiVersionMismatch(
                "fxmesh: the fx serve answering on %s speaks local API %s; the Executor needs 1.1 (sessions): "
                "stop it (pid %s) and the SDK starts a current one" % (self.client.socket_path, v, self.client.server.get("pid")),
                server_version=v, client_version="1.1", reason="api_version")
        self.feed_id = "f-" + os.urandom(8).hex()
        # One connection both ways: submits go out on it, their answers and
        # the results come back on it.
        self._session = self.client.session(self.feed_id)
        self._events = iter(self._session)
        first = next(self._events, None)
        if not first or first.get("type") != "hello":
            self._session.close()
            raise errors.InternalError("fxmesh: the session did not start with hello: %r" % (first,))
        self._reader = threading.Thread(target=self._read_feed, name="fxmesh-feed", daemon=True)
        self._reader.start()

    def _check_pickle(self):
        if self.endpoint:
            serialize.check_pickle(self.client.endpoint(self.endpoint))
            return
        want = serialize.python_version()
        eps = self.client.endpoints(require=self.require)
        ok = [e for e in eps if serialize.major_minor(serialize.endpoint_python(e)) == want]
        if not ok:
            seen = ", ".join("%s runs %s" % (e.get("name") or e.get("id"), serialize.endpoint_python(e) or "none")
                             for e in eps) or "no endpoint meets the requirements"
            raise errors.SerializerError(
                "fxmesh: serializer=\"pickle\" needs an endpoint whose Python is %s like this client's (%s); "
                "use serializer=\"json\"" % (want, seen))
        # Routing then chooses only among endpoints with that Python.
        self.require.append("python=" + want)

    # -- submitting ----------------------------------------------------------

    def _register(self, fn):
        key = (self.client.socket_path, fn.__code__ if hasattr(fn, "__code__") else fn, self.serializer, self.public)
        with _registered_lock:
            ref = _registered.get(key)
        if ref:
            return ref
        f = source.make_function(fn, self.serializer)
        rec = self.client.register(f.name, source=f.source, entry=f.entry, public=self.public, reuse=True)
        ref = rec.get("id") or f.name
        with _registered_lock:
            _registered[key] = ref
        return ref

    def submit(self, fn, /, *args, **kwargs):
        """Runs fn(*args, **kwargs) on the mesh; returns its Future. fn is
        a module-level def (its source is sent); a registered function is
        called with submit_to_registered_function."""
        ref = self._register(fn)
        return self._enqueue([_Item(TaskFuture(self), ref, _sized(serialize.encode_input(self.serializer, args, kwargs)), False)])[0]

    def submit_to_registered_function(self, ref, /, *args, **kwargs):
        """Calls the registered function ref (NAME, OWNER/NAME or ID) with
        JSON arguments; returns its Future."""
        inp = _sized(serialize.encode_input("json", args, kwargs))
        return self._enqueue([_Item(TaskFuture(self), ref, inp, True)])[0]

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like Executor.map: fn over the iterables' items, results in
        order, each waited for at most until timeout seconds from now.
        Every call is sent at once; the Executor groups them into tasks
        itself (chunksize is accepted for compatibility)."""
        end = None if timeout is None else time.monotonic() + timeout
        ref = self._register(fn)
        enc = serialize.encode_input
        items = [_Item(TaskFuture(self), ref, _sized(enc(self.serializer, a, None)), False) for a in zip(*iterables)]
        fs = self._enqueue(items)

        def results():
            try:
                fs.reverse()
                while fs:
                    if end is None:
                        yield _result(fs.pop())
                    else:
                        yield _result(fs.pop(), end - time.monotonic())
            finally:
                for f in fs:
                    f.cancel()

        return results()

    def _enqueue(self, items):
        with self._cv:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._broken is not None:
                raise self._broken
            self._pending.extend(items)
            self._outstanding += len(items)
            nxt = self._next_locked()
        if nxt:
            self._send(*nxt)  # nothing was in flight: at once, from this thread
        return [it.fut for it in items]

    def _next_locked(self):
        # The next request, (seq, groups), when none is in flight: up to
        # batch_size pending calls, grouped into one task per function.
        if self._inflight or self._broken is not None:
            return None
        groups = collections.OrderedDict()
        n = size = 0
        while self._pending and n < self.batch_size:
            if n and size + len(self._pending[0].input) > MAX_REQUEST_BYTES:
                break
            it = self._pending.popleft()
            if it.fut.set_running_or_notify_cancel():
                groups.setdefault((it.ref, it.plain), []).append(it)
                n += 1
                size += len(it.input)
            else:
                self._outstanding -= 1
        if not n:
            return None
        self._seq += 1
        self._requests[self._seq] = groups
        self._inflight = True
        return self._seq, groups

    def _send(self, seq, groups):
        # Sends request seq. One that cannot be encoded fails its calls
        # (with what was raised) and the next request goes instead; when
        # writing fails, part of it may be on the wire: the session is
        # closed, and its reader fails what is sent and unanswered.
        while True:
            try:
                reqs = []
                for (ref, _), its in groups.items():
                    t = Client.task(ref, (), endpoint=self.endpoint, require=self.require, timeout=self.timeout,
                                    retries=self.retries, any_endpoint=self.any_endpoint)
                    t["inputs"] = ",".join(it.input for it in its)
                    reqs.append(t)
                line = Client.tasks_json(reqs)
            except BaseException as e:
                with self._cv:
                    self._requests.pop(seq, None)
                    self._inflight = False
                    nxt = self._next_locked() if isinstance(e, Exception) else None
                self._fail(_items(groups), e)
                if not isinstance(e, Exception):
                    raise
                if not nxt:
                    return
                seq, groups = nxt
                continue
            try:
                self._session.send(seq, line)
            except BaseException as e:
                self._broken_by = e
                self._session.close()
                if not isinstance(e, Exception):
                    raise
            return

    def _answered(self, ev):
        # A "submitted" event: the request seq was answered. The next
        # request goes out first, then the answers are taken in.
        with self._cv:
            groups = self._requests.pop(ev.get("seq"), None)
            if groups is None:
                if ev.get("error"):
                    # An answer to no request sent: the server could not
                    # read one (and ends the session when it is too large).
                    self._ended_by = errors.from_error(ev["error"])
                return
            self._inflight = False
            nxt = self._next_locked()
            self._cv.notify_all()
        if nxt:
            self._send(*nxt)
        answers = ev.get("tasks") or []
        if ev.get("error") or len(answers) != len(groups):
            self._fail(_items(groups), errors.from_error(ev.get("error") or {
                "kind": "internal", "message": "the server answered %d tasks of %d" % (len(answers), len(groups))}))
            return
        for ((_, plain), its), ans in zip(groups.items(), answers):
            if ans.get("error") or not ans.get("task_id"):
                self._fail(its, errors.from_error(ans.get("error") or {"kind": "internal", "message": "no task ID"}))
                continue
            self._adopt(ans["task_id"], ans.get("endpoint"), [it.fut for it in its], plain)

    def _fail(self, items, exc):
        # Settles the futures of items, taken and not yet settled, with exc;
        # they are claimed first, under the lock, so that a canceller
        # waiting on them sees them decided.
        with self._cv:
            for it in items:
                it.fut._claimed = True
            self._outstanding -= len(items)
            self._cv.notify_all()
        for it in items:
            _settle(it.fut, exc=exc)

    def _adopt(self, task_id, endpoint, futs, plain):
        # Records an acknowledged task and applies the feed events that
        # came before its acknowledgement, in order: while they are applied
        # (reattach does it on the caller's thread), the reader keeps the
        # task's new events behind them.
        for i, f in enumerate(futs):
            f.task_id, f.endpoint, f.index = task_id, endpoint, i
        t = _Task(task_id, endpoint, futs, plain)
        with self._cv:
            self._tasks[task_id] = t
            self._cv.notify_all()
        while True:
            with self._cv:
                early = self._early.pop(task_id, None)
                if not early:
                    t.replaying = False
                    return
            for ev in early:
                self._on_event(ev, replay=True)

    # -- results ---------------------------------------------------------------

    def _read_feed(self):
        err = None
        try:
            for ev in self._events:
                self._on_event(ev)
        except BaseException as e:  # a broken line: the session cannot be trusted
            err = e
        with self._cv:
            if self._shutdown and self._outstanding == 0:
                return
            for t in self._tasks.values():
                for f in t.futs:
                    f._claimed = True
            why = err or self._broken_by or self._ended_by or "the server closed it"
            self._broken = errors.ConnectionLost(
                "fxmesh: the session with the fx local API ended (%s); the tasks sent go on: "
                "reattach to them by ID with Executor.reattach" % (why,))
            tasks, self._tasks = self._tasks, {}
            unanswered = [it for g in self._requests.values() for it in _items(g)]
            self._requests.clear()
            self._inflight = False
            unsent = [it for it in self._pending if it.fut.set_running_or_notify_cancel()]
            self._outstanding -= len(self._pending)
            self._pending.clear()
            for it in unanswered + unsent:
                it.fut._claimed = True
            self._cv.notify_all()
        for t in tasks.values():
            for f in t.futs:
                _settle(f, exc=self._broken)
        for it in unanswered + unsent:
            _settle(it.fut, exc=self._broken)

    def _on_event(self, ev, replay=False):
        typ = ev.get("type")
        if typ == "submitted":
            self._answered(ev)
            return
        if typ not in ("result", "end"):
            return
        tid = ev.get("task_id")
        with self._cv:
            t = self._tasks.get(tid)
            if t is None or (t.replaying and not replay):
                self._early.setdefault(tid, []).append(ev)
                return
            if typ == "end":
                del self._tasks[tid]
                left = [f for f in t.futs if not f._claimed]
                for f in left:
                    f._claimed = True
                self._outstanding -= len(left)
            else:
                i = ev.get("index", 0)
                if not (0 <= i < len(t.futs)):
                    return
                f = t.futs[i]
                if f._claimed:
                    return
                f._claimed = True
                self._outstanding -= 1
            if self._outstanding == 0:
                self._cv.notify_all()
        if typ == "result":
            err = ev.get("error")
            if err:
                _settle(f, exc=errors.from_error(err, task_id=tid, index=i))
                return
            try:
                v = serialize.decode_value("json" if t.plain else self.serializer, ev.get("value"))
            except errors.FxError as e:
                _settle(f, exc=e)
                return
            _settle(f, v)
            return
        state = ev.get("state")
        for f in left:
            if state == "cancelled":
                if f._cancel_wanted:
                    f._force_cancel()
                else:
                    _settle(f, exc=errors.TaskCancelled("fxmesh: task %s was cancelled on its endpoint" % tid, task_id=tid, index=f.index))
            elif ev.get("error"):
                _settle(f, exc=errors.from_error(ev["error"], task_id=tid, index=f.index))
            else:
                _settle(f, exc=errors.TaskSystemError(
                    "fxmesh: task %s ended %s without a result for input %d" % (tid, state, f.index),
                    task_id=tid, index=f.index))

    # -- cancel, reattach, shutdown -------------------------------------------

    def _cancel_sent(self, fut):
        with self._cv:
            if fut.task_id is None and not fut._claimed and threading.current_thread() is self._reader:
                # A done-callback on the session's reader, which is the one
                # to take the answer that gives fut its task: cancel it once
                # answered, from a thread of its own. Not cancelled yet.
                threading.Thread(target=self._cancel_sent, args=(fut,), name="fxmesh-cancel", daemon=True).start()
                return False
            while fut.task_id is None and not fut._claimed and not fut.done():
                self._cv.wait()
            if fut._claimed or fut.task_id is None:
                return fut.cancelled()
            fut._cancel_wanted = True
            t = self._tasks.get(fut.task_id)
            live = t is not None and any(not f._claimed and not f._cancel_wanted for f in t.futs)
        if not live:
            try:
                rec = self.client.cancel(fut.task_id, fut.endpoint)
            except errors.FxError:
                fut._cancel_wanted = False
                raise
            if rec.get("state") not in ("cancelled", None):
                fut._cancel_wanted = False
                return False  # it finished first: its result is on the feed
        with self._cv:
            if fut._claimed:
                return fut.cancelled()
            fut._claimed = True
            self._outstanding -= 1
        return fut._force_cancel()

    @_instance_or_class
    def reattach(self, tasks):
        """Futures for tasks submitted earlier (by this process, another, or
        fx): tasks are task IDs, or task records as Client.tasks() lists
        them. Returns one future per input, task by task, in input order
        (for a task this Executor follows already, the futures it has).
        Results are decoded with this Executor's serializer. On the class,
        Executor.reattach(tasks, **kw) uses an Executor(**kw) of its own."""
        asked = []
        for t in tasks:
            if isinstance(t, dict):
                asked.append({"task_id": t["task_id"], "endpoint": t.get("endpoint") or ""})
            else:
                asked.append({"task_id": t, "endpoint": ""})
        with self._cv:
            known = {a["task_id"]: list(self._tasks[a["task_id"]].futs) for a in asked if a["task_id"] in self._tasks}
        follow = [a for a in asked if a["task_id"] not in known]
        answers = iter(self.client.follow(self.feed_id, follow) if follow else ())
        out = []
        for a in asked:
            if a["task_id"] in known:
                out.extend(known[a["task_id"]])  # followed already: its futures
                continue
            ans = next(answers, {"error": {"kind": "internal", "message": "the server answered fewer tasks than asked"}})
            if ans.get("error"):
                f = TaskFuture(self)
                f.task_id = a["task_id"]
                f.set_exception(errors.from_error(ans["error"], task_id=a["task_id"]))
                out.append(f)
                continue
            n = int(ans.get("count") or 1)
            fs = [TaskFuture(self) for _ in range(n)]
            for f in fs:
                f.set_running_or_notify_cancel()
            with self._cv:
                self._outstanding += n
            self._adopt(ans.get("task_id") or a["task_id"], ans.get("endpoint"), fs, False)
            out.extend(fs)
        return out

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Stops taking submissions. cancel_futures cancels the calls not
        yet sent; wait waits for the others' results, then closes the feed."""
        with self._cv:
            self._shutdown = True
            if cancel_futures:
                while self._pending:
                    it = self._pending.popleft()
                    it.fut.cancel()
                    if it.fut.set_running_or_notify_cancel():
                        self._pending.appendleft(it)
                        break
                    self._outstanding -= 1
            self._cv.notify_all()
        if wait:
            self._close()
        else:
            threading.Thread(target=self._close, name="fxmesh-close", daemon=True).start()

    def _close(self):
        with self._cv:
            while (self._outstanding > 0 or self._pending or self._inflight) and self._broken is None:
                self._cv.wait()
        self._session.close()
        self._reader.join()
        if self._own_client:
            self.client.close()


def _items(groups):
    # The _Items of a request's groups, in order.
    return [it for its in groups.values() for it in its]


def _minor(version):
    # The minor number of a MAJOR.MINOR version; 0 when it has none.
    try:
        return int(version.split(".")[1])
    except (IndexError, ValueError):
        return 0


def _sized(inp):
    # inp, a call's arguments as JSON text, unless it is over MAX_CALL_BYTES.
    if len(inp) > MAX_CALL_BYTES:
        raise errors.TooLarge("fxmesh: a call's arguments take %d bytes as JSON, over the %d a call may take"
                              % (len(inp), MAX_CALL_BYTES))
    return inp


def _result(fut, timeout=None):
    try:
        return fut.result(timeout)
    finally:
        del fut
