"""The MicroPython runtime fixture itself: it must really be MicroPython, and report
failures faithfully (otherwise every dual-runtime test would pass vacuously)."""
import pytest

from gatepass.mp.runtime import MicroPythonError


def test_it_is_micropython(mpy):
    out = mpy.run("import sys\nprint(sys.implementation.name)")
    assert out.strip() == "micropython"


def test_firmware_is_on_path(mpy):
    assert mpy.call("app.reasons", "name", 12) == "BAD_SIGNATURE"


def test_exceptions_come_back_typed(mpy):
    with pytest.raises(MicroPythonError) as ei:
        mpy.run("raise ValueError('boom')")
    assert ei.value.exc_type == "ValueError"
    assert ei.value.message == "boom"


def test_no_cpython_only_features(mpy):
    # the differences the design says must fail here, not on a device
    with pytest.raises(MicroPythonError):
        mpy.run("import hashlib\nhashlib.sha256(b'x').hexdigest()")
    with pytest.raises(MicroPythonError) as ei:
        mpy.run("import machine\nmachine.Pin(2)")  # the unix port has a `machine` without Pin
    assert ei.value.exc_type in ("ImportError", "AttributeError")


def test_map_batches_results_and_errors(mpy):
    res = mpy.map("app.reasons", "message", [(0,), (20,), ("x",), ()])
    assert len(res) == 4
    assert res[0] == ("ok", "Welcome")
    assert res[1] == ("ok", "Fever - staff called")
    assert res[2] == ("ok", "Code x")  # an unknown code is named, not refused
    assert res[3][:2] == ("err", "TypeError")  # missing argument: the error comes back, the batch goes on


def test_fresh_instance_per_call(mpy):
    probe = "import os\ntry:\n    os.stat('/marker')\n    print('kept')\nexcept OSError:\n    print('fresh')\n"
    assert mpy.run(probe + "open('/marker', 'w').close()\n").strip() == "fresh"
    assert mpy.run(probe).strip() == "fresh"


def test_cpython_ticks_shim_matches_micropython(mpy):
    """The CPython time.ticks_* shim must wrap and overflow exactly like MicroPython."""
    if mpy.port == "unix":
        pytest.skip("the unix port is 64-bit (ticks period 2**62); the 32-bit wasm port has the ESP32's 2**30")
    import time

    cases = [(0, -(2**29)), (0, -(2**29) + 1), (0, 2**29 - 1), (0, 2**29), (2**30 - 5, 10), (3, -10)]
    code = "import time\nfor t, d in %r:\n    try:\n        print(time.ticks_add(t, d))\n    except OverflowError:\n        print('overflow')\n" % cases
    mp_out = mpy.run(code).split()
    cp_out = []
    for t, d in cases:
        try:
            cp_out.append(str(time.ticks_add(t, d)))
        except OverflowError:
            cp_out.append("overflow")
    assert cp_out == mp_out
    diffs = [(5, 2**30 - 5), (2**30 - 5, 5), (0, 2**29), (2**29, 0)]
    code = "import time\nfor a, b in %r:\n    print(time.ticks_diff(a, b))\n" % diffs
    assert [str(time.ticks_diff(a, b)) for a, b in diffs] == mpy.run(code).split()
