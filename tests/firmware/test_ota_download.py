"""The OTA download (app/ota.py) on CPython and both MicroPython ports, driven the way
app/uplinktask.py drives it, against a scripted server with fault injection: a release
offered above the running version is fetched (manifest, then each file streamed to the
stager with its answer HMAC computed on the way), staged and marked; a corrupted, long
or short file is refused (K_RELEASE refused, state "failed"), retried after the backoff
and resumed without fetching the good files again, and never switched to before every
file matched; a wrong-key manifest, a release beyond the flash budget, a rolled-back
version and a version not above the running one are never staged. Then the same flow
over real HTTP with the real uplink task (CPython, asyncio server)."""
from __future__ import annotations

import struct

import pytest

import otadl
from gatepass.issuing import keys as keylib
from gatepass.issuing import release

FW_KEY = keylib.from_scalar(0xF1F1F1, kid=b"\xf1")
WRONG = keylib.from_scalar(0xBADBAD, kid=b"\xf1")  # same kid, another key
MPY = 6
KEYS = [[FW_KEY.kid.hex(), FW_KEY.pub65.hex()]]
FILES = {"app/gate.py": b"# new gate\n" + b"x = 1\n" * 200, "app/health.py": b"# new health\n" * 90,
         "drivers/relay.py": b"# relay\n" * 30}
K_RELEASE = 16


def rel(version, key=FW_KEY, files=FILES):
    data = release.build(key, files, version, MPY, 1_790_000_000)
    return [data.hex(), [files[p].hex() for p in sorted(files)]]


def records(out, event):
    """(version, detail) of the K_RELEASE records with `event`."""
    got = []
    for kind, _flags, pid, aux in out["records"]:
        assert kind == K_RELEASE
        if aux & 0xFF == event:
            got.append((struct.unpack("<II", bytes.fromhex(pid))[0], aux >> 8))
    return got


def call(rt, *args, **kw):
    if rt is None:
        return otadl.run(*args, **kw)
    return rt.call("otadl", "run", *args, **kw)


def paths(out):
    return [t[0].split("/release/")[1] for t in out["trace"] if t[0].startswith("/api")]


def check_applied(out):
    assert out["reset"] and out["state"] == "staged", out
    assert out["ota"]["trial"] == "a" and out["ota"]["trial_version"] == 5 and out["ota"]["state"] == "staged"
    assert records(out, 1) == [(5, 0)]  # staged


def test_offered_release_is_fetched_staged_and_marked():
    out = call(None, "dl", KEYS, MPY, 200_000, [[5, 10]], {"5": rel(5)}, {})
    assert paths(out) == ["5/manifest", "5/file/0", "5/file/1", "5/file/2"]
    check_applied(out)


def test_corrupted_file_is_refused_retried_after_backoff_and_resumed():
    faults = {"/api/device/v1/release/5/file/1": ["corrupt", "long"], "/api/device/v1/release/5/file/2": ["short"]}
    out = call(None, "dlc", KEYS, MPY, 200_000, [[5, 60]], {"5": rel(5)}, faults)
    p = paths(out)
    # file 0 is fetched once: every retry resumes at the refused file
    assert p.count("5/file/0") == 1 and p.count("5/manifest") == 1, p
    assert p.count("5/file/1") == 3 and p.count("5/file/2") == 2, p
    assert records(out, 5) == [(5, 2), (5, 2), (5, 2)]  # refused, detail R_FILE, three times
    check_applied(out)
    # the backoff: a refused file is not asked for again at once
    t = [i for i, x in enumerate(out["trace"]) if x[1] == "failed"]
    assert len(t) == 3


def test_a_refused_file_never_switches():
    faults = {"/api/device/v1/release/5/file/1": ["corrupt"] * 20}
    out = call(None, "dln", KEYS, MPY, 200_000, [[5, 40], ["boot", 1]], {"5": rel(5)}, faults)
    assert out["ota"]["trial"] == "" and out["ota"]["state"] == "usb"
    assert ["boot", ""] in out["trace"] and records(out, 1) == []
    assert len(records(out, 5)) >= 2


