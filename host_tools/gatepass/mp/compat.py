"""Make MicroPython firmware importable under CPython.

Installs a `micropython` module (const, native, viper, mem_info, ...) and the
MicroPython `time.ticks_*` / `sleep_ms` / `sleep_us` functions on CPython's `time`,
with the same 2**30 wrap-around as MicroPython ports, and `framebuf` (gatepass.mp.framebuf,
pixel-exact monochrome formats). The simulator (gatepass.sim)
can swap the tick source for a virtual clock. `machine` is not provided here: only
the simulator provides it, so firmware that touches hardware outside drivers/ fails.
"""
from __future__ import annotations

import sys
import time
import types

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
_HALF = TICKS_PERIOD // 2


class RealTicks:
    """Tick source backed by time.monotonic_ns()."""

    def ticks_us(self) -> int:
        return (time.monotonic_ns() // 1000) & TICKS_MAX

    def ticks_ms(self) -> int:
        return (time.monotonic_ns() // 1_000_000) & TICKS_MAX

    def sleep_us(self, us: int) -> None:
        time.sleep(us / 1e6)


source = RealTicks()


def ticks_ms() -> int:
    return source.ticks_ms()


def ticks_us() -> int:
    return source.ticks_us()


def ticks_cpu() -> int:
    return source.ticks_us()


def _small_int(v: object, name: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{name} must be int, not {type(v).__name__}")
    return v


def ticks_add(ticks: int, delta: int) -> int:
    """MicroPython's time.ticks_add: modular add; |delta| must be < TICKS_PERIOD/2 (the one
    host implementation: the simulator's clocks use it too)."""
    _small_int(ticks, "ticks")
    _small_int(delta, "delta")
    # extmod/modtime.c: unsigned `delta + PERIOD/2 - 1 >= PERIOD - 1` raises, i.e. the
    # accepted range is -(PERIOD/2 - 1) .. PERIOD/2 - 1 so ticks_diff can always undo it.
    if not -_HALF < delta < _HALF:
        raise OverflowError("ticks interval overflow")
    return (ticks + delta) & TICKS_MAX


def ticks_diff(end: int, start: int) -> int:
    """MicroPython's time.ticks_diff: signed distance in -PERIOD/2 .. PERIOD/2 - 1."""
    _small_int(end, "end")
    _small_int(start, "start")
    return ((end - start + _HALF) & TICKS_MAX) - _HALF


def sleep_ms(ms: int) -> None:
    if ms > 0:
        source.sleep_us(int(ms) * 1000)


def sleep_us(us: int) -> None:
    if us > 0:
        source.sleep_us(int(us))


def set_source(src) -> object:
    """Replace the tick source (an object with ticks_ms/ticks_us/sleep_us); returns the old one."""
    global source
    old, source = source, src
    return old


def _micropython_module() -> types.ModuleType:
    m = types.ModuleType("micropython")
    m.const = lambda x: x
    m.native = lambda f: f
    m.viper = lambda f: f
    m.mem_info = lambda *a: None
    m.qstr_info = lambda *a: None
    m.alloc_emergency_exception_buf = lambda n: None
    m.schedule = lambda f, arg: f(arg)
    m.opt_level = lambda *a: 0
    m.heap_lock = lambda: 0
    m.heap_unlock = lambda: 0
    return m


def install() -> None:
    """Idempotently install the shims into this CPython process."""
    if "micropython" not in sys.modules:
        sys.modules["micropython"] = _micropython_module()
    if "framebuf" not in sys.modules:
        from gatepass.mp import framebuf

        sys.modules["framebuf"] = framebuf
    for name in ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_add", "ticks_diff", "sleep_ms", "sleep_us"):
        setattr(time, name, globals()[name])
    if not hasattr(sys.implementation, "_mpy"):
        pass  # firmware must not depend on it


def add_firmware_path() -> None:
    from gatepass import firmware_dir

    fw = str(firmware_dir())
    if fw not in sys.path:
        sys.path.insert(0, fw)
