"""The client of the fx local API (docs/local-api.md): HTTP/1.1 with JSON
bodies over the unix socket $FX_HOME/fx.sock, served by `fx serve`, which
the client starts itself when nothing answers."""

import errno
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

from . import errors

API_VERSION = "1.1"
API_MAJOR = API_VERSION.split(".")[0]

# The errors that mean nothing answers on the socket (yet).
_NOT_LISTENING = (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK)


def default_home():
    """$FX_HOME, else ~/.fxmesh, as fx finds it."""
    home = os.environ.get("FX_HOME")
    if home:
        return home
    return os.path.join(os.path.expanduser("~"), ".fxmesh")


def check_socket_owner(path):
    """Raises SocketOwnerError when the file at path is not owned by this
    process's user. A missing file passes (nothing to talk to yet)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    uid = os.geteuid()
    if st.st_uid != uid:
        raise errors.SocketOwnerError(
            "fxmesh: socket owned by another user: %s belongs to uid %d, this process runs as uid %d; "
            "refusing to send anything to it" % (path, st.st_uid, uid)
        )


class UnixHTTPConnection(http.client.HTTPConnection):
    """An http.client connection over a unix socket, which checks the
    socket file's owner before it connects."""

    def __init__(self, path, timeout=None):
        super().__init__("fx", timeout=timeout)
        self.unix_path = path

    def connect(self):
        check_socket_owner(self.unix_path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self.timeout is not None and self.timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                s.settimeout(self.timeout)
            s.connect(self.unix_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


class _Conn:
    """One keep-alive HTTP/1.1 connection to the API socket, for requests
    with a body read whole: the least of HTTP the API needs (a status line,
    headers, a body by Content-Length, chunks, or to the end). A tenth of a
    millisecond less per request than http.client, whose header parsing
    goes through the email package; the feed, which streams, keeps
    http.client."""

    def __init__(self, path):
        check_socket_owner(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.rfile = s.makefile("rb")

    def close(self):
        try:
            self.rfile.close()
        finally:
            self.sock.close()

    def roundtrip(self, method, path, headers, data):
        """Sends one request; returns (status, headers with lowercase names,
        body, whether the server closes the connection)."""
        head = [method, " ", path, " HTTP/1.1\r\nHost: fx\r\n"]
        for k, v in headers.items():
            head += [k, ": ", v, "\r\n"]
        if data is not None:
            head += ["Content-Length: ", str(len(data)), "\r\n"]
        head.append("\r\n")
        msg = "".join(head).encode("latin-1")
        self.sock.sendall(msg + data if data else msg)
        rd = self.rfile.readline
        line = rd(65537)
        if not line:
            raise ConnectionResetError("the server closed the connection before answering")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise http.client.BadStatusLine(repr(line[:200]))
        try:
            status = int(parts[1])
        except ValueError:
            raise http.client.BadStatusLine(repr(line[:200])) from None
        hdrs = {}
        for _ in range(1000):
            line = rd(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        else:
            raise http.client.HTTPException("too many headers in the answer")
        close = parts[0] == b"HTTP/1.0" or hdrs.get("connection", "").lower() == "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, hdrs, b"", close
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            body = []
            while True:
                size = int(rd(65537).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while rd(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                body.append(self._read(size))
                rd(3)  # the chunk's CRLF
            return status, hdrs, b"".join(body), close
        n = hdrs.get("content-length")
        if n is not None:
            return status, hdrs, self._read(int(n)), close
        return status, hdrs, self.rfile.read(), True

    def _read(self, n):
        b = self.rfile.read(n)
        if len(b) != n:
            raise http.client.IncompleteRead(b, n - len(b))
        return b


def _check_version_header(resp):
    _check_version(resp.getheader("Fx-Api-Version"))


def _check_version(v):
    if v and v.split(".")[0] != API_MAJOR:
        raise errors.ApiVersionMismatch(
            "fxmesh: the fx local API server speaks version %s, this SDK speaks %s (another major version); "
            "use an fxmesh package that matches your fx binary" % (v, API_VERSION),
            server_version=v,
            client_version=API_VERSION,
            reason="api_version",
        )


def _raise_api_error(status, body):
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        raise errors.InternalError("fxmesh: the local API answered HTTP %d without an error object" % status)
    e = errors.from_error(err, client_version=API_VERSION)
    if isinstance(e, errors.ApiVersionMismatch):
        e.message = "fxmesh: the fx local API server speaks version %s, this SDK speaks %s: %s" % (
            e.server_version or "?",
            API_VERSION,
            e.message,
        )
    raise e


class Feed:
    """A reader of one NDJSON results feed (GET /v1/feed?id=ID). Iterate it
    for events (dicts); close() from another thread ends the iteration."""

    def __init__(self, socket_path, feed_id):
        self.id = feed_id
        self._conn = UnixHTTPConnection(socket_path)
        self._conn.request("GET", "/v1/feed?id=" + urllib.parse.quote(feed_id), headers={"Fx-Api-Version": API_VERSION})
        self._answer()

    def _answer(self):
        self._sock = self._conn.sock
        resp = self._conn.getresponse()
        _check_version_header(resp)
        if resp.status != 200:
            body = _decode(resp.read())
            self._conn.close()
            _raise_api_error(resp.status, body)
        self._resp = resp
        self._closed = False

    def __iter__(self):
        buf = b""
        while True:
            try:
                chunk = self._resp.read1(1 << 16)
            except (OSError, http.client.HTTPException, ValueError, AttributeError):
                chunk = b""
            if not chunk:
                return
            buf += chunk
            if b"\n" not in chunk:
                continue
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                if line.strip():
                    yield json.loads(line)

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._conn.close()


class Session(Feed):
    """A session (POST /v1/session?feed=ID): a feed whose connection also
    carries submit requests. send() writes one request (from any thread);
    its answer comes on the feed as a "submitted" event with its seq.
    Iterate it for events, from one thread."""

    def __init__(self, socket_path, feed_id):
        self.id = feed_id
        self._conn = c = UnixHTTPConnection(socket_path)
        c.putrequest("POST", "/v1/session?feed=" + urllib.parse.quote(feed_id), skip_accept_encoding=True)
        c.putheader("Fx-Api-Version", API_VERSION)
        c.putheader("Content-Type", "application/x-ndjson")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        self._wlock = threading.Lock()
        self._answer()

    def send(self, seq, tasks_json):
        """Sends request seq: tasks_json, the JSON text of a list of tasks
        (Client.tasks_json)."""
        line = ('{"seq":%d,"tasks":%s}\n' % (seq, tasks_json)).encode("utf-8")
        with self._wlock:
            self._sock.sendall(b"%x\r\n%s\r\n" % (len(line), line))


def _decode(data):
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError:
        raise errors.InternalError("fxmesh: the local API answered something that is not JSON: %r" % data[:200])


def _input(args, kwargs):
    d = {}
    if args:
        d["args"] = list(args)
    if kwargs:
        d["kwargs"] = dict(kwargs)
    return d


class Client:
    """A client of the fx local API; the operations of `fx`.

    socket: the API socket (default $FX_HOME/fx.sock). start: start
    `fx serve --idle-exit IDLE_EXIT` when nothing answers (fx found on PATH,
    or given as fx=). Thread-safe: each request takes a connection of its
    own from a small pool."""

    def __init__(self, socket_path=None, fx_home=None, start=True, fx=None, idle_exit="10m", start_timeout=30.0):
        self.home = fx_home or default_home()
        self.socket_path = socket_path or os.path.join(self.home, "fx.sock")
        self._fx = fx
        self._idle_exit = idle_exit
        self._start_timeout = start_timeout
        self._pool = []
        self._lock = threading.Lock()  # guards _pool
        try:
            self.server = self._connect(start)
        except BaseException:
            self.close()
            raise

    # -- transport ---------------------------------------------------------

    def _connect(self, start):
        check_socket_owner(self.socket_path)
        try:
            return self.version()
        except OSError as e:
            if isinstance(e, errors.FxError) or e.errno not in _NOT_LISTENING or not start:
                raise
        return self._start_server()

    def _start_server(self):
        fx = self._fx or shutil.which("fx")
        if not fx:
            raise errors.FxNotFoundError(
                "fxmesh: no fx local API server answers on %s, and the fx binary that would start one "
                "is not on PATH (PATH=%s); put fx on PATH (make install) or start `fx serve` yourself"
                % (self.socket_path, os.environ.get("PATH", ""))
            )
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        cmd = [fx, "serve", "--idle-exit", self._idle_exit]
        if self.socket_path != os.path.join(self.home, "fx.sock"):
            cmd += ["--socket", self.socket_path]
        env = dict(os.environ)
        env["FX_HOME"] = self.home
        log_path = os.path.join(self.home, "serve.log")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                close_fds=True,
                start_new_session=True,
            )
        _started.append(proc)
        deadline = time.monotonic() + self._start_timeout
        pause = 0.005
        while True:
            try:
                return self.version()
            except OSError as e:
                if isinstance(e, errors.FxError) or e.errno not in _NOT_LISTENING:
                    raise
            code = proc.poll()
            if code is not None and code != 0:
                why = _SERVE_EXITS.get(code, "")
                raise errors.ServerStartError(
                    "fxmesh: `%s` exited with status %d before answering%s; its log (%s) ends:\n%s"
                    % (" ".join(cmd), code, why, log_path, _tail(log_path)),
                    exit_code=code,
                )
            if time.monotonic() > deadline:
                raise errors.ServerStartError(
                    "fxmesh: `%s` did not answer on %s within %.0f s; its log (%s) ends:\n%s"
                    % (" ".join(cmd), self.socket_path, self._start_timeout, log_path, _tail(log_path))
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _take(self):
        with self._lock:
            if self._pool:
                return self._pool.pop(), True
        return _Conn(self.socket_path), False

    def _give(self, conn):
        with self._lock:
            if len(self._pool) < 8:
                self._pool.append(conn)
                return
        conn.close()

    def request(self, method, path, body=None, query=None, raw=None):
        """Sends one request and returns its decoded JSON body; raises the
        exception of its error kind when it fails. raw: the body as JSON
        text already encoded, instead of body."""
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        headers = {"Fx-Api-Version": API_VERSION}
        data = None
        if body is not None:
            raw = json.dumps(body, separators=(",", ":"), allow_nan=False)
        if raw is not None:
            data = raw.encode("utf-8")
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            conn, reused = self._take()
            try:
                status, hdrs, raw, close = conn.roundtrip(method, path, headers, data)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                conn.close()
                # A pooled connection the server closed while idle: the
                # request was not read; try once on a fresh one.
                if reused and attempt == 0:
                    continue
                raise errors.ConnectionLost("fxmesh: the local API connection broke: %s" % e) from e
            except BaseException:
                conn.close()
                raise
            if close:
                conn.close()
            else:
                self._give(conn)
            _check_version(hdrs.get("fx-api-version"))
            out = _decode(raw)
            if status >= 300:
                _raise_api_error(status, out)
            return out

    def close(self):
        """Closes the pooled connections."""
        with self._lock:
            pool, self._pool = self._pool, []
        for c in pool:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def feed(self, feed_id):
        """Opens the results feed feed_id (its first event is "hello")."""
        return Feed(self.socket_path, feed_id)

    def session(self, feed_id):
        """Opens a session on feed feed_id (its first event is "hello")."""
        return Session(self.socket_path, feed_id)

    # -- the operations of fx -----------------------------------------------

    def version(self):
        """GET /v1/version: the server's API version, user, pid, socket."""
        return self.request("GET", "/v1/version")

    def endpoints(self, require=None):
        """The endpoints meeting every requirement (fx endpoints)."""
        q = {"require": list(require)} if require else None
        return self.request("GET", "/v1/endpoints", query=q)["endpoints"]

    def endpoint(self, endpoint_id):
        """One endpoint's record (fx endpoint show)."""
        return self.request("GET", "/v1/endpoints/" + urllib.parse.quote(endpoint_id, safe=""))["endpoint"]

    def functions(self, owner=None, mine=False):
        """The functions the user sees (fx function list)."""
        q = {}
        if owner:
            q["owner"] = owner
        if mine:
            q["mine"] = "true"
        return self.request("GET", "/v1/functions", query=q or None)["functions"]

    def resolve(self, ref):
        """A function by name, OWNER/NAME or ID (fx function show)."""
        return self.request("POST", "/v1/functions/resolve", {"ref": ref})["function"]

    def register(self, name, source="", entry="", kind="python", command="", description="", container="",
                 require=(), public=False, users=(), reuse=True):
        """Registers a function (fx function register); with reuse, an
        unchanged function is returned as it is."""
        body = {
            "name": name, "kind": kind, "source": source, "entry": entry, "command": command,
            "description": description, "container": container, "require": list(require),
            "access": {"public": bool(public), "users": list(users)}, "reuse": bool(reuse),
        }
        return self.request("POST", "/v1/functions", body)["function"]

    @staticmethod
    def task(function, inputs, endpoint=None, require=None, timeout=None, retries=0, any_endpoint=False):
        """One task of a submit request: function applied to each input
        ({"args": [...], "kwargs": {...}})."""
        return {
            "function": function, "inputs": list(inputs), "endpoint": endpoint or "",
            "require": list(require or ()), "timeout": timeout or 0, "retries": retries,
            "any_endpoint": bool(any_endpoint),
        }

    @staticmethod
    def tasks_json(tasks):
        """The JSON text of a list of tasks. A task's "inputs" may be a
        string: its inputs as JSON text, already encoded and joined with
        commas (what the Executor sends)."""
        enc = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
        parts = []
        for t in tasks:
            t = dict(t)
            inputs = t.pop("inputs")
            if not isinstance(inputs, str):
                inputs = ",".join(enc(i) for i in inputs)
            parts.append(enc(t)[:-1] + ',"inputs":[' + inputs + "]}")
        return "[" + ",".join(parts) + "]"

    def submit_tasks(self, tasks, feed=None):
        """POST /v1/submit: any number of tasks in one request; returns one
        answer per task, {"task_id", "endpoint", "count"} or {"error"}.
        inputs as in tasks_json."""
        raw = '{"tasks":' + self.tasks_json(tasks)
        if feed:
            raw += ',"feed":' + json.dumps(feed)
        return self.request("POST", "/v1/submit", raw=raw + "}")["tasks"]

    def submit(self, function, args=(), kwargs=None, **opts):
        """Submits one invocation and returns its task ID (fx submit)."""
        (ans,) = self.submit_tasks([self.task(function, [_input(args, kwargs)], **opts)])
        if "error" in ans and ans["error"]:
            raise errors.from_error(ans["error"], client_version=API_VERSION)
        return ans["task_id"]

    def run(self, function, args=(), kwargs=None, **opts):
        """Runs one invocation, waits, and returns its value (fx run); a
        failure of the function raises TaskFailed."""
        body = self.task(function, [_input(args, kwargs)], **opts)
        out = self.request("POST", "/v1/run", body)
        return _value(out["results"][0], out.get("task_id"))

    def batch(self, function, inputs, wait=True, **opts):
        """One signed task over many inputs (fx batch). inputs: a list of
        {"args", "kwargs"} dicts. With wait, returns the Results (dicts
        with "value" or "error") in input order; else the task ID."""
        (ans,) = self.submit_tasks([self.task(function, inputs, **opts)])
        if ans.get("error"):
            raise errors.from_error(ans["error"], client_version=API_VERSION)
        if not wait:
            return ans["task_id"]
        return sorted(self.results(ans["task_id"], wait=True)["results"], key=lambda r: r.get("index", 0))

    def status(self, task_id, endpoint=None):
        """The task's record, asked of its endpoint (fx status)."""
        q = {"endpoint": endpoint} if endpoint else None
        return self.request("GET", "/v1/tasks/" + urllib.parse.quote(task_id, safe=""), query=q)["task"]

    def results(self, task_id, wait=False, start=0, endpoint=None):
        """GET /v1/tasks/ID/results: {"task": TaskRecord, "results": [...]}."""
        q = {}
        if wait:
            q["wait"] = "true"
        if start:
            q["from"] = str(start)
        if endpoint:
            q["endpoint"] = endpoint
        return self.request("GET", "/v1/tasks/%s/results" % urllib.parse.quote(task_id, safe=""), query=q or None)

    def result(self, task_id, wait=True, index=0, endpoint=None):
        """The value of one input of a task (fx result); raises its error."""
        out = self.results(task_id, wait=wait, endpoint=endpoint)
        for r in out.get("results") or ():
            if r.get("index", 0) == index:
                return _value(r, task_id)
        task = out.get("task") or {}
        if task.get("error"):
            raise errors.from_error(task["error"], task_id=task_id)
        raise errors.NotFound("fxmesh: task %s has no result for input %d (state %s)"
                              % (task_id, index, task.get("state", "unknown")), task_id=task_id)

    def cancel(self, task_id, endpoint=None):
        """Cancels a task on its endpoint (fx cancel); returns its record."""
        body = {"endpoint": endpoint} if endpoint else {}
        return self.request("POST", "/v1/tasks/%s/cancel" % urllib.parse.quote(task_id, safe=""), body)["task"]

    def tasks(self, state=None, limit=None):
        """The local record of submitted tasks, newest first (fx tasks)."""
        q = {}
        if state:
            q["state"] = state
        if limit:
            q["limit"] = str(limit)
        return self.request("GET", "/v1/tasks", query=q or None)["tasks"]

    def follow(self, feed, tasks):
        """POST /v1/follow: stream results of earlier tasks into feed.
        tasks: task IDs or {"task_id", "endpoint"} dicts."""
        ts = [t if isinstance(t, dict) else {"task_id": t, "endpoint": ""} for t in tasks]
        return self.request("POST", "/v1/follow", {"feed": feed, "tasks": ts, "from": 0})["tasks"]


def _value(result, task_id=None):
    err = result.get("error")
    if err:
        raise errors.from_error(err, task_id=result.get("task_id", task_id), index=result.get("index"))
    return result.get("value")


def _tail(path, n=2000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"


# What fx serve's exit codes at start mean (docs/local-api.md, Errors).
_SERVE_EXITS = {
    2: " (no mesh address known: keep `fxnode dev` running, or set FX_BOOTSTRAP or bootstrap: in "
       "$FX_HOME/config.yaml)",
    4: " (no user key: run `fx id init`)",
}

# The fx serve processes this interpreter started (kept so they are reaped).
_started = []
