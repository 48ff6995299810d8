"""A STAND-IN for `fx serve`, for the SDK's unit tests of protocol details.

It is not fxmesh: it speaks the local API of docs/local-api.md over a unix
socket in this process and runs the submitted Python source in its own
threads (two "workers"), with no mesh, no signatures and no endpoint. The
integration tests (test_integration.py) run the SDK against the real
`fx serve` and a real local mesh; this exists to pin what the SDK sends and
how it reads answers (version headers, error objects, feed events arriving
before a submit is answered, cancel of queued tasks, follow) quickly and
deterministically."""

import collections
import hashlib
import http.server
import json
import os
import queue
import socketserver
import sys
import threading
import traceback
import urllib.parse

API_VERSION = "1.1"


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class StandIn:
    """The stand-in server. version: the API version it claims. python:
    what its endpoint record advertises. hold: a threading.Event the
    workers wait on before running anything (to keep tasks queued)."""

    def __init__(self, path, version=API_VERSION, python="%d.%d.%d" % sys.version_info[:3], workers=2,
                 check_version=True):
        self.path = path
        self.version = version
        self.check_version = check_version  # answer a client of another major with an error
        self.split = None  # a random.Random: feed lines are cut into chunks at random places
        self.python = python
        self.hold = threading.Event()
        self.hold.set()
        self.lock = threading.Lock()  # guards the maps below
        self.functions = {}  # id -> body
        self.tasks = {}  # task id -> dict(state, fn, inputs, results, feed, cancelled)
        self.feeds = collections.defaultdict(queue.Queue)  # feed id -> events
        self.requests = []  # (method, path, headers, body) of every request
        self.late_follow_ends = 0  # > 0: follow queues a finished task's end so many seconds after its answer
        self.hold_acks = threading.Event()  # when clear, submit answers wait on it
        self.hold_acks.set()
        self.work = queue.Queue()
        self.seq = 0
        srv = self
        handler = type("H", (_Handler,), {"srv": srv})
        self.httpd = _Server(path, handler)
        self.threads = [threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)]
        self.threads += [threading.Thread(target=self._worker, daemon=True) for _ in range(workers)]
        for t in self.threads:
            t.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        for _ in range(len(self.threads) - 1):
            self.work.put(None)
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def _worker(self):
        while True:
            job = self.work.get()
            if job is None:
                return
            self.hold.wait()
            tid, i = job
            with self.lock:
                t = self.tasks[tid]
                if t["state"] == "cancelled":
                    continue
                t["state"] = "running"
                fn = self.functions[t["fn"]]
            inp = t["inputs"][i]
            res = {"task_id": tid, "index": i, "value": None}
            try:
                if "compiled" not in fn:
                    ns = {"__name__": "__fxmesh__"}
                    exec(compile(fn["source"], "<fxmesh %s>" % t["fn"], "exec"), ns)
                    fn["compiled"] = ns[fn["entry"]]
                res["value"] = fn["compiled"](*inp.get("args", []), **inp.get("kwargs", {}))
                json.dumps(res["value"])
            except Exception as e:
                res["error"] = {"kind": "user", "type": type(e).__name__, "message": str(e),
                                "traceback": traceback.format_exc(), "exit_code": 1}
            self._deliver(tid, res)

    def _deliver(self, tid, res):
        with self.lock:
            t = self.tasks[tid]
            if t["state"] == "cancelled":
                return
            t["results"][res["index"]] = res
            end = len(t["results"]) == len(t["inputs"])
            if end:
                t["state"] = "done"
            # Under the lock, so that no result is queued after its task's end.
            for f in t["feeds"]:
                self.feeds[f].put(dict(res, type="result"))
                if end:
                    self.feeds[f].put({"type": "end", "task_id": tid, "state": "done", "count": len(t["inputs"])})
            if end:
                t["ended"].set()

    def record(self, tid):
        t = self.tasks[tid]
        return {"task_id": tid, "endpoint": "standin-ep", "function": t["fn"], "count": len(t["inputs"]),
                "state": t["state"], "done": len(t["results"]), "error": None}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    srv = None

    def log_message(self, *a):
        pass

    def _send(self, code, obj):
        obj = dict(obj, api_version=self.srv.version)
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Fx-Api-Version", self.srv.version)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def _error(self, code, kind, msg, **extra):
        self._send(code, {"error": dict({"kind": kind, "message": msg, "exit_code": 2}, **extra)})

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else {}

    def _route(self, method):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        body = self._body() if method == "POST" else None
        self.srv.requests.append((method, u.path, dict(self.headers), body))
        hv = self.headers.get("Fx-Api-Version")
        if self.srv.check_version and hv and hv.split(".")[0] != self.srv.version.split(".")[0]:
            return self._error(400, "invalid", "api version %s not served" % hv, reason="api_version",
                               server_api_version=self.srv.version)
        p = u.path
        s = self.srv
        if p == "/v1/version":
            return self._send(200, {"fx_version": "standin", "user": "standin-user", "pid": os.getpid(),
                                    "socket": s.path, "bootstrap": []})
        if p == "/v1/endpoints":
            return self._send(200, {"endpoints": [self._endpoint()]})
        if p.startswith("/v1/endpoints/"):
            if p.rsplit("/", 1)[1] != "standin-ep":
                return self._error(404, "not-found", "no such endpoint")
            return self._send(200, {"endpoint": self._endpoint()})
        if p == "/v1/functions" and method == "POST":
            fid = "bafy" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
            with s.lock:
                reused = fid in s.functions
                s.functions.setdefault(fid, body)
            return self._send(200, {"function": {"id": fid, "name": body["name"], "reused": reused}})
        if p == "/v1/submit":
            return self._submit(body)
        if p == "/v1/run":
            return self._run(body)
        if p == "/v1/feed":
            return self._feed(q["id"][0])
        if p == "/v1/session":
            return self._session(q["feed"][0])
        if p == "/v1/follow":
            out, ends = [], []
            for a in body["tasks"]:
                with s.lock:
                    t = s.tasks.get(a["task_id"])
                    if t is None:
                        out.append({"error": {"kind": "not-found", "message": "no task " + a["task_id"], "exit_code": 4}})
                        continue
                    t["feeds"].append(body["feed"])
                    done = dict(t["results"])
                    state = t["state"]
                out.append({"task_id": a["task_id"], "endpoint": "standin-ep", "count": len(t["inputs"])})
                for i in sorted(done):
                    s.feeds[body["feed"]].put(dict(done[i], type="result"))
                if state in ("done", "cancelled"):
                    ends.append({"type": "end", "task_id": a["task_id"], "state": state, "count": len(t["inputs"])})
            if not s.late_follow_ends:
                for e in ends:
                    s.feeds[body["feed"]].put(e)
            self._send(200, {"tasks": out})
            for e in ends if s.late_follow_ends else ():
                # A moment after the answer.
                threading.Timer(s.late_follow_ends, s.feeds[body["feed"]].put, (e,)).start()
            return
        parts = p.split("/")
        if len(parts) >= 4 and parts[2] == "tasks":
            tid = parts[3]
            with s.lock:
                t = s.tasks.get(tid)
            if t is None:
                return self._error(404, "not-found", "no task " + tid)
            if len(parts) == 5 and parts[4] == "cancel":
                with s.lock:
                    feeds = []
                    if t["state"] in ("queued", "received"):
                        t["state"] = "cancelled"
                        feeds = list(t["feeds"])
                    rec = s.record(tid)
                for f in feeds:
                    s.feeds[f].put({"type": "end", "task_id": tid, "state": "cancelled", "count": len(t["inputs"])})
                return self._send(200, {"task": rec})
            if len(parts) == 5 and parts[4] == "results":
                if q.get("wait") == ["true"]:
                    t["ended"].wait(30)
                with s.lock:
                    return self._send(200, {"task": s.record(tid), "results": [t["results"][i] for i in sorted(t["results"])]})
            with s.lock:
                return self._send(200, {"task": s.record(tid)})
        if p == "/v1/tasks":
            with s.lock:
                return self._send(200, {"tasks": [s.record(t) for t in s.tasks]})
        return self._error(404, "not-found", "no such path " + p)

    def _endpoint(self):
        return {"id": "standin-ep", "name": "standin", "software": {"python": [self.srv.python]}}

    def _submit(self, body, answer=True):
        s = self.srv
        out, jobs = [], []
        for task in body["tasks"]:
            if task["function"] not in s.functions:
                out.append({"error": {"kind": "not-found", "message": "no function " + task["function"], "exit_code": 4}})
                continue
            with s.lock:
                s.seq += 1
                tid = "bafkstandin%d" % s.seq
                s.tasks[tid] = {"state": "queued", "fn": task["function"], "inputs": task["inputs"], "results": {},
                                "feeds": [body["feed"]] if body.get("feed") else [], "ended": threading.Event()}
            out.append({"task_id": tid, "endpoint": "standin-ep", "count": len(task["inputs"])})
            jobs += [(tid, i) for i in range(len(task["inputs"]))]
        for j in jobs:
            s.work.put(j)
        if not answer:
            return out
        s.hold_acks.wait()
        self._send(200, {"tasks": out})

    def _run(self, task):
        s = self.srv
        fid = "run-%d" % id(task)
        t = self._submit({"tasks": [task], "feed": fid}, answer=False)[0]
        if "error" in t:
            return self._send(404, t)
        rec = s.tasks[t["task_id"]]
        rec["ended"].wait(30)
        with s.lock:
            self._send(200, {"task_id": t["task_id"], "endpoint": "standin-ep", "state": rec["state"],
                             "results": [rec["results"][i] for i in sorted(rec["results"])], "error": None})

    def _session(self, fid):
        # The feed, written by a thread of its own, while this one reads
        # the body's requests (chunked NDJSON) and answers each on the feed
        # once its tasks are queued. Each request is noted as a POST of
        # /v1/session with its body and the feed.
        s = self.srv
        w = threading.Thread(target=self._feed, args=(fid,), daemon=True)
        w.start()
        buf = b""
        try:
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                buf += self.rfile.read(size)
                self.rfile.readline()
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    req = json.loads(line)
                    body = {"tasks": req["tasks"], "feed": fid}
                    s.requests.append(("POST", "/v1/session", dict(self.headers), dict(body, seq=req["seq"])))
                    out = self._submit(body, answer=False)
                    s.hold_acks.wait()
                    s.feeds[fid].put({"type": "submitted", "seq": req["seq"], "tasks": out})
        except (OSError, ValueError):
            pass

    def _feed(self, fid):
        self.send_response(200)
        self.send_header("Fx-Api-Version", self.srv.version)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        q = self.srv.feeds[fid]
        ev = {"type": "hello", "feed": fid, "api_version": self.srv.version}
        try:
            while True:
                b = json.dumps(ev).encode() + b"\n"
                rnd = self.srv.split
                while rnd and not q.empty():  # several lines, cut anywhere
                    nxt = q.get()
                    if nxt is None:
                        q.put(None)
                        break
                    b += json.dumps(nxt).encode() + b"\n"
                while b:
                    n = rnd.randint(1, len(b)) if rnd else len(b)
                    self.wfile.write(b"%x\r\n%s\r\n" % (n, b[:n]))
                    self.wfile.flush()
                    b = b[n:]
                ev = q.get()
                if ev is None:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    self.connection.shutdown(2)  # a session's reader stops too
                    return
        except OSError:
            return

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")
