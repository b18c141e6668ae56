"""Test set-up: firmware importable under CPython, and a MicroPython runtime fixture."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "tests" / "firmware"))
sys.path.insert(0, str(ROOT / "firmware"))

from gatepass.mp import compat as mpcompat  # noqa: E402

mpcompat.install()

from gatepass.mp.runtime import SHARED, MicroPython, MicroPythonError  # noqa: E402,F401

# fwenv for dual-runtime test modules running under CPython
import types  # noqa: E402

_fwenv = types.ModuleType("fwenv")
_fwenv.SHARED = str(SHARED)
_fwenv.RUNTIME = "cpython"
_fwenv.PORT = "cpython"
sys.modules["fwenv"] = _fwenv

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, max_examples=100
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session", params=["wasm", "unix"])
def mpy(request):
    """A real MicroPython runtime: the WebAssembly port under node, then the unix port
    (`micropython`); every test taking `mpy` runs on both."""
    from gatepass.mp.unix import UnixMicroPython

    rt = MicroPython() if request.param == "wasm" else UnixMicroPython()
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def unix_mpy():
    """The MicroPython unix port alone (sockets, tls, asyncio, heap caps)."""
    from gatepass.mp.unix import UnixMicroPython

    return UnixMicroPython()
