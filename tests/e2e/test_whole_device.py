"""The whole device on real MicroPython: firmware/main.py setup() + serve() on the unix port,
on a simulated board that runs ON MicroPython (the CPython simulator's own bus models:
MLX90614 with PEC on I2C, GM65 bytes on the UART, pins, WDT, RTC, reset_cause, WLAN),
under a heap cap, against the real community server over HTTPS with a real test CA that
the technician's provisioning turned into the device's DER form.

One device, two boots on the same flash: as the entrance (OK, exempt, fever, passback,
passback learned from another gate through the server, malformed, revoked from the
fetched bundle), then re-provisioned as the exit (quarantined unit from the bundle, OK).
The server then holds every record the device logged, exactly once. The same device
provisioned with another CA, or dialling a name its certificate does not carry, uploads
nothing: if the firmware stopped checking certificates, this test fails.
"""
from __future__ import annotations

import json
import time
import types

import pytest
from e2e_helpers import Sim, assert_exactly_once, drained, start_server
from testpki import TestPKI, TLSFront

from gatepass import repo_root
from gatepass.issuing import passes as issue
from gatepass.mp.wholedevice import WholeDevice
from gatepass.technician import provisioning as prov

DEVICES = [["wd-1", "Main gate", "in"], ["wd-peer", "Side gate", "in"], ["wd-bad", "Back gate", "in"]]
WIFI = {"ssid": "gate-net", "password": "pw"}
HEAP = "512wK"  # 512 KB in 32-bit words: the code is not frozen here (see docs/testing.md)
AMB = 14862  # MLX90614 ambient word: 22.09 C
NORMAL = 15343  # object word 33.71 C: 36.6 C after compensation at 22 C
FEVER = 15560  # object word 38.05 C: 39.6 C after compensation


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory, "whole-device", DEVICES)
    yield s
    s.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki"))


def profile():
    return json.loads((repo_root() / "boards" / "esp32-devkitc.json").read_text())


def provisioned(srv, did, url, ca_pem, direction=None):
    """The device config as `gatepass provision` writes it: the server's fragment, Wi-Fi,
    the server URL and the CA file the technician has (PEM), checked by the firmware's own
    validator."""
    base = dict(srv.seeded["devices"][did])
    cfg = prov.build_config(base, board="esp32-devkitc", wifi_ssid=WIFI["ssid"],
                            wifi_password=WIFI["password"], server_url=url,
                            ca_pem=ca_pem.encode(), direction=direction,
                            settings={"unlock_s": 1})
    prov.validate(cfg)
    return cfg


def spec(**kw):
    d = {"profile": profile(), "ssid": WIFI["ssid"], "password": WIFI["password"], "amb_raw": AMB}
    d.update(kw)
    return d


def visit(name, text, obj=NORMAL):
    return {"name": name, "text": text, "obj_raw": obj, "amb_raw": AMB}


def version(srv) -> int:
    return srv.sql("SELECT bundle_version FROM gatepass_community WHERE id = 'maple'")[0][0]


