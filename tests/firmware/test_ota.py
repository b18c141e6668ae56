"""Signed releases and the OTA boot path (app/release.py, otaboot.py) on CPython and the
real MicroPython runtimes: a release signed by the wrong key, an older one, one for another
.mpy version or a corrupted file is refused; a staged release runs on trial and becomes
active only when confirmed; a trial that never confirms is rolled back by itself within
MAX_TRIAL_BOOTS boots; a power cut at any step leaves a bootable set."""
from __future__ import annotations

import pytest

import otahelp
from gatepass.issuing import keys as keylib
from gatepass.issuing import release

FW_KEY = keylib.from_scalar(0xF1F1F1, kid=b"\xf1")
OTHER = keylib.from_scalar(0xBADBAD, kid=b"\xf1")  # same kid, wrong key
MPY = 6
FILES = {"app/gate.mpy": b"M\x06" + bytes(range(256)) * 3, "drivers/relay.mpy": b"M\x06relay" * 50,
         "app/newthing.py": b"print('new')\n"}
CONTENTS = [FILES[p] for p in sorted(FILES)]
KEYS = [[FW_KEY.kid.hex(), FW_KEY.pub65.hex()]]


def rel(version=5, key=FW_KEY, files=FILES, mpy=MPY):
    return release.build(key, files, version, mpy, 1_790_000_000)


def test_verify_accepts_the_signed_manifest_and_refuses_the_rest():
    ok = otahelp.verify(rel(), KEYS, 4, MPY)
    assert ok[0] == "ok" and ok[1] == 5 and [p for p, _ in ok[2]] == sorted(FILES)
    assert otahelp.verify(rel(key=OTHER), KEYS, 4, MPY) == ["refused", "release: bad signature"]
    unknown = keylib.from_scalar(0x1234, kid=b"\x99")
    assert otahelp.verify(rel(key=unknown), KEYS, 4, MPY)[1] == "release: signed by an unknown firmware key"
    assert otahelp.verify(rel(5), KEYS, 5, MPY)[1] == "release 5 is not newer than 5"  # no rollback
    assert "mpy" in otahelp.verify(rel(mpy=5), KEYS, 4, MPY)[1]
    for bad in ({"main.py": b"x"}, {"app/../boot.py": b"x"}, {"/app/x.mpy": b"x"}, {"lib/x.mpy": b"x"},
                {"app/x.txt": b"x"}, {"app/sub/x.mpy": b"x"}, {"app/X.mpy": b"x"}):
        assert otahelp.verify(rel(files=bad), KEYS, 4, MPY)[0] == "refused", bad
    data = bytearray(rel())
    data[-5] ^= 1  # signature byte
    assert otahelp.verify(bytes(data), KEYS, 4, MPY)[0] == "refused"


def test_trial_confirm_and_the_next_update_uses_the_other_slot():
    steps = [["stage", rel(5), KEYS, 4, MPY, CONTENTS], ["boot"], ["boot"], ["confirm"], ["boot"], ["state"],
             ["stage", rel(6), KEYS, 5, MPY, CONTENTS], ["boot"], ["confirm"], ["boot"], ["state"]]
    out = otahelp.run(steps)
    assert out[0][0] == "staged" and out[0][1] == "a" and out[0][2]["state"] == "staged"
    assert out[1] == ["a", "trial", 1] and out[2] == ["a", "trial", 2]
    assert out[3] is True and out[4] == ["a", "confirmed", 0]
    assert out[5]["active"] == "a" and out[5]["version"] == 5
    assert out[6][:2] == ["staged", "b"]  # never the running set
    assert out[7] == ["b", "trial", 1] and out[8] is True and out[9] == ["b", "confirmed", 0]
    assert out[10]["version"] == 6


def test_a_release_that_never_gets_healthy_is_rolled_back_by_itself():
    out = otahelp.run([["stage", rel(5), KEYS, 4, MPY, CONTENTS], ["boot"], ["boot"], ["boot"], ["boot"],
                       ["boot"], ["confirm"], ["state"]])
    assert [o[0] for o in out[1:4]] == ["a", "a", "a"]  # MAX_TRIAL_BOOTS = 3 tries
    assert out[4] == ["", "rolled_back", 0]  # the USB set again
    assert out[5] == ["", "rolled_back", 0]
    assert out[6] is False  # nothing to confirm
    assert out[7]["failed"] == 5 and out[7]["trial"] == ""


def test_corrupted_or_oversized_files_are_refused_and_nothing_switches():
    bad = list(CONTENTS)
    bad[1] = bad[1][:-1] + b"?"
    out = otahelp.run([["stage", rel(5), KEYS, 4, MPY, bad], ["boot"]])
    assert out[0][0] == "refused" and "sha256" in out[0][1] and out[0][2]["state"] == "usb"
    assert out[1] == ["", None, 0] or out[1][:2] == ["", "usb"]
    big = list(CONTENTS)
    big[0] = big[0] + b"more"
    out = otahelp.run([["stage", rel(5), KEYS, 4, MPY, big]])
    assert out[0][0] == "refused" and "longer" in out[0][1]


def test_power_cut_at_every_step_leaves_a_bootable_set():
    # cut while ota.json was being replaced: the old state stands
    out = otahelp.run([["stage", rel(5), KEYS, 4, MPY, CONTENTS], ["cut_tmp"], ["boot"]])
    assert out[2] == ["a", "trial", 1]
    # cut before the marker: files staged, no trial: the USB set runs
    out = otahelp.run([["cut_tmp"], ["boot"]])
    assert out[1][0] == ""
    # a trial slot whose files vanished (cut during a later cleanup): back to the active set
    out = otahelp.run([["stage", rel(5), KEYS, 4, MPY, CONTENTS], ["rmslot", "a"], ["boot"], ["state"]])
    assert out[2][0] == "" and out[3]["state"] == "rolled_back"
    # the active slot vanished: the USB set (always there) runs
    out = otahelp.run([["stage", rel(5), KEYS, 4, MPY, CONTENTS], ["boot"], ["confirm"], ["rmslot", "a"], ["boot"]])
    assert out[4][0] == ""


@pytest.mark.parametrize("case", ["verify", "trial", "rollback"])
def test_same_on_micropython(mpy, case):
    if case == "verify":
        got = mpy.call("otahelp", "verify", rel(), KEYS, 4, MPY)
        assert got == otahelp.verify(rel(), KEYS, 4, MPY) or got[:2] == ["ok", 5]
        assert mpy.call("otahelp", "verify", rel(key=OTHER), KEYS, 4, MPY)[0] == "refused"
        return
    if case == "trial":
        out = mpy.call("otahelp", "run", [["stage", rel(5), KEYS, 4, MPY, CONTENTS], ["boot"], ["confirm"],
                                          ["boot"]])
        assert out[0][:2] == ["staged", "a"] and out[1] == ["a", "trial", 1] and out[2] is True
        assert out[3] == ["a", "confirmed", 0]
        return
    bad = list(CONTENTS)
    bad[0] = b"x" + bad[0][1:]
    out = mpy.call("otahelp", "run", [["stage", rel(5), KEYS, 4, MPY, bad], ["stage", rel(5), KEYS, 4, MPY, CONTENTS],
                                      ["boot"], ["boot"], ["boot"], ["boot"]])
    assert out[0][0] == "refused" and out[1][0] == "staged" and out[5] == ["", "rolled_back", 0]
