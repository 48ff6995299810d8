"""The SDK against the STAND-IN server of standin.py (not fxmesh: a test
double of `fx serve`'s local API, in this process), for protocol details.
test_integration.py runs the same SDK against the real fx serve."""

import concurrent.futures as cf
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

import fxmesh
from fxmesh import client as fxclient

from .standin import StandIn


def sq(x):
    return x * x


def boom(x):
    return 1 // x


def add(a, b=0):
    return a + b


def touch(path):
    open(path, "w").close()
    return path


def pair(x):
    return (x, {1, 2})


def submits(srv):
    """The bodies of the submit requests the stand-in got on sessions."""
    return [r[3] for r in srv.requests if r[1] == "/v1/session" and "seq" in r[3]]


def until(cond, what, timeout=30):
    """Polls cond until it holds; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("waited %d s for %s" % (timeout, what))
        time.sleep(0.001)


class StandInCase(unittest.TestCase):
    version = "1.1"
    check_version = True

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fxsdk-")
        self.path = os.path.join(self.dir, "fx.sock")
        self.srv = StandIn(self.path, version=self.version, check_version=self.check_version)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.addCleanup(self.srv.close)

    def client(self, **kw):
        c = fxmesh.Client(socket_path=self.path, fx_home=self.dir, start=False, **kw)
        self.addCleanup(c.close)
        return c

    def executor(self, **kw):
        ex = fxmesh.Executor(client=self.client(), **kw)
        self.addCleanup(ex.shutdown, False, cancel_futures=True)
        return ex


class TestClient(StandInCase):
    def test_sends_version_header(self):
        c = self.client()
        self.assertEqual(c.server["api_version"], "1.1")
        c.endpoints(require=["python>=3.8"])
        for method, path, headers, _ in self.srv.requests:
            self.assertEqual(headers.get("Fx-Api-Version"), "1.1", path)
        self.assertEqual(self.srv.requests[-1][1], "/v1/endpoints")

    def test_error_kinds(self):
        c = self.client()
        with self.assertRaises(fxmesh.NotFound) as cm:
            c.endpoint("nope")
        self.assertEqual(cm.exception.kind, "not-found")
        with self.assertRaises(fxmesh.NotFound):
            c.status("bafkmissing")

    def test_run_and_batch(self):
        c = self.client()
        f = fxmesh.source.make_function(add)
        fid = c.register(f.name, source=f.source, entry=f.entry)["id"]
        self.assertEqual(c.run(fid, [2], {"b": 3}), 5)
        tid = c.submit(fid, [4])
        self.assertEqual(c.result(tid), 4)
        rs = c.batch(fid, [{"args": [1]}, {"args": [2, 2]}])
        self.assertEqual([r["value"] for r in rs], [1, 4])
        self.assertEqual(c.status(tid)["state"], "done")


class TestVersionMismatch(StandInCase):
    version = "2.0"

    def test_other_major(self):
        with self.assertRaises(fxmesh.ApiVersionMismatch) as cm:
            self.client()
        self.assertEqual(cm.exception.server_version, "2.0")
        self.assertIn("this SDK speaks 1.1", str(cm.exception))


class TestOlderMinor(StandInCase):
    # An fx serve of API 1.0 (started before an upgrade) has no sessions:
    # the Executor says so, naming the server to stop.
    version = "1.0"

    def test_executor_needs_sessions(self):
        with self.assertRaises(fxmesh.ApiVersionMismatch) as cm:
            fxmesh.Executor(client=self.client())
        self.assertIn("speaks local API 1.0", str(cm.exception))
        self.assertIn("pid %d" % os.getpid(), str(cm.exception))


class TestVersionHeader(StandInCase):
    # A server that does not refuse the client: the SDK reads the version
    # header of the answer itself.
    version = "2.1"
    check_version = False

    def test_other_major_header(self):
        with self.assertRaises(fxmesh.ApiVersionMismatch) as cm:
            self.client()
        self.assertEqual(cm.exception.server_version, "2.1")


class TestSocketOwner(StandInCase):
    @unittest.skipUnless(os.geteuid() == 0, "needs root to give the socket to another uid")
    def test_foreign_owner_refused(self):
        os.chown(self.path, 4242, 4242)
        with self.assertRaises(fxmesh.SocketOwnerError) as cm:
            self.client()
        self.assertIn("socket owned by another user", str(cm.exception))
        self.assertEqual(self.srv.requests, [])  # nothing was sent


class TestStart(unittest.TestCase):
    def test_missing_fx(self):
        d = tempfile.mkdtemp(prefix="fxsdk-")
        self.addCleanup(shutil.rmtree, d, True)
        old = os.environ.get("PATH")
        os.environ["PATH"] = d  # no fx here
        try:
            with self.assertRaises(fxmesh.FxNotFoundError) as cm:
                fxmesh.Client(fx_home=d)
        finally:
            os.environ["PATH"] = old
        self.assertIn("fx binary", str(cm.exception))

    def test_server_exits_at_start(self):
        # fx serve exits 2 when it knows no mesh: the error says so.
        d = tempfile.mkdtemp(prefix="fxsdk-")
        self.addCleanup(shutil.rmtree, d, True)
        fx = os.path.join(d, "fx")
        with open(fx, "w") as f:
            f.write("#!/bin/sh\necho 'fx: no bootstrap' >&2\nexit 2\n")
        os.chmod(fx, 0o755)
        with self.assertRaises(fxmesh.ServerStartError) as cm:
            fxmesh.Client(fx_home=d, fx=fx)
        self.assertIn("no mesh address known", str(cm.exception))
        self.assertIn("fx: no bootstrap", str(cm.exception))

    def test_starts_server(self):
        # A stand-in `fx` on PATH that serves the stand-in API: the client
        # starts it with serve --idle-exit and waits for /v1/version.
        d = tempfile.mkdtemp(prefix="fxsdk-")
        self.addCleanup(shutil.rmtree, d, True)
        here = os.path.dirname(os.path.abspath(__file__))
        fx = os.path.join(d, "fx")
        with open(fx, "w") as f:
            f.write("#!%s\nimport sys, os, time\nsys.path.insert(0, %r)\n"
                    "open(os.path.join(os.environ['FX_HOME'], 'argv'), 'w').write(' '.join(sys.argv[1:]))\n"
                    "from standin import StandIn\ns = StandIn(os.path.join(os.environ['FX_HOME'], 'fx.sock'))\n"
                    "time.sleep(60)\n" % (sys.executable, here))
        os.chmod(fx, 0o755)
        c = fxmesh.Client(fx_home=d, fx=fx, idle_exit="1m")
        self.assertEqual(c.server["fx_version"], "standin")
        with open(os.path.join(d, "argv")) as f:
            self.assertEqual(f.read(), "serve --idle-exit 1m")
        for p in fxclient._started:
            p.kill()
            p.wait()


class TestExecutor(StandInCase):
    def test_is_an_executor(self):
        ex = self.executor()
        self.assertIsInstance(ex, cf.Executor)
        self.assertEqual(ex.submit(sq, 2).result(10), 4)
        self.assertEqual(ex.submit(add, 2, b=5).result(10), 7)

    def test_registers_once(self):
        ex = self.executor()
        for f in [ex.submit(sq, i) for i in range(5)]:
            f.result(10)
        ex.submit(sq, 1).result(10)
        regs = [r for r in self.srv.requests if r[1] == "/v1/functions"]
        self.assertLessEqual(len(regs), 1)  # 0 when an earlier test registered it

    def test_map_and_batching(self):
        ex = self.executor()
        n = 3000
        self.assertEqual(list(ex.map(sq, range(n), timeout=60)), [i * i for i in range(n)])
        subs = submits(self.srv)
        inputs = sum(len(t["inputs"]) for r in subs for t in r["tasks"])
        self.assertEqual(inputs, n)
        self.assertLess(len(subs), n // 10)  # coalesced, not one request per call
        self.assertTrue(all(r["feed"] == ex.feed_id for r in subs))

    def test_feed_lines_cut_anywhere(self):
        # Feed lines arriving cut into chunks at random places (seeded).
        self.srv.split = random.Random(13)
        ex = self.executor()
        self.assertEqual(list(ex.map(sq, range(300), timeout=60)), [i * i for i in range(300)])

    def test_first_submit_sent_alone(self):
        # Nothing in flight: the first submit goes at once, in a request of
        # its own; what arrives while it is in flight goes in the next one.
        self.srv.hold_acks.clear()
        ex = self.executor()
        first = ex.submit(sq, 1)
        until(lambda: submits(self.srv), "a submit request")
        rest = [ex.submit(sq, i) for i in range(2, 7)]
        self.srv.hold_acks.set()
        self.assertEqual([f.result(10) for f in [first] + rest], [1, 4, 9, 16, 25, 36])
        subs = submits(self.srv)
        self.assertEqual(sum(len(t["inputs"]) for t in subs[0]["tasks"]), 1)
        self.assertEqual(sum(len(t["inputs"]) for t in subs[1]["tasks"]), 5)

    def test_results_before_ack(self):
        # Results reach the feed before the submit request is answered.
        self.srv.hold_acks.clear()
        ex = self.executor()
        f = ex.submit(sq, 3)
        until(lambda: self.srv.tasks and self.srv.tasks[max(self.srv.tasks)]["state"] == "done", "the task's end")
        self.assertFalse(f.done())
        self.srv.hold_acks.set()
        self.assertEqual(f.result(10), 9)

    def test_task_failed(self):
        ex = self.executor()
        with self.assertRaises(fxmesh.TaskFailed) as cm:
            ex.submit(boom, 0).result(10)
        e = cm.exception
        self.assertEqual(e.remote_type, "ZeroDivisionError")
        self.assertIn("by zero", e.remote_message)
        self.assertIn("Traceback", e.remote_traceback)
        self.assertIn("Remote traceback", str(e))

    def test_as_completed_and_wait(self):
        ex = self.executor()
        fs = [ex.submit(sq, i) for i in range(20)]
        self.assertEqual(sorted(f.result() for f in cf.as_completed(fs, timeout=30)), sorted(i * i for i in range(20)))
        done, not_done = cf.wait(fs, timeout=30)
        self.assertEqual((len(done), len(not_done)), (20, 0))

    def test_cancel_queued(self):
        self.srv.hold.clear()  # the workers run nothing yet: tasks stay queued
        ex = self.executor()
        mark = os.path.join(self.dir, "ran")
        f = ex.submit(touch, mark)
        until(lambda: f.task_id is not None, "the task's acknowledgement")
        self.assertTrue(f.cancel())
        self.assertTrue(f.cancelled())
        with self.assertRaises(cf.CancelledError):
            f.result(1)
        cancels = [r for r in self.srv.requests if r[1].endswith("/cancel")]
        self.assertEqual([r[1] for r in cancels], ["/v1/tasks/%s/cancel" % f.task_id])
        self.srv.hold.set()
        self.assertEqual(ex.submit(sq, 5).result(10), 25)  # the workers went past the cancelled task
        self.assertFalse(os.path.exists(mark))

    def test_cancel_waits_in_as_completed(self):
        self.srv.hold.clear()
        ex = self.executor()
        f = ex.submit(sq, 1)
        until(lambda: f.task_id is not None, "the task's acknowledgement")
        got = []
        t = threading.Thread(target=lambda: got.extend(cf.as_completed([f], timeout=30)))
        t.start()
        f.cancel()
        t.join(30)
        self.assertEqual(got, [f])
        self.srv.hold.set()

    def test_refused_task(self):
        # One task of a submit request refused: its futures fail with the
        # error's kind; the request's other tasks go on.
        ex = self.executor()
        with self.assertRaises(fxmesh.NotFound) as cm:
            ex.submit_to_registered_function("no-such-function", 1).result(10)
        self.assertEqual(cm.exception.exit_code, 4)

    def test_error_classes(self):
        cases = {
            "user": fxmesh.TaskFailed, "system": fxmesh.TaskSystemError, "timeout": fxmesh.TaskTimeout,
            "expired": fxmesh.TaskTimeout, "denied": fxmesh.TaskDenied, "overloaded": fxmesh.Overloaded,
            "unavailable": fxmesh.Unavailable, "not-found": fxmesh.NotFound, "invalid": fxmesh.InvalidRequest,
            "too-large": fxmesh.TooLarge, "replayed": fxmesh.Replayed, "internal": fxmesh.InternalError,
        }
        for kind, cls in cases.items():
            with self.subTest(kind):
                e = fxmesh.errors.from_error({"kind": kind, "message": "m", "exit_code": 9})
                self.assertIs(type(e), cls)
                self.assertEqual((e.kind, e.exit_code), (kind, 9))
        self.assertIsInstance(fxmesh.errors.from_error({"kind": "timeout"}), TimeoutError)
        e = fxmesh.errors.from_error({"kind": "invalid", "reason": "api_version", "server_api_version": "3.0"})
        self.assertIsInstance(e, fxmesh.ApiVersionMismatch)

    def test_json_errors_name_types(self):
        ex = self.executor()
        with self.assertRaises(fxmesh.SerializerError) as cm:
            ex.submit(sq, object())
        self.assertIn("builtins.object", str(cm.exception))
        with self.assertRaises(fxmesh.SourceError):
            ex.submit(lambda x: x, 1)

    def test_pickle(self):
        ex = self.executor(serializer="pickle")
        self.assertEqual(ex.submit(pair, 3).result(10), (3, {1, 2}))

    def test_pickle_refused_on_other_python(self):
        self.srv.python = "2.7.18"
        with self.assertRaises(fxmesh.SerializerError) as cm:
            fxmesh.Executor(client=self.client(), serializer="pickle", endpoint="standin-ep")
        self.assertIn("runs Python 2.7.18", str(cm.exception))
        with self.assertRaises(fxmesh.SerializerError):
            fxmesh.Executor(client=self.client(), serializer="pickle")

    def test_reattach(self):
        ex = self.executor()
        c = self.client()
        f = fxmesh.source.make_function(sq)
        fid = c.register(f.name, source=f.source, entry=f.entry)["id"]
        t1 = c.batch(fid, [{"args": [i]} for i in range(4)], wait=False)
        t2 = c.submit(fid, [7])
        fs = ex.reattach([t1, {"task_id": t2, "endpoint": "standin-ep"}, "bafkmissing"])
        self.assertEqual([x.result(10) for x in fs[:5]], [0, 1, 4, 9, 49])
        with self.assertRaises(fxmesh.NotFound):
            fs[5].result(10)
        # On the class: an Executor of its own, closed when they are done.
        fs = fxmesh.Executor.reattach([t2], client=self.client())
        self.assertEqual([x.result(10) for x in fs], [49])

    def test_shutdown(self):
        ex = fxmesh.Executor(client=self.client())
        fs = [ex.submit(sq, i) for i in range(50)]
        ex.shutdown(wait=True)
        self.assertTrue(all(f.done() for f in fs))
        with self.assertRaises(RuntimeError):
            ex.submit(sq, 1)

    def test_shutdown_cancel_futures(self):
        self.srv.hold.clear()
        self.srv.hold_acks.clear()
        ex = fxmesh.Executor(client=self.client())
        first = ex.submit(sq, 1)
        until(lambda: submits(self.srv), "a submit request")
        rest = [ex.submit(sq, i) for i in range(10)]
        ex.shutdown(wait=False, cancel_futures=True)
        self.assertTrue(all(f.cancelled() for f in rest))
        self.srv.hold_acks.set()
        self.srv.hold.set()
        self.assertEqual(first.result(10), 1)

    def test_feed_loss_fails_futures(self):
        self.srv.hold.clear()
        ex = self.executor()
        f = ex.submit(sq, 2)
        until(lambda: f.task_id is not None, "the task's acknowledgement")
        self.srv.feeds[ex.feed_id].put(None)  # the server ends the feed
        with self.assertRaises(fxmesh.ConnectionLost):
            f.result(10)
        self.srv.hold.set()


if __name__ == "__main__":
    unittest.main()
