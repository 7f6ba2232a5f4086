"""The tests stand on their own: nothing under tests/ imports the benchmarks.

Benchmarks measure and may change for their own reasons; a helper both need lives
in tests/helpers/ and bench/ imports it from there, never the other way round.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_bench(name: object) -> bool:
    return isinstance(name, str) and (name == "bench" or name.startswith("bench."))


def bench_import_lines(source: str) -> list[int]:
    """Lines of ``source`` that import ``bench`` or a module below it, at any depth
    (inside functions, under ``TYPE_CHECKING``, through ``importlib``)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            hit = any(_is_bench(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            hit = node.level == 0 and _is_bench(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            hit = name in ("import_module", "__import__") and _is_bench(node.args[0].value)
        else:
            continue
        if hit:
            lines.append(node.lineno)
    return lines


def test_no_test_imports_the_benchmarks() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 20  # the walk found the suite
    offenders = [f"{f.relative_to(TESTS.parent)}:{n}" for f in files
                 for n in bench_import_lines(f.read_text())]
    assert offenders == [], f"tests import bench (move the helper to tests/helpers/): {offenders}"


def test_the_check_sees_every_form_of_import() -> None:
    for src in ["import bench", "import os, bench.load as load", "from bench import page",
                "from bench.loopback import free_port",
                "def f() -> None:\n    from bench.engine import main",
                "import importlib\nimportlib.import_module('bench.load')",
                "__import__('bench')"]:
        assert bench_import_lines(src), src
    clean = ("import benchmark\nfrom tests.helpers.net import free_port\nfrom .bench import x\n"
             "from benchmarks import y\nimportlib.import_module('server.app')\n")
    assert bench_import_lines(clean) == []
