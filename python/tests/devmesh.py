"""A local mesh for the integration tests and the peer benchmark: `fxnode
dev` in a fresh FX_HOME, and the environment that reaches it (bin on PATH,
no FX_BOOTSTRAP: fxnode dev records where the mesh is)."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import fxmesh

PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("FXMESH_BIN") or os.path.join(os.path.dirname(PYDIR), "bin")
FX = os.path.join(BIN, "fx")
FXNODE = os.path.join(BIN, "fxnode")


class Mesh:
    """fxnode dev in a fresh FX_HOME, and the environment to reach it."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="fxi-")
        self.env = dict(os.environ)
        self.env.pop("FX_BOOTSTRAP", None)
        self.env["FX_HOME"] = self.home
        self.env["PATH"] = BIN + os.pathsep + self.env.get("PATH", "")
        self.out = open(os.path.join(self.home, "dev.out"), "w+b")
        self.dev = subprocess.Popen([FXNODE, "dev"], env=self.env, stdout=self.out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            with open(self.out.name, "rb") as f:
                if b"export FX_BOOTSTRAP=" in f.read():
                    break
            if self.dev.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fxnode dev did not come up: " + self.log())
            time.sleep(0.05)

    def log(self):
        with open(self.out.name, "rb") as f:
            return f.read()[-4000:].decode("utf-8", "replace")

    def close(self):
        try:
            with fxmesh.Client(fx_home=self.home, start=False) as c:
                os.kill(c.server["pid"], signal.SIGTERM)
        except Exception:
            pass
        os.killpg(self.dev.pid, signal.SIGTERM)
        try:
            self.dev.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.dev.pid, signal.SIGKILL)
            self.dev.wait()
        self.out.close()
        shutil.rmtree(self.home, True)