@pytest.mark.parametrize("case", ["wrong_key", "too_big", "not_newer", "bad_mac", "404", "partial"])
def test_refused_releases_are_never_staged(case):
    releases = {"5": rel(5)}
    faults = {}
    budget = 200_000
    offers = [[5, 12]]
    kw = {}
    if case == "wrong_key":
        releases = {"5": rel(5, key=WRONG)}
    elif case == "too_big":
        budget = 1000
    elif case == "not_newer":
        offers = [[0, 5]]
    elif case == "bad_mac":
        faults = {"/api/device/v1/release/5/file/0": ["badmac"] * 20}
    elif case == "404":
        releases = {}
    elif case == "partial":  # a module the running app loaded is not in the release
        kw = {"need": ["app.gate", "app.policy"]}
    out = call(None, "dlr", KEYS, MPY, budget, offers, releases, faults, **kw)
    assert not out["reset"] and out["ota"]["trial"] == "" and records(out, 1) == []
    if case == "wrong_key":
        assert out["state"] == "failed" and "bad signature" in out["error"]
        assert records(out, 5)[0] == (5, 1) and paths(out).count("5/manifest") >= 2  # retried later
    elif case == "too_big":
        assert out["state"] == "failed" and records(out, 5)[0] == (5, 3) and "bytes" in out["error"]
    elif case == "not_newer":
        assert out["trace"] == [] and out["state"] == "usb"
    elif case == "partial":
        assert out["state"] == "failed" and "lacks app/policy" in out["error"] and records(out, 5)[0] == (5, 1)
    else:
        assert out["state"] in ("downloading", "usb") and records(out, 5) == []


def test_trial_boot_confirm_and_rollback_are_logged_once_and_reported():
    out = call(None, "dlb", KEYS, MPY, 200_000, [[5, 10], ["boot", 1], ["boot", 1], ["confirm"], ["boot", 1]],
               {"5": rel(5)}, {})
    ups = [t for t in out["trace"] if t[0] == "up"]
    assert ups[0] == ["up", "trial", 5, False] and ups[1] == ["up", "trial", 5, False]
    assert ups[2] == ["up", "confirmed", 5, False] and out["running"] == 5
    assert records(out, 2) == [(5, 0)] and records(out, 3) == [(5, 0)]  # once each, over reboots
    # a release that never confirms: rolled back by the boot path, logged, never fetched again
    out = call(None, "dlx", KEYS, MPY, 200_000, [[5, 10], ["boot", 4], [5, 10]], {"5": rel(5)}, {})
    ups = [t for t in out["trace"] if t[0] == "up"]
    assert ups[0][:3] == ["up", "rolled_back", 0] and records(out, 4) == [(5, 0)]
    assert paths(out).count("5/manifest") == 1  # the failed version is not offered again
    assert out["ota"]["failed"] == 5


def test_marked_but_not_yet_reset_switches_after_a_reset_before_the_switch():
    """Staged, then a power cut before the idle moment: the next boot tries the trial
    (otaboot) - nothing is fetched again."""
    out = call(None, "dls", KEYS, MPY, 200_000, [[5, 10], ["boot", 1], [5, 5]], {"5": rel(5)}, {})
    assert paths(out).count("5/manifest") == 1
    assert out["ota"]["state"] == "trial" and out["running"] == 5


@pytest.mark.parametrize("case", ["applied", "corrupt", "wrong_key"])
def test_same_on_micropython(mpy, case):
    if case == "applied":
        out = call(mpy, "dl", KEYS, MPY, 200_000, [[5, 10]], {"5": rel(5)}, {})
        assert paths(out) == ["5/manifest", "5/file/0", "5/file/1", "5/file/2"]
        check_applied(out)
    elif case == "corrupt":
        faults = {"/api/device/v1/release/5/file/1": ["corrupt", "long"]}
        out = call(mpy, "dlc", KEYS, MPY, 200_000, [[5, 60]], {"5": rel(5)}, faults)
        assert records(out, 5) == [(5, 2), (5, 2)] and paths(out).count("5/file/0") == 1
        check_applied(out)
    else:
        out = call(mpy, "dlw", KEYS, MPY, 200_000, [[5, 12]], {"5": rel(5, key=WRONG)}, {})
        assert out["state"] == "failed" and out["ota"]["trial"] == "" and records(out, 5)[0] == (5, 1)


