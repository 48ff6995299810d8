"""Edges of the Executor's session against the STAND-IN server (a test
double, not fxmesh; see standin.py), found by a hostile reading of it: a
cancel from a done-callback, a request that cannot be encoded, a cancel
of a call whose request is then refused, calls too large to send."""

import threading
import time
import unittest
from unittest import mock

import fxmesh
from fxmesh import executor as fxexecutor

from .test_standin import StandInCase, sq, submits, until


def ident(x):
    return x


class TestExecutorEdges(StandInCase):
    def test_cancel_in_done_callback_does_not_deadlock(self):
        # A done-callback runs on the feed reader thread. If it cancels a
        # future whose request is sent but not yet answered, _cancel_sent
        # waits on _cv for the answer, which only the reader thread (the
        # one waiting) can take: the whole Executor stops.
        self.srv.hold.clear()  # nothing runs yet
        ex = self.executor()
        a = ex.submit(sq, 1)
        until(lambda: a.task_id is not None, "a's acknowledgement")
        self.srv.hold_acks.clear()  # b's request is read, its answer held
        b = ex.submit(sq, 2)
        until(lambda: len(submits(self.srv)) == 2, "b's request")
        entered, returned = threading.Event(), threading.Event()

        def cb(_):
            entered.set()
            b.cancel()
            returned.set()

        a.add_done_callback(cb)
        self.srv.hold.set()  # a ends: its result reaches the reader, cb runs there
        self.assertTrue(entered.wait(10), "a's done-callback did not run")
        self.srv.hold_acks.set()  # b's answer goes on the feed
        self.assertTrue(returned.wait(10), "b.cancel() in a's done-callback never returned (reader thread deadlocked)")

    def test_send_error_that_is_not_oserror_does_not_wedge(self):
        # A request that cannot be encoded (here a NaN walltime; a numpy
        # integer does the same with TypeError) fails its calls with what
        # was raised, and leaves nothing in flight: later calls are sent.
        ex = self.executor(timeout=float("nan"))
        with self.assertRaises(ValueError):
            ex.submit(sq, 1).result(10)
        ex.timeout = None  # the caller fixes its mistake
        f = ex.submit(sq, 2)
        self.assertEqual(f.result(10), 4)

    def _cancel_refused_inflight(self, settle_delay):
        # b's request is in flight (its answer held); a thread cancels b
        # and waits in _cancel_sent; then the answer comes: b's task
        # refused (no such function). Returns (thread, outcome list).
        real = fxexecutor._settle

        def settle(fut, value=None, exc=None):
            if settle_delay is not None:
                time.sleep(settle_delay)
            real(fut, value, exc)

        self.srv.hold_acks.clear()
        ex = self.executor()
        f = ex.submit_to_registered_function("no-such-function", 1)
        until(lambda: submits(self.srv), "the request")
        got = []

        def cancel():
            try:
                got.append(f.cancel())
            except BaseException as e:  # noqa
                got.append(e)

        t = threading.Thread(target=cancel, daemon=True)
        with mock.patch.object(fxexecutor, "_settle", settle):
            t.start()
            until(lambda: len(ex._cv._waiters) > 0, "the canceller waiting")
            self.srv.hold_acks.set()  # the answer: the task refused (not found)
            t.join(10)
        return t, got

    def test_cancel_of_refused_inflight_call_returns(self):
        # _fail (and _read_feed) notify _cv under the lock but settle the
        # futures after releasing it; _cancel_sent waits on _cv until the
        # future has a task ID or is done. A canceller that wakes in
        # between sees neither, waits again, and nothing notifies it any
        # more. The window is widened here by a settle that is slow to
        # start (as a preempted reader thread would be).
        t, got = self._cancel_refused_inflight(0.2)
        self.assertFalse(t.is_alive(), "cancel() of a refused in-flight call never returned")

    def test_cancel_of_refused_inflight_call_does_not_raise(self):
        # When the canceller does wake after the refusal, the future is
        # done but not _claimed: _cancel_sent goes on to
        # client.cancel(None, None), which raises TypeError out of
        # Future.cancel().
        t, got = self._cancel_refused_inflight(None)
        self.assertFalse(t.is_alive(), "cancel() never returned")
        self.assertEqual(got, [False])

    def test_reattach_keeps_order(self):
        # A finished task reattached: its result comes on the feed before
        # follow is answered, its end after; the caller's thread applies
        # the result (slowly here) while the reader gets the end, which
        # must wait behind it rather than fail the input unrun.
        c = self.client()
        f = fxmesh.source.make_function(sq)
        fid = c.register(f.name, source=f.source, entry=f.entry)["id"]
        tid = c.submit(fid, [6])
        c.result(tid)  # finished
        ex = self.executor()
        self.srv.late_follow_ends = 0.1
        real = fxexecutor.Executor._on_event

        def slow_off_reader(self_, ev, *a, **kw):
            if threading.current_thread() is not self_._reader:
                time.sleep(0.3)
            return real(self_, ev, *a, **kw)

        real_follow = ex.client.follow

        def follow(*a, **kw):
            out = real_follow(*a, **kw)
            until(lambda: tid in ex._early, "the result before the answer")
            return out

        with mock.patch.object(fxexecutor.Executor, "_on_event", slow_off_reader), \
                mock.patch.object(ex.client, "follow", follow):
            (fut,) = ex.reattach([tid])
            self.assertEqual(fut.result(10), 36)
        # Reattached again while followed: the same future.
        self.assertEqual(ex.reattach([tid])[0].result(10), 36)

    def test_too_large(self):
        # A call over MAX_CALL_BYTES is refused at submit, naming its size;
        # calls that together pass MAX_REQUEST_BYTES go in several
        # requests, none over it.
        ex = self.executor()
        with mock.patch.object(fxexecutor, "MAX_CALL_BYTES", 1000):
            with self.assertRaises(fxmesh.TooLarge) as cm:
                ex.submit(sq, "x" * 2000)
            self.assertIn("2013 bytes", str(cm.exception))
        with mock.patch.object(fxexecutor, "MAX_REQUEST_BYTES", 3000):
            self.srv.hold_acks.clear()  # the first request in flight: the rest wait together
            first = ex.submit(ident, "y")
            until(lambda: submits(self.srv), "the first request")
            fs = [ex.submit(ident, "%04d" % i + "z" * 200) for i in range(40)]
            self.srv.hold_acks.set()
            for f in [first] + fs:
                f.result(10)
        sizes = [sum(len(i["args"][0]) for t in r["tasks"] for i in t["inputs"]) for r in submits(self.srv)[1:]]
        self.assertGreater(len(sizes), 2)
        self.assertTrue(all(n <= 3000 for n in sizes), sizes)


if __name__ == "__main__":
    unittest.main()
