"""A MemoryError while firmware/main.py's own imports load the app (a fragmented heap on
a ~100 KB board), on the whole device on the MicroPython unix port: boot.py runs, then
main.py, whose `from app import visits` fails with MemoryError (injected at the module:
app/visits.py replaced by one that raises it, every other module the real one). The gate
must lock the door from its profile, say so on the console, and reset after a pause (the
next boot gets an empty heap, and boot.py counts it for the OTA rollback), instead of
leaving the door as the reset left it and the board at the REPL."""
from __future__ import annotations

import json
import time
from pathlib import Path

from gatepass.mp.wholedevice import WholeDevice

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"


def test_out_of_memory_in_mains_imports_locks_the_door_and_resets(tmp_path):
    tree = tmp_path / "fw"
    (tree / "app").mkdir(parents=True)
    for p in (FW / "app").iterdir():
        if p.suffix == ".py" and p.name != "visits.py":
            (tree / "app" / p.name).symlink_to(p)
    (tree / "app" / "visits.py").write_text(
        "raise MemoryError('memory allocation failed, allocating 4096 bytes')\n")
    (tree / "drivers").symlink_to(FW / "drivers")
    profile = json.loads((ROOT / "boards" / "esp32-devkitc.json").read_text())
    dev = WholeDevice(tmp_path / "flash", profile, {}, heapsize="512wK", timeout=120, mpy=tree)
    t0 = time.monotonic()
    r = dev.run({"profile": profile, "ssid": "gate-net", "password": "pw", "amb_raw": 14862})
    took = time.monotonic() - t0
    out = r["stdout"]
    assert "oom_escaped" not in r, (r.get("oom_escaped"), out[-2000:], r["stderr"][-2000:])
    assert "out of memory loading the app" in out and "door locked" in out, out[-2000:]
    assert "allocating 4096 bytes" in out  # the cause, on the console
    # the relay pin, floating from power-on (None), was driven to its locked level and
    # to nothing else until the reset let it float again
    rl = profile["relay"]
    locked = 0 if (rl.get("lock", "strike") == "strike") == rl.get("active_high", True) else 1
    levels = r["relay_levels"]
    assert [lv for lv in levels if lv is not None] == [locked] and not r["relay_unlocked_ever"], levels
    # then the board reset itself (the host would boot it again), after the pause
    assert r["reset"] is not None and "import_error" not in r
    assert took >= 5.0
