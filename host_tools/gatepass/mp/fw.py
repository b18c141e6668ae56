"""The one place that loads firmware modules into the host process.

    from gatepass.mp.fw import fw_import
    board = fw_import("app.board")          # any firmware module, by name
    from gatepass.mp.fw import record       # firmware/app/record.py (any app/ module)

The server decodes uploads with the device's own code (app.record, app.reasons, ...),
deploy validates board profiles with app.board, the simulator runs whole firmware. All
go through fw_import: the MicroPython shims (gatepass.mp.compat) are installed and
firmware/ is put on sys.path first.
"""
from __future__ import annotations

import importlib
import sys

from .. import firmware_dir
from . import compat


def ensure_micropython_shim() -> None:
    """The `micropython` module and time.ticks_* of gatepass.mp.compat (idempotent)."""
    compat.install()


def fw_import(name: str):
    """Import firmware module `name` (e.g. "app.board") with firmware/ on sys.path."""
    compat.install()
    compat.add_firmware_path()
    return importlib.import_module(name)


def __getattr__(name: str):
    # `from gatepass.mp.fw import record`: the firmware's app/<name>.py
    if not name.startswith("_") and (firmware_dir() / "app" / (name + ".py")).is_file():
        mod = fw_import("app." + name)
        setattr(sys.modules[__name__], name, mod)
        return mod
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
