"""Run code under the real MicroPython (the official WebAssembly port) from CPython.

One node process serves a pytest session (or a benchmark); every request gets a fresh
MicroPython instance with firmware/ at /fw and tests/firmware/ at /tests on its filesystem.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

from gatepass import repo_root

ROOT = repo_root()
FIRMWARE = ROOT / "firmware"
TESTS_FW = ROOT / "tests" / "firmware"
RUNTIME_DIR = ROOT / "tests" / "mpy"
SHARED = Path(os.environ.get("GATEPASS_SHARED", ROOT.parent / "shared")).resolve()

_PRELUDE = """\
import sys
sys.path.insert(0, '/tests')
sys.path.insert(0, '/fw')
"""


class RunCalls:
    """call() and map() over a runtime's run(code): shared by the wasm and unix bridges."""

    def run(self, code: str, files: dict | None = None) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def call(self, module: str, func: str, *args):
        """Call module.func(*args) under MicroPython; arguments and result travel by repr."""
        out = self.run(
            "import %s as _m\n_r = _m.%s(*%r)\nprint('@@RESULT@@' + repr(_r))\n" % (module, func, tuple(args))
        )
        return _parse_result(out)

    def map(self, module: str, func: str, arglist) -> list:
        """Call module.func over a batch in one run: [("ok", value) | ("err", type, msg)]."""
        code = (
            "import %s as _m\n"
            "_out = []\n"
            "for _a in %r:\n"
            "    try:\n"
            "        _out.append(('ok', _m.%s(*_a)))\n"
            "    except Exception as _e:\n"
            "        _out.append(('err', type(_e).__name__, str(_e)))\n"
            "print('@@RESULT@@' + repr(_out))\n"
        ) % (module, [tuple(a) for a in arglist], func)
        return _parse_result(self.run(code))


class MicroPythonError(Exception):
    """An exception raised by code running under MicroPython."""

    def __init__(self, traceback: str, stdout: str = ""):
        self.traceback = traceback.rstrip()
        self.stdout = stdout
        last = self.traceback.splitlines()[-1] if self.traceback else ""
        exc_type, _, message = last.partition(":")
        self.exc_type = exc_type.strip()
        self.message = message.strip()
        super().__init__("MicroPython raised:\n" + self.traceback + ("\n--- stdout ---\n" + stdout if stdout else ""))


class MicroPython(RunCalls):
    """A node process hosting the MicroPython WebAssembly port."""

    port = "wasm"

    def __init__(self, timeout: float = 300.0):
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: `make test` installs the MicroPython runtime")
        if not (RUNTIME_DIR / "node_modules" / "@micropython").is_dir():
            raise RuntimeError("MicroPython runtime missing: run `make mpy-runtime` (npm ci in tests/mpy)")
        self.timeout = timeout
        self._proc = subprocess.Popen(
            [node, str(RUNTIME_DIR / "runner.mjs")],
            cwd=RUNTIME_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._next = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, code: str, files: dict | None = None) -> dict:
        with self._lock:
            self._next += 1
            req = {
                "id": self._next,
                "code": code,
                "trees": {"/fw": str(FIRMWARE), "/tests": str(TESTS_FW)},
                "files": {"/tests/fwenv.py": "SHARED = %r\nRUNTIME = 'micropython'\nPORT = 'wasm'\n" % "/shared"},
            }
            for dest, content in (files or {}).items():
                if isinstance(content, (bytes, bytearray)):
                    content = {"b64": base64.b64encode(content).decode()}
                req["files"][dest] = content
            if SHARED.is_dir():
                req["trees"]["/shared/vectors"] = str(SHARED / "vectors")
            self._proc.stdin.write(json.dumps(req) + "\n")
            self._proc.stdin.flush()
            result: list = []
            reader = threading.Thread(target=lambda: result.append(self._proc.stdout.readline()), daemon=True)
            reader.start()
            reader.join(self.timeout)
            if not result or not result[0]:
                err = ""
                if self._proc.poll() is not None:
                    err = self._proc.stderr.read()
                self._proc.kill()
                raise RuntimeError("MicroPython runner died or timed out after %ss %s" % (self.timeout, err))
            return json.loads(result[0])

    def run(self, code: str, files: dict | None = None) -> str:
        """Run `code` (firmware/ importable); return its stdout or raise MicroPythonError.

        `files` maps MicroPython paths to str or bytes content written before the run.
        """
        reply = self._request(_PRELUDE + code, files)
        if reply["error"]:
            raise MicroPythonError(reply["error"], reply["stdout"])
        return reply["stdout"]


def _parse_result(out: str):
    for line in reversed(out.splitlines()):
        if line.startswith("@@RESULT@@"):
            return eval(line[len("@@RESULT@@"):], {"__builtins__": {}}, {"inf": float("inf"), "nan": float("nan"),
                                                             "bytearray": bytearray})
    raise RuntimeError("no result in MicroPython output:\n" + out)
