"""Every Python file of the package and its tests parses as Python 3.8
(only 3.11 runs here, so this is how 3.8 syntax is kept)."""

import ast
import os
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_files():
    for d, dirs, files in os.walk(ROOT):
        dirs[:] = [x for x in dirs if not x.startswith((".", "__pycache__"))]
        for f in files:
            if f.endswith(".py"):
                yield os.path.join(d, f)


# Standard-library names newer than 3.8 that the package must not use.
NEWER = {
    "removeprefix", "removesuffix", "is_relative_to", "cache", "zip_strict", "TaskGroup",
    "pairwise", "bit_count", "aiter", "anext", "batched", "to_thread",
}


class TestSyntax(unittest.TestCase):
    def test_parses_as_python_38(self):
        files = list(python_files())
        self.assertGreater(len(files), 5)
        for path in files:
            with self.subTest(path=os.path.relpath(path, ROOT)):
                with open(path, encoding="utf-8") as f:
                    ast.parse(f.read(), filename=path, feature_version=(3, 8))

    def test_no_newer_stdlib_names(self):
        for path in python_files():
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
                if name in NEWER:
                    self.fail("%s:%d uses %s, newer than Python 3.8" % (path, node.lineno, name))
                if isinstance(node, ast.Call) and any(k.arg == "strict" for k in node.keywords) \
                        and getattr(node.func, "id", "") == "zip":
                    self.fail("%s:%d uses zip(strict=), newer than Python 3.8" % (path, node.lineno))

    def test_catches_newer_syntax(self):
        # The check above can fail: a match statement (3.10) is refused.
        with self.assertRaises(SyntaxError):
            ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 8))


if __name__ == "__main__":
    unittest.main()
