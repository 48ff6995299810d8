"""The SDK against the real `fx serve` and a real local mesh (`fxnode dev`),
as a user runs them: bin/fx on PATH, FX_HOME a fresh directory, no
FX_BOOTSTRAP (fxnode dev records where the mesh is). Skipped when bin/fx
has no `serve` command (make build first; the Makefile's test-python does)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import fxmesh
from fxmesh import client as fxclient

from .devmesh import FX, FXNODE, Mesh

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)

mesh = None


def have_serve():
    if not (os.access(FX, os.X_OK) and os.access(FXNODE, os.X_OK)):
        return "no %s and %s (make build)" % (FX, FXNODE)
    p = subprocess.run([FX, "serve", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0 or b"idle-exit" not in p.stdout:
        return "%s has no serve command with --idle-exit" % FX
    return ""


_saved_env = {}


def setUpModule():
    global mesh
    why = have_serve()
    if why:
        raise unittest.SkipTest("integration tests need the real fx serve: " + why)
    mesh = Mesh()
    for k in ("FX_HOME", "PATH", "FX_BOOTSTRAP"):
        _saved_env[k] = os.environ.get(k)
        if k in mesh.env:
            os.environ[k] = mesh.env[k]
        else:
            os.environ.pop(k, None)


def tearDownModule():
    for k, v in _saved_env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if mesh is not None:
        mesh.close()


def sq(x):
    return x * x


def boom(x):
    return {}["missing-" + str(x)]


def sleepy(s):
    import time
    time.sleep(s)
    return s


def touch(path):
    open(path, "w").close()
    return path


def pair(x):
    return (x, {x})


def python(script, **kw):
    """Runs script as a file with the package importable as the README
    says (PYTHONPATH=python)."""
    path = os.path.join(mesh.home, "script-%d.py" % time.monotonic_ns())
    with open(path, "w") as f:
        f.write(script)
    env = dict(mesh.env, PYTHONPATH=PYDIR)
    return subprocess.Popen([sys.executable, path], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


class TestIntegration(unittest.TestCase):
    def setUp(self):
        try:
            self.ex = fxmesh.Executor()
        except Exception:
            print(mesh.log(), file=sys.stderr)
            raise
        self.addCleanup(self.ex.shutdown, wait=False, cancel_futures=True)

    def test_acceptance_1_readme_example(self):
        # The README's example, as a file run with PYTHONPATH=python.
        readme = os.path.join(PYDIR, "README.md")
        with open(readme) as f:
            text = f.read()
        example = "from fxmesh import Executor\ndef sq(x): return x*x\nwith Executor() as ex: print(ex.submit(sq, 2).result())\n"
        self.assertIn(example, text)
        p = python(example)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err.decode())
        self.assertEqual(out, b"4\n")

    def test_map_10000(self):
        self.assertEqual(list(self.ex.map(sq, range(10000), timeout=300)), [i * i for i in range(10000)])

    def test_task_failed(self):
        with self.assertRaises(fxmesh.TaskFailed) as cm:
            self.ex.submit(boom, 7).result(60)
        e = cm.exception
        self.assertEqual(e.remote_type, "KeyError")
        self.assertIn("missing-7", e.remote_message)
        self.assertIn("Traceback", e.remote_traceback)
        self.assertIn("in boom", e.remote_traceback)

    def test_timeout(self):
        with fxmesh.Executor(timeout=1) as ex:
            start = time.monotonic()
            with self.assertRaises(fxmesh.TaskTimeout):
                ex.submit(sleepy, 10).result(60)
            took = time.monotonic() - start
        print("\n1 s timeout on a 10 s sleep raised after %.2f s" % took, file=sys.stderr)
        self.assertLess(took, 9)  # not the sleep's end: the timeout ended it

    def test_cancel_queued(self):
        # Both workers of the dev endpoint sleep; the next task queues.
        blockers = [self.ex.submit(sleepy, 3) for _ in range(os.cpu_count() or 2)]
        mark = os.path.join(mesh.home, "cancelled-ran")
        f = self.ex.submit(touch, mark)
        deadline = time.monotonic() + 60
        while f.task_id is None:  # acknowledged by the endpoint
            self.assertLess(time.monotonic(), deadline, "no acknowledgement in 60 s")
            time.sleep(0.01)
        self.assertTrue(f.cancel())
        self.assertTrue(f.cancelled())
        self.assertEqual([b.result(60) for b in blockers], [3] * len(blockers))
        self.assertEqual(self.ex.submit(sq, 3).result(60), 9)  # ran after the queue drained
        self.assertFalse(os.path.exists(mark))
        self.assertEqual(self.ex.client.status(f.task_id)["state"], "cancelled")

    def test_pickle(self):
        with fxmesh.Executor(serializer="pickle") as ex:
            self.assertEqual(ex.submit(pair, 3).result(60), (3, {3}))

    def test_reattach_after_kill(self):
        n = 40
        p = python(
            "import sys\nfrom fxmesh import Executor\n"
            "def slow_sq(x):\n    import time\n    time.sleep(0.2)\n    return x * x\n"
            "ex = Executor()\n"
            "for v in ex.map(slow_sq, range(%d)):\n    print(v, flush=True)\n" % n)
        first = p.stdout.readline()
        self.assertEqual(first, b"0\n", p.stderr.read() if not first else "")
        p.kill()
        p.wait()
        c = self.ex.client
        # The dead process's tasks, from the local record of submitted tasks.
        recs = [r for r in c.tasks() if r.get("function_ref", "").split("/")[-1].startswith("slow_sq.")]
        self.assertTrue(recs)
        self.assertEqual(sum(r["count"] for r in recs), n)
        fs = self.ex.reattach(recs)
        self.assertEqual(sorted(f.result(120) for f in fs), sorted(i * i for i in range(n)))


class TestErrors(unittest.TestCase):
    def test_api_major_mismatch(self):
        fxmesh.Client().close()  # the server runs
        old = fxclient.API_VERSION, fxclient.API_MAJOR
        fxclient.API_VERSION, fxclient.API_MAJOR = "2.0", "2"
        try:
            with self.assertRaises(fxmesh.ApiVersionMismatch) as cm:
                fxmesh.Client()
        finally:
            fxclient.API_VERSION, fxclient.API_MAJOR = old
        self.assertTrue(cm.exception.server_version.startswith("1."), cm.exception.server_version)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to give the socket to another uid")
    def test_foreign_socket_owner(self):
        c = fxmesh.Client()
        c.close()
        os.chown(c.socket_path, 4242, 4242)
        try:
            with self.assertRaises(fxmesh.SocketOwnerError) as cm:
                fxmesh.Client()
        finally:
            os.chown(c.socket_path, os.geteuid(), os.getegid())
        self.assertIn("socket owned by another user", str(cm.exception))

    def test_missing_fx(self):
        home = tempfile.mkdtemp(prefix="fxi-nofx-")
        self.addCleanup(shutil.rmtree, home, True)
        env = dict(mesh.env, FX_HOME=home, PATH="/usr/bin:/bin", PYTHONPATH=PYDIR)
        p = subprocess.run([sys.executable, "-c", "import fxmesh\ntry:\n    fxmesh.Executor()\n"
                            "except fxmesh.FxNotFoundError as e:\n    print('FxNotFoundError', e)\n"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertIn(b"FxNotFoundError", p.stdout, p.stdout.decode())
        self.assertIn(b"fx binary", p.stdout)


if __name__ == "__main__":
    unittest.main()
