"""Bus-level hardware simulators for gatepass firmware running under CPython.

    from gatepass import sim
    with sim.installed(clock=sim.VirtualClock()) as world:      # machine + time.ticks_* swapped
        mlx = world.i2c(0).attach(sim.MLX90614Model(scene=sim.mlx90614.person(34.6, 24.0)))
        gm65 = world.uart(2).attach(sim.GM65Model())
        from drivers.mlx90614 import MLX90614
        import machine
        ir = MLX90614(machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100000))

`install()` puts `gatepass.sim.machine` in sys.modules["machine"] (and an `ssd1306` stand-in),
and replaces time.ticks_ms/ticks_us/ticks_cpu/ticks_add/ticks_diff/sleep_ms/sleep_us with the
clock's; `uninstall()` (or leaving `installed()`) restores everything. `Rig.from_profile`
wires a whole board from boards/*.json.
"""
from __future__ import annotations

import contextlib
import sys
import time as _time
import types

from . import clock as _clockmod
from . import machine as _machine
from . import network as _network
from .clock import TICKS_PERIOD, RealClock, VirtualClock, ticks_add, ticks_diff
from .display import FakeSSD1306, SSD1306Device
from .gm65 import GM65Model
from .i2c import I2CDevice, Nack, SimI2C
from .mlx90614 import MLX90614Model
from .pins import SimPin
from .rig import Rig, load_profile, profile_names
from .syn6288 import SYN6288Model
from .uart import SimUART, UARTDevice
from .world import (DEEPSLEEP_RESET, HARD_RESET, PWRON_RESET, SOFT_RESET, WDT_RESET, SimReset,
                    World)

__all__ = [
    "install", "uninstall", "installed", "current_world", "World", "VirtualClock", "RealClock",
    "TICKS_PERIOD", "ticks_add", "ticks_diff", "SimPin", "SimI2C", "I2CDevice", "Nack",
    "SimUART", "UARTDevice", "MLX90614Model", "GM65Model", "SYN6288Model", "FakeSSD1306", "SSD1306Device",
    "Rig", "load_profile", "profile_names", "SimReset", "PWRON_RESET", "HARD_RESET",
    "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET",
]

_TIME_NAMES = ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_add", "ticks_diff", "sleep_ms",
               "sleep_us")
_MISSING = object()
_saved: list[dict] = []


def _ssd1306_module(world: World) -> types.ModuleType:
    m = types.ModuleType("ssd1306")

    def SSD1306_I2C(width, height, i2c, addr=0x3C, external_vcc=False):
        d = FakeSSD1306(width, height, i2c, addr, external_vcc)
        world.displays.append(d)
        return d
    m.SSD1306_I2C = SSD1306_I2C  # type: ignore[attr-defined]
    return m


def install(world: World | None = None, clock=None, chip: str = "esp32", psram: str = "none",
            strict: bool = True, ssd1306: bool = True) -> World:
    """Make `machine` (and `time.ticks_*`) simulated; returns the World. Nestable."""
    from ..mp.fw import ensure_micropython_shim
    ensure_micropython_shim()
    if world is None:
        world = World(clock if clock is not None else VirtualClock(), chip, psram, strict)
    clk = world.clock
    saved = {
        "machine": sys.modules.get("machine", _MISSING),
        "ssd1306": sys.modules.get("ssd1306", _MISSING),
        "network": sys.modules.get("network", _MISSING),
        "world": _machine._world,
        "clock": _clockmod._current,
        "time": {n: getattr(_time, n, _MISSING) for n in _TIME_NAMES},
        "mpcompat": None,
    }
    try:
        from ..mp import compat as mpcompat
    except ImportError:  # pragma: no cover - mpcompat ships with gatepass
        mpcompat = None
    if mpcompat is not None:
        # firmware that bound `from time import ticks_ms` before install() goes through
        # mpcompat's tick source: point that at the same clock
        saved["mpcompat"] = mpcompat.set_source(clk)
    _saved.append(saved)
    sys.modules["machine"] = _machine
    sys.modules["network"] = _network
    if ssd1306:
        sys.modules["ssd1306"] = _ssd1306_module(world)
    else:
        sys.modules.pop("ssd1306", None)  # like a device where mip install was skipped
    _machine._world = world
    _clockmod._set_current(clk)
    for n in _TIME_NAMES:
        setattr(_time, n, getattr(clk, n))
    return world


def uninstall() -> None:
    """Undo the most recent install()."""
    if not _saved:
        return
    saved = _saved.pop()
    for mod in ("machine", "ssd1306", "network"):
        if saved[mod] is _MISSING:
            sys.modules.pop(mod, None)
        else:
            sys.modules[mod] = saved[mod]
    _machine._world = saved["world"]
    _clockmod._set_current(saved["clock"])
    if saved["mpcompat"] is not None:
        from ..mp import compat as mpcompat
        mpcompat.set_source(saved["mpcompat"])
    for n, v in saved["time"].items():
        if v is _MISSING:
            if hasattr(_time, n):
                delattr(_time, n)
        else:
            setattr(_time, n, v)


@contextlib.contextmanager
def installed(world: World | None = None, clock=None, **kw):
    """Context manager around install()/uninstall(); yields the World."""
    w = install(world, clock, **kw)
    try:
        yield w
    finally:
        uninstall()


def current_world() -> World | None:
    return _machine._world
