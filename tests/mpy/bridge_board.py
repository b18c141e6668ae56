# Board facts for the REPL bridge (tests/mpy/replbridge.mjs): BOARD EMULATION ONLY, imported
# by the bridge at every boot, never by firmware tests.
#
# 1. Filesystem errors. The WebAssembly port's filesystem raises OSError with Emscripten's errno numbers
# (ENOENT = 44, EEXIST = 20, EACCES = 2, ...), while its own `errno` module, every board
# port and host tools (mpremote maps "OSError: 2" to ENOENT) use MicroPython's numbers.
# This wraps the os functions and open() so that errors carry MicroPython's numbers, and
# makes os.ilistdir() give the entry size as LittleFS does on a board.
# 2. micropython.alloc_emergency_exception_buf exists on boards (boot.py calls it), not on
#    the WebAssembly port: a no-op here.
import builtins
import os

_MAP = {63: 1, 44: 2, 29: 5, 8: 9, 6: 11, 48: 12, 2: 13, 10: 16, 20: 17, 75: 18, 43: 19,
        54: 20, 31: 21, 28: 22, 33: 24, 22: 27, 51: 28, 70: 29, 69: 30, 37: 36, 55: 39,
        138: 95}


def _wrap(f):
    def w(*a, **kw):
        try:
            return f(*a, **kw)
        except OSError as e:
            n = e.args[0] if e.args else None
            if n in _MAP:
                raise OSError(_MAP[n])
            raise
    return w


_ilistdir = _wrap(os.ilistdir)
_stat = _wrap(os.stat)


def _ilistdir_sized(path="."):
    base = path if path.endswith("/") else path + "/"
    for e in _ilistdir(path):
        size = 0
        if e[1] == 0x8000:
            try:
                size = _stat(base + e[0])[6]
            except OSError:
                pass
        yield (e[0], e[1], e[2] if len(e) > 2 else 0, size)


for _n in ("stat", "listdir", "remove", "unlink", "rename", "mkdir", "rmdir", "chdir",
           "statvfs", "getcwd"):
    if hasattr(os, _n):
        setattr(os, _n, _wrap(getattr(os, _n)))
os.ilistdir = _ilistdir_sized
builtins.open = _wrap(builtins.open)

# The builtin micropython module cannot take attributes: put a module that forwards to it
# in sys.modules (imports look there first) and add what boards have.
import sys  # noqa: E402

import micropython as _mp_real  # noqa: E402

if not hasattr(_mp_real, "alloc_emergency_exception_buf"):
    import bridge_micropython  # noqa: E402

    bridge_micropython._real = _mp_real
    sys.modules["micropython"] = bridge_micropython
