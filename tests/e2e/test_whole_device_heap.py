"""The WHOLE device in 96 KB beyond its code (issue 11): firmware/main.py setup() + serve()
on the simulated board on the MicroPython unix port (app/ and drivers/ as .mpy), the real
server over HTTPS publishing a bundle that revokes 2,000 passes and quarantines 500 units,
under -X heapsize = the code baseline (every module the scenario loads, imported up front,
after a collection) + 96wK. The exit gate syncs, downloads and applies the bundle
(streamed), checks OK / REVOKED / QUARANTINED passes, reboots on the same flash (stored
bundle verified again) and refuses the revoked pass again. `make bench` runs the same
scenario with 20,000 passes and bisects the peak (tests/bench/bench_whole_device.py)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_whole_device  # noqa: E402


def test_whole_device_applies_a_big_bundle_in_96k_beyond_its_code(tmp_path):
    sc = bench_whole_device.Scenario(2000, 500, tmp_path)
    try:
        base = sc.code_heap()
        wb = 8 if sys.maxsize > 2 ** 32 else 4
        res = sc.run(base + 96 * 1024 * wb // 4)
        assert res["ok"], res
    finally:
        sc.close()