def test_whole_device_over_https_on_the_unix_port(srv, pki, tmp_path):
    from app import record

    key = srv.issuer()
    now = int(time.time())

    def mk(role, unit, cti):
        return issue.issue(key, issue.new_spec("maple", role, unit, "in,out", nbf=now - 86400,
                                               exp=now + 30 * 86400, cti=cti)).text

    alice, medic, bob, peter, carol, dave = (
        mk(0, (3, 1, 1203), b"alice-01"), mk(1, (0, 0, 0), b"medic-01"), mk(0, (4, 1, 101), b"bob-0001"),
        mk(0, (6, 2, 202), b"peter-01"), mk(0, (7, 1, 301), b"carol-01"), mk(0, (5, 2, 501), b"dave-001"))

    # staff: carol's card was lost, building 5 is under quarantine (a new signed bundle)
    srv.shell("import datetime as dt; from django.utils import timezone; "
              "from gatepass.server.models import Pass, Quarantine; "
              "Pass.objects.create(community_id='maple', cti=%r, nbf=timezone.now() - dt.timedelta(days=1), "
              "exp=timezone.now() + dt.timedelta(days=30), revoked=True); "
              "Quarantine.objects.create(community_id='maple', building=5)" % b"carol-01".hex())
    bundle_v = version(srv)

    # peter came in at the side gate (a CPython simulated gate): the main gate learns it
    # from the server (peer sync), not from peter
    simu = Sim(srv)
    try:
        gp = simu.gate("wd-peer")
        ap = simu.start_full(gp)
        assert simu.until(lambda: ap.clock.trusted(), 120_000)
        gp.person(body_c=36.6)
        gp.show(peter)
        assert simu.site.wait_passage(gp, timeout_ms=20_000).decision.allow
        gp.hide()
        assert simu.until(drained(gp), 120_000)
    finally:
        simu.close()

    front = TLSFront(pki, srv.server.port)
    try:
        url = "https://localhost:%d" % front.port
        cfg = provisioned(srv, "wd-1", url, pki.ca_pem)
        assert isinstance(cfg["server"]["ca"], str) and "BEGIN" not in cfg["server"]["ca"]  # DER
        flash = tmp_path / "wd-1"
        dev = WholeDevice(flash, profile(), cfg, heapsize=HEAP)
        t0 = time.time()
        r1 = dev.run(spec(wait=[["trusted", 90], ["bundle", 90], ["peer", 90]],
                          bundle_version=bundle_v, peer_pid=record.pass_id(b"peter-01").hex(),
                          crowd=[visit("ok", alice), visit("exempt", medic), visit("fever", bob, FEVER),
                                 visit("passback", alice), visit("peer passback", peter),
                                 visit("malformed", "https://menu.example/lunch?table=4"),
                                 visit("revoked", carol)],
                          drain_s=90))
        assert r1["status"] == "run", r1["setup_error"]
        assert r1["wait_trusted"] and r1["wait_bundle"] and r1["wait_peer"], r1["events"]
        got = [(v["name"], v["reason"]) for v in r1["crowd"]]
        assert got == [("ok", "OK"), ("exempt", "OK_EXEMPT"), ("fever", "FEVER"), ("passback", "PASSBACK"),
                       ("peer passback", "PASSBACK"), ("malformed", "MALFORMED"), ("revoked", "REVOKED")], got
        fever = r1["crowd"][2]
        assert fever["body_cc"] >= 3730 and not fever["allow"]
        assert r1["drained"] and r1["pending"] == 0, r1["uplink"]
        assert r1["dead"] is None and r1["feeds"] > 0 and r1["relay_locked"]
        assert "localhost" in r1["lookups"]  # the name on the certificate was dialled

        # the technician re-provisions the same board as the exit; it reboots on its flash
        dev.write("config.json", json.dumps(provisioned(srv, "wd-1", url, pki.ca_pem, direction="out")))
        r2 = dev.run(spec(wait=[["trusted", 90]], crowd=[visit("quarantine", dave), visit("out", alice)],
                          drain_s=90))
        assert r2["status"] == "run", r2["setup_error"]
        assert [(v["name"], v["reason"]) for v in r2["crowd"]] == [("quarantine", "QUARANTINED"), ("out", "OK")]
        assert r2["store_version"] == bundle_v and r2["drained"], r2["uplink"]
        elapsed = time.time() - t0

        # the server holds every record the device logged, exactly once, byte for byte
        n = assert_exactly_once(srv, types.SimpleNamespace(name="wd-1", flash=flash))
        assert n >= 9 + 2  # nine passages plus boots, bundle, config events
        fevers = srv.sql("SELECT count(*) FROM gatepass_event WHERE device_id = 'wd-1' AND body >= 3730")[0][0]
        assert fevers == 1
        assert front.ok > 0

        # another CA, and a name the certificate lacks: the device refuses the server
        for did, u, ca in (("wd-bad", url, pki.other_pem),
                           ("wd-bad", "https://127.0.0.1:%d" % front.port, pki.ca_pem)):
            refused = front.refused
            bad = WholeDevice(tmp_path / ("bad-%d" % refused), profile(),
                              provisioned(srv, did, u, ca), heapsize=HEAP)
            rb = bad.run(spec(run_s=12))
            assert rb["status"] == "run" and rb["dead"] is None, rb
            assert front.refused > refused, (u, rb["uplink"])
            assert srv.count(did)[0] == 0 and rb["pending"] > 0 and not rb["trusted"], rb["uplink"]

        print("\nwhole device: heap cap %s, heap in use after boot %d B, peak seen %d B, "
              "code+sim loaded %d B; two boots %.1f s" % (HEAP, r1["heap_end"], max(r1["heap_peak"], r2["heap_peak"]),
                                                         r1["heap_code"], elapsed))
    finally:
        front.close()


def test_setup_out_of_memory_locks_the_door_logs_and_leaves_the_watchdog_to_reset(srv, tmp_path):
    """A ladder of heap caps on the unix port, from where main.py's imports just fit to
    where the whole boot does: MemoryError strikes setup() at whatever step runs out
    (device build, key tables, log, gate, bundle store, uplink). Never does one escape
    setup(): the door is locked, K_ERROR is logged once the log exists, and the watchdog
    is started and left unfed (the old setup() let it out: the board sat at the REPL)."""
    from app import reasons, record
    from e2e_helpers import device_records

    cfg = provisioned(srv, "wd-bad", "https://localhost:9", TestPKI(tmp_path / "pki").ca_pem)
    outcomes = []
    # where the imports end (firmware + simulator, not frozen, 64-bit): the ladder starts
    # above that and climbs until a boot comes through
    base = WholeDevice(tmp_path / "base", profile(), cfg, heapsize="2M").run(spec())["heap_code"]
    cap = base // 1024 + 100
    while cap < base // 1024 + 400 and not any(o[1] == "run" for o in outcomes):
        cap += 10
        flash = tmp_path / ("cap%d" % cap)
        r = WholeDevice(flash, profile(), cfg, heapsize="%dK" % cap, timeout=120).run(spec())
        assert r.get("oom_escaped") != "setup", (cap, r)
        if "status" not in r:
            continue  # ran out while importing main.py, before setup(): not this test's
        outcomes.append((cap, r["status"], r["setup_error"]))
        assert r["status"] in ("run", "crashed"), (cap, r)
        if r["status"] == "crashed":
            assert r["relay_locked"] and r["wdt"], (cap, r)
            assert "MemoryError" in r["setup_error"], (cap, r)
            recs = device_records(types.SimpleNamespace(flash=flash))
            if recs:  # the log existed when it struck: its last word is the error
                last = record.unpack(recs[max(recs)])
                assert last[2] == record.K_ERROR and last[10] == reasons.INTERNAL_ERROR, (cap, last)
    crashed = [o for o in outcomes if o[1] == "crashed"]
    assert len(crashed) >= 2 and any(o[1] == "run" for o in outcomes), outcomes
    print("\nsetup() under heap caps (KB, x64):", outcomes)
