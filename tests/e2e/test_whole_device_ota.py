"""Issue 15 acceptance, over the air: the whole device (firmware/boot.py + main.py on the
MicroPython unix port, the simulated board, a heap cap) against the real community server
over HTTPS, one device through real reboots on the same flash (gatepass.mp.wholedevice:
a reset ends a boot, the next boot runs boot.py + otaboot.py again).

Release 1 (every app/ and drivers/ module through mpy-cross, signed with the community's
firmware key) is published and rolled out to the gate. On the way, a man in the middle
holding the device secret (the fault proxy re-signs the answers) first hands the gate a
manifest signed by the WRONG key, then a CORRUPTED file: both are refused (K_RELEASE
refused, nothing switches), retried after the backoff, and the real release is staged
while the gate serves; the gate resets at the next idle moment, boots the new set on
trial, lets a resident in, confirms after `ota.confirm_s` (shortened here to 10 s, a
config setting, docs/ota.md) and the server shows release 1 confirmed.

Release 2 crashes on import (app/gate.mpy raises): staged, then every trial boot dies in
main.py's imports; boot.py's trial watchdog resets the board and after
otaboot.MAX_TRIAL_BOOTS (3) boots the boot path goes back to release 1 by itself; the
server learns rolled_back and stops the rollout. The relay never reaches its unlock
level in any of those boots (the door stays locked throughout).
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
from e2e_helpers import start_server
from test_whole_device import HEAP, NORMAL, provisioned, visit
from test_whole_device import profile as devkit
from test_whole_device import spec as devkit_spec
from testpki import TestPKI, TLSFront

from gatepass.issuing import keys as keylib
from gatepass.issuing import passes as issue
from gatepass.issuing import release as rel
from gatepass.mp.wholedevice import WholeDevice
from gatepass.technician import deploy, releases

# the server side (Release/Rollout, the release endpoints) lands separately (issue 15, OS)
pytestmark = pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "host_tools" / "gatepass" / "server"
                                     / "releases.py").exists(), reason="the server's OTA endpoints are not built")

DID = "ota-1"
DEVICES = [[DID, "OTA gate", "in"]]
FW_KEY = keylib.from_scalar(0x0F1A2B3C4D, kid=b"fw-1")
WRONG_KEY = keylib.from_scalar(0xBAD0BAD0, kid=b"fw-1")  # same kid, not the community's key
PWRON, HARD_RESET, WDT_RESET = 1, 2, 3  # machine.reset_cause() values (ESP32)
K_RELEASE = 16


def profile():
    """The DevKitC profile as an "mpy" tier board (stock MicroPython + .mpy files: what a
    full release replaces; a frozen board has no heap for a complete set)."""
    p = devkit()
    p["firmware"] = "mpy"
    return p


def spec(**kw):
    s = devkit_spec(**kw)
    s["profile"] = profile()
    return s


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory, "whole-device-ota", DEVICES)
    yield s
    s.close()


def publish(srv, tmp_path, files: dict, version: int) -> bytes:
    """Sign release `version` with the firmware key and publish it on the server (the
    server checks it like a gate would); the manifest bytes."""
    data = rel.build(FW_KEY, files, version, mpy_version())
    d = tmp_path / ("rel-%d" % version)
    d.mkdir()
    (d / "manifest.cose").write_bytes(data)
    names = sorted(files)
    for i, p in enumerate(names):
        (d / str(i)).write_bytes(files[p])
    srv.shell("from pathlib import Path; from gatepass.server import releases as R; "
              "d = Path(%r); r = R.publish_files('maple', (d / 'manifest.cose').read_bytes(), 'mpy', "
              "[(d / str(i)).read_bytes() for i in range(%d)]); "
              "R.start(r, [%r], first=%r)" % (str(d), len(names), DID, DID))
    return data


def mpy_version() -> int:
    return deploy.mpy_cross_version()[1][0]


def records(srv, kind):
    return srv.sql("SELECT seq, aux, pid FROM gatepass_event WHERE device_id = %s AND kind = %s ORDER BY seq",
                   DID, kind)


def device_row(srv):
    return srv.sql("SELECT firmware, release_state, release_version, release_failed FROM gatepass_device "
                   "WHERE id = %s", DID)[0]


def test_ota_update_applied_refusals_and_rollback_on_the_unix_port(srv, tmp_path):
    t0 = time.time()
    files = releases.compile_set("x64")  # what `gatepass release build` makes, for this port
    assert sum(len(b) for b in files.values()) < 256 * 1024
    srv.shell("from gatepass.server.models import FirmwareKey; FirmwareKey.objects.create(community_id='maple', "
              "kid=%r, pub=%r)" % (FW_KEY.kid.hex(), FW_KEY.pub65.hex()))
    good = publish(srv, tmp_path, files, 1)
    wrong = rel.build(WRONG_KEY, files, 1, mpy_version())
    names = sorted(files)
    victim = names.index("app/policy.mpy")

    def tamper(body, entry):
        line = entry["request"]
        if line.split(" ")[1].endswith("/release/1/manifest"):
            assert body == good
            return wrong
        if "/release/1/file/%d " % victim in line + " ":
            return body[:-1] + bytes([body[-1] ^ 0x55])
        return None

    pki = TestPKI(tmp_path / "pki")
    srv.proxy.tamper = tamper
    srv.proxy.set_path_script("/release/1/manifest", ["tamper"])
    srv.proxy.set_path_script("/release/1/file/%d " % victim, ["tamper"])
    front = TLSFront(pki, srv.proxy.port)
    try:
        cfg = provisioned(srv, DID, "https://localhost:%d" % front.port, pki.ca_pem)
        cfg["firmware_keys"] = [{"kid": FW_KEY.kid.hex(), "pub": FW_KEY.pub65.hex()}]
        cfg["ota"] = {"confirm_s": 10, "retry_s": 3}
        key = srv.issuer()
        now = int(time.time())
        alice = issue.issue(key, issue.new_spec("maple", 0, (3, 1, 1203), "in,out", nbf=now - 86400,
                                                exp=now + 30 * 86400, cti=b"ota-alic")).text
        dev = WholeDevice(tmp_path / DID, profile(), cfg, heapsize=HEAP)

        # boot 1: release 1 offered; wrong-key manifest and corrupted file refused, then staged
        # polled every 3 s, slower than the gate's 1 s beat: the switch's reset comes
        # first (a CI run lost that race at the default 50 ms and never saw the staging)
        b1 = dev.run(spec(wait=[["trusted", 90], ["release", 240]], run_s=30, poll_ms=3000))
        assert b1["status"] == "run", b1["setup_error"]
        assert b1.get("wait_release"), ({k: b1.get(k) for k in ("ota", "oom", "oom_escaped", "reset", "events")},
                                        b1["stdout"][-3000:])
        assert b1["reset"] == HARD_RESET, b1.get("ota")  # the switch: reset at an idle moment
        assert b1["ota"]["refused"] == 2 and b1["ota"]["state"] == "staged", b1["ota"]
        assert "refused: release: bad signature" in b1["stdout"]
        assert "does not match its sha256" in b1["stdout"]
        tampered = [e for e in srv.proxy.entries(DID) if e.get("tampered")]
        assert len(tampered) == 2, tampered
        download_peak = b1["heap_peak"] - b1["heap_code"]
        assert not b1["relay_unlocked_ever"]

        # boot 2: the new set on trial (boot.py put /ota/a first), a resident enters, confirmed
        b2 = dev.run(spec(wait=[["trusted", 90], ["confirmed", 60]], crowd=[visit("ok", alice, NORMAL)],
                          drain_s=60, reset_cause=HARD_RESET))
        assert b2["status"] == "run" and b2["path0"] == "/ota/a", (b2["setup_error"], b2.get("path0"))
        assert b2["wait_confirmed"] and b2["ota"]["running"] == 1, b2["ota"]
        assert [(v["name"], v["reason"]) for v in b2["crowd"]] == [("ok", "OK")]
        assert b2["reset"] is None and b2["drained"], b2["uplink"]
        ok = _until(lambda: device_row(srv)[1:3] == ("confirmed", 1), 90)
        fw, state, version, failed = device_row(srv)
        assert ok and state == "confirmed" and version == 1 and fw.endswith("r1"), device_row(srv)
        events = [(a & 0xFF, a >> 8) for _s, a, _p in records(srv, K_RELEASE)]
        assert events == [(5, 1), (5, 2), (1, 0), (2, 0), (3, 0)], events  # refused x2, staged, trial, confirmed

        # release 2 crashes on import: staged, three trial boots die, the boot path rolls back
        crash = dict(files)
        src = tmp_path / "gate.py"
        src.write_text("raise RuntimeError('release 2 crashes on import')\n")
        crash["app/gate.mpy"] = deploy.compile_mpy(src, "app/gate.py", "x64")
        srv.proxy.tamper = None
        publish(srv, tmp_path, crash, 2)
        # this download runs under the heap cap of tests/e2e/test_whole_device_heap.py: the
        # code a boot of release 1 loads (every module boot 1 had loaded at its end, imported
        # up front on a copy of this flash without a server) + 96 K 32-bit words
        mods = [m for m in b1["modules"] if m not in ("__main__", "device")]
        quiet = {k: v for k, v in cfg.items() if k != "server"}
        shutil.copytree(dev.flash, tmp_path / "code-base", ignore=shutil.ignore_patterns("spec.json"))
        code = WholeDevice(tmp_path / "code-base", profile(), quiet, heapsize="4M").run(
            spec(preload=mods, reset_cause=PWRON))
        assert code["path0"] == "/ota/a", code.get("path0")
        cap = code["heap_code"] + 96 * 1024 * (8 if sys.maxsize > 2 ** 32 else 4) // 4
        boots = dev.boots(spec(wait=[["trusted", 90], ["release", 240]], run_s=60, reset_cause=PWRON,
                               preload=mods), 4, heapsize=str(cap))
        causes = [b["reset"] for b in boots]
        if causes != [HARD_RESET, WDT_RESET, WDT_RESET, WDT_RESET]:
            print("\n--- boot 3 stdout ---\n" + boots[0]["stdout"][-8000:] + "\n--- stderr ---\n"
                  + boots[0]["stderr"][-3000:] + "\n--- uplink ---\n" + repr(boots[0].get("uplink"))
                  + repr(boots[0].get("ota")) + repr(boots[0].get("events")))
        assert causes == [HARD_RESET, WDT_RESET, WDT_RESET, WDT_RESET], (
            causes, [b.get("ota") for b in boots], boots[0].get("uplink"), boots[0]["stdout"][-3000:],
            boots[0]["stderr"][-2000:], srv.sql("SELECT state, stop_reason FROM gatepass_rollout"), device_row(srv))
        assert boots[0]["ota"]["state"] == "staged" and boots[0]["path0"] == "/ota/a"
        for b in boots[1:]:
            assert "crashes on import" in b["import_error"] and b["path0"] == "/ota/b", b.get("import_error")
        # the fourth boot: the boot path drops the trial by itself, release 1 runs again
        last = dev.run(spec(wait=[["trusted", 90]], run_s=15, reset_cause=WDT_RESET))
        boots.append(last)
        assert last["status"] == "run" and last["path0"] == "/ota/a", last.get("path0")
        assert last["ota"]["state"] == "rolled_back" and last["ota"]["failed"] == 2 and last["ota"]["running"] == 1
        for i, b in enumerate(boots):  # the door stayed locked through every boot
            assert not b["relay_unlocked_ever"], (i, b["relay_levels"])
        ok = _until(lambda: device_row(srv)[1] == "rolled_back", 90)
        assert ok and device_row(srv)[3] == 2, device_row(srv)
        stopped = srv.sql("SELECT r.state FROM gatepass_rollout r JOIN gatepass_release l ON r.release_id = l.id "
                          "WHERE l.version = 2")
        assert stopped == [("stopped",)], stopped
        ev = [a & 0xFF for _s, a, _p in records(srv, K_RELEASE)]
        assert ev[-2:] == [1, 4], ev  # release 2 staged, then rolled back

        print("\nwhole device OTA: %d boots, %.1f s; release 2 downloaded and staged under -X heapsize=%d "
              "(code %d B + 96 K words); sampled peak above code: boot 1 %d B (cap %s), release 2 download %d B"
              % (3 + len(boots), time.time() - t0, cap, code["heap_code"], download_peak, HEAP,
                 boots[0]["heap_peak"] - boots[0]["heap_code"]))
    finally:
        front.close()
        srv.proxy.tamper = None


def _until(pred, seconds):
    t = time.time() + seconds
    while time.time() < t:
        if pred():
            return True
        time.sleep(0.5)
    return pred()
