"""How callables become function sources (no server needed)."""

import functools
import json
import math as m
import unittest

from fxmesh import SourceError
from fxmesh import source


def deco(f):
    @functools.wraps(f)
    def w(*a, **k):
        return f(*a, **k)
    return w


@deco
def decorated(x):
    return x + 1


def uses_module(x):
    return m.sqrt(x)


def plain(x, y=2):
    return x * y


class TestSource(unittest.TestCase):
    def run_source(self, src, entry, *args):
        ns = {}
        exec(compile(src, "<test>", "exec"), ns)
        return ns[entry](*args)

    def test_plain(self):
        src, entry = source.function_source(plain)
        self.assertEqual(entry, "plain")
        self.assertTrue(src.startswith("def plain(x, y=2):"), src)
        self.assertEqual(self.run_source(src, entry, 3), 6)

    def test_decorators_stripped(self):
        src, entry = source.function_source(decorated.__wrapped__)
        self.assertNotIn("@deco", src)
        self.assertEqual(self.run_source(src, entry, 1), 2)

    def test_nested_def_dedented(self):
        def inner(x):
            return x - 1
        src, entry = source.function_source(inner)
        self.assertTrue(src.startswith("def inner"), src)
        self.assertEqual(self.run_source(src, entry, 1), 0)

    def test_module_globals_imported(self):
        src, entry = source.function_source(uses_module)
        self.assertIn("import math as m\n", src)
        self.assertEqual(self.run_source(src, entry, 9), 3.0)

    def test_refused(self):
        k = 3

        def closure(x):
            return x + k

        cases = {
            "lambda": (lambda x: x, "lambda"),
            "closure": (closure, "closure over k"),
            "builtin": (len, "not a Python function"),
            "partial": (functools.partial(plain, 1), "not a Python function"),
            "method": (json.JSONEncoder().encode, "method"),
        }
        ns = {}
        exec(compile("def made(x):\n    return x\n", "<nowhere>", "exec"), ns)
        cases["no source"] = (ns["made"], "source of made is not available")
        for name, (fn, want) in cases.items():
            with self.subTest(name):
                with self.assertRaises(SourceError) as cm:
                    source.function_source(fn)
                self.assertIn(want, str(cm.exception))

    def test_content_addressed(self):
        a = source.make_function(plain)
        b = source.make_function(plain)
        self.assertEqual(a.name, b.name)
        self.assertTrue(a.name.startswith("plain."))
        self.assertNotEqual(a.name, source.make_function(uses_module).name)
        p = source.make_function(plain, "pickle")
        self.assertNotEqual(a.name, p.name)
        self.assertEqual(p.entry, source.PICKLE_ENTRY)


if __name__ == "__main__":
    unittest.main()
