"""Import pure firmware modules (app/*) into the host process, e.g. the board validator."""
from __future__ import annotations

import importlib
import sys
import types

from .. import firmware_dir


def ensure_micropython_shim() -> None:
    """Install a minimal `micropython` module when none is present (conftest installs its own)."""
    if "micropython" in sys.modules:
        return
    m = types.ModuleType("micropython")
    m.const = lambda x: x  # type: ignore[attr-defined]
    m.native = lambda f: f  # type: ignore[attr-defined]
    m.viper = lambda f: f  # type: ignore[attr-defined]
    m.schedule = lambda fn, arg: fn(arg)  # type: ignore[attr-defined]
    m.alloc_emergency_exception_buf = lambda n: None  # type: ignore[attr-defined]
    m.mem_info = lambda *a: None  # type: ignore[attr-defined]
    sys.modules["micropython"] = m


def fw_import(name: str):
    """Import firmware module `name` (e.g. "app.board") with firmware/ on sys.path."""
    ensure_micropython_shim()
    d = str(firmware_dir())
    if d not in sys.path:
        sys.path.insert(0, d)
    return importlib.import_module(name)
