"""The gate + bundle path of a device in 96 KB beyond its code (issue 11), on the MicroPython
unix port under a heap cap: `-X heapsize` = the code baseline (the app modules imported
as .mpy, after a collection) + 96wK. The scenario is tests/bench/bench_device.py's
(`make bench` bisects the same one for the peak): the gate with its issuer key, a bundle
revoking 20,000 passes and quarantining 500 units applied from its download file
(streamed: verified piecewise, lists copied to flash), passes checked against the lists,
and a reboot that verifies the stored bundle again. Before the bundles were streamed the
20,000-pass bundle alone (163 KB, held 4-5 times) could not fit."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_device  # noqa: E402


def test_device_runs_a_20000_pass_bundle_in_96k_beyond_its_code():
    rt = bench_device._rt()
    wb = bench_device.word_bytes(rt)
    code = bench_device.mpy_files("x64" if wb == 8 else "")
    base = bench_device.code_baseline(rt, code)
    files, want, size = bench_device.make_files(20000, 500)
    assert size > 160_000
    files.update(code)
    res = bench_device.run_scenario(rt, files, base + 96 * 1024 * wb // 4)
    assert res is not None, "MemoryError under code baseline + 96wK"
    assert res == {"applied": 20000, "units": 500, "reasons": want}