# ---------------------------------------------------------------- over HTTP, the real task


def test_uplink_task_fetches_a_release_over_http_and_refuses_a_corrupted_file(tmp_path):
    """app/uplinktask.py + app/uplink.py + app/ota.py over real loopback HTTP: the heartbeat
    answer offers release 5; the first answer for file 1 is corrupted (and re-signed with
    the device secret: only the manifest's sha256 catches it); the task refuses it, backs
    off, fetches it again and stages the release; the event log holds the K_RELEASE
    records; the answer signatures are checked on the streamed bodies."""
    import asyncio
    import json
    import time as _time

    from test_uplink import Server

    from app import httpc, uplink, uplinktask
    from app import ota as _ota
    from app.clock import Clock
    from app.eventlog import EventLog
    from gatepass import hmacauth

    secret = otadl.SECRET
    data = release.build(FW_KEY, FILES, 5, MPY, 1_790_000_000)
    contents = [FILES[p] for p in sorted(FILES)]
    served = []
    corrupt = [True]

    async def h(method, target, hd, body, n):
        sig = hd["x-gatepass-signature"]
        served.append(target)
        if target.endswith("/status"):
            out = json.dumps({"time": int(_time.time()), "bundle_version": 0, "acked_seq": 0,
                              "release": {"version": 5}}).encode()
        elif target.endswith("/events"):  # every record taken
            seqs = [int.from_bytes(body[o:o + 4], "little") for o in range(0, len(body), 32)]
            out = json.dumps({"time": int(_time.time()), "bundle_version": 0,
                              "acked_seq": max(seqs)}).encode()
        elif target.endswith("/release/5/manifest"):
            out = data
        elif "/release/5/file/" in target:
            out = contents[int(target.rsplit("/", 1)[1])]
            if target.endswith("/file/1") and corrupt[0]:
                corrupt[0] = False
                out = out[:-1] + b"?"
        else:
            return ("HTTP/1.1 404 X\r\nContent-Length: 0\r\n\r\n").encode()
        rs = hmacauth.sign_response(secret, sig, out)
        return ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Gatepass-Signature: %s\r\n\r\n"
                % (len(out), rs)).encode() + out

    root = str(tmp_path)
    (tmp_path / "data").mkdir()
    clk = Clock(root + "/data/clock", now_fn=lambda: int(_time.time()))
    log = EventLog(root + "/data/log", clk, seg_records=100, max_segments=4)
    keys = {FW_KEY.kid: FW_KEY.pub65}
    u = _ota.Updater(root, keys, MPY, 200_000, log, root + "/data", retry_ms=300, rand=lambda k: 0,
                     need=("app.gate", "drivers.relay"))

    async def main():
        s = await Server(h).start()
        http = httpc.Client("http://127.0.0.1:%d" % s.port, allow_http=True, timeout_ms=3000)
        up = uplink.Uplink("d1", secret, log, clk, linger_ms=600000, min_ms=50, max_ms=200)
        t = uplinktask.UplinkTask(up, http, None, None, lambda: True, poll_ms=20, ota=u)
        t0 = _time.monotonic()
        while not u.reset_wanted and _time.monotonic() - t0 < 20:
            await t.step()
        http.close()
        await s.stop()

    asyncio.run(main())
    assert u.reset_wanted and u.release_state() == "staged", (served, u.error)
    got = [x.split("/release/")[1] for x in served if "/release/" in x]
    assert got == ["5/manifest", "5/file/0", "5/file/1", "5/file/1", "5/file/2"], got
    import otaboot

    st = otaboot.load(root)
    assert st["trial"] == "a" and st["trial_version"] == 5
    for p in sorted(FILES):
        assert (tmp_path / "ota" / "a" / p).read_bytes() == FILES[p]
    from app import record

    kinds = [(record.unpack(r)[2], record.unpack(r)[10]) for r in log.records()]
    # K_RELEASE refused (detail R_FILE), then staged
    assert [k for k in kinds if k[0] == K_RELEASE] == [(K_RELEASE, 5 | 2 << 8), (K_RELEASE, 1)], kinds
