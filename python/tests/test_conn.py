"""The Client's own HTTP/1.1 connection (fxmesh.client._Conn) against
answers written byte by byte: bodies by Content-Length, in chunks, and to
the end of the connection; keep-alive and close."""

import os
import shutil
import socket
import tempfile
import threading
import unittest

from fxmesh import client as fxclient

ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nFx-Api-Version: 1.0\r\nContent-Length: 11\r\n\r\n{\"a\": 1}\n\n\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nFx-Api-Version: 1.0\r\n\r\n"
    b"4\r\n{\"b\"\r\na;ext=1\r\n: [1, 2]}\n\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
]


class ConnTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fxconn-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "s")
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(self.path)
        self.srv.listen(1)
        self.addCleanup(self.srv.close)
        self.requests = []

    def serve(self, answers):
        def run():
            c, _ = self.srv.accept()
            f = c.makefile("rb")
            for a in answers:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    head += f.read(1)
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                self.requests.append(head + f.read(n))
                c.sendall(a)
            f.close()
            c.close()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)

    def test_bodies(self):
        self.serve(ANSWERS)
        c = fxclient._Conn(self.path)
        self.addCleanup(c.close)
        st, h, body, close = c.roundtrip("POST", "/v1/x", {"Fx-Api-Version": "1.0"}, b'{"q":1}')
        self.assertEqual((st, body, close, h["fx-api-version"]), (200, b'{"a": 1}\n\n\n', False, "1.0"))
        self.assertTrue(self.requests[0].startswith(b"POST /v1/x HTTP/1.1\r\nHost: fx\r\n"))
        self.assertTrue(self.requests[0].endswith(b"Content-Length: 7\r\n\r\n{\"q\":1}"))
        st, h, body, close = c.roundtrip("GET", "/v1/y", {}, None)
        self.assertEqual((st, body, close), (200, b'{"b": [1, 2]}\n', False))
        st, h, body, close = c.roundtrip("GET", "/v1/z", {}, None)
        self.assertEqual((st, body, close), (404, b"{}", True))

    def test_to_the_end_and_cut(self):
        self.serve([b"HTTP/1.0 200 OK\r\n\r\n{\"c\": 3}"])
        c = fxclient._Conn(self.path)
        self.addCleanup(c.close)
        self.assertEqual(c.roundtrip("GET", "/", {}, None)[1:], ({}, b'{"c": 3}', True))
        with self.assertRaises((ConnectionResetError, BrokenPipeError)):  # request() tries again on these
            c.roundtrip("GET", "/", {}, None)


if __name__ == "__main__":
    unittest.main()
