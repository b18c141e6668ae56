"""End to end: simulated gates (real firmware, real asyncio HTTP client) -> fault proxy ->
real `gatepass server` on 127.0.0.1. Whatever goes wrong on the way, at the end the
server holds exactly the records the gates logged, once each, byte for byte."""
from __future__ import annotations

import json
import time

import pytest

from e2e_helpers import Sim, assert_exactly_once, device_epoch, device_records, drained, passage, start_server

DEVICES = [["e-in", "East gate", "in"], ["e-out", "East gate", "out"], ["f-in", "Fault gate", "in"],
           ["w-in", "Wifi gate", "in"], ["ghost", "Ghost gate", "in"], ["off", "Disabled gate", "out"],
           ["clk", "Clock gate", "in"], ["rf-in", "Reflashed gate", "in"], ["mitm-in", "Proxied gate", "in"]]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory, "e2e-uplink", DEVICES)
    yield s
    s.close()


@pytest.fixture
def simu(srv):
    s = Sim(srv)
    srv.proxy.set_script([])
    srv.proxy.down = False
    yield s
    s.close()


def test_clean_upload_two_gates_exactly_once_and_compact(srv, simu):
    a = simu.gate("e-in")
    b = simu.gate("e-out")
    simu.start_uplink(a)
    simu.start_uplink(b)
    for i in range(150):
        passage(a, i)
        passage(b, i, body_cc=3840 if i % 50 == 7 else 3660)  # a few fevers at the exit
        if i % 10 == 0:
            simu.run_for(2000)
    assert simu.until(drained(a, b), 600_000)
    n = assert_exactly_once(srv, a) + assert_exactly_once(srv, b)
    assert n >= 300
    # fevers raised alerts on the server
    fev = srv.sql("SELECT count(*) FROM gatepass_alert WHERE device_id = 'e-out' AND kind = 'fever'")[0][0]
    assert fev == 3
    # compact on the wire: full batches of raw records, headers included
    ev = [e for e in srv.proxy.entries("e-in", "/events") if e["action"] == "pass" and e["records"] >= 32]
    assert ev, srv.proxy.entries("e-in")
    per_event = sum(e["bytes_up"] for e in ev) / sum(e["records"] for e in ev)
    assert per_event <= 40, per_event



def answers(entries):
    out = []
    for e in entries:
        try:
            out.append(json.loads(e.get("answer") or b"{}"))
        except ValueError:
            out.append({})
    return out


def test_faults_between_gate_and_server_lose_nothing_and_store_once(srv, simu):
    g = simu.gate("f-in")
    app = simu.start_uplink(g)
    proxy = srv.proxy
    i = 0

    def burst(n, step_ms=3000):
        nonlocal i
        for _ in range(n):
            passage(g, i)
            i += 1
            simu.run_for(step_ms)

    # phase 1: a menu of failures, one per request, then normal service
    proxy.set_script(["500", "500", "hang", "drop_request", "drop_response", "pass", "dup", "drop_response",
                      "drop_response", "500", "dup"])
    burst(60)
    assert simu.until(drained(g), 3_600_000)
    # phase 2: server down for 10 simulated minutes; a fever happens behind a backlog
    proxy.down = True
    pending_seen = []
    fever_seq = None
    for k in range(100):
        ps = passage(g, i, body_cc=3860 if k == 70 else 3660)
        if k == 70:
            fever_seq = ps.seq
            assert ps.decision.urgent
        i += 1
        simu.run_for(6000)
        pending_seen.append(app.log.pending())
    assert proxy.refused > 0
    assert pending_seen == sorted(pending_seen) and pending_seen[-1] >= 100  # kept, in order
    n_before = len(proxy.entries("f-in", "/events"))
    proxy.down = False
    assert simu.until(drained(g), 3_600_000)
    ev = proxy.entries("f-in", "/events")
    first_after = next(e for e in ev[n_before:] if e.get("status") == 200)
    kinds = dict(zip(first_after["seqs"], first_after["kinds"]))
    assert first_after["seqs"][0] == fever_seq and kinds[fever_seq] == 1, first_after["seqs"][:5]
    # phase 3: acks lost again and again while a backlog drains
    proxy.set_script(["drop_response"] * 4 + ["pass", "drop_response", "dup", "hang", "pass", "drop_response"])
    burst(80, 1000)
    assert simu.until(drained(g), 3_600_000)

    total = assert_exactly_once(srv, g)
    assert total >= 240
    ev = proxy.entries("f-in", "/events")
    # the faults really happened where they matter
    dropped_after_store = [a for e, a in zip(ev, answers(ev)) if e["action"] == "drop_response"
                           and a.get("stored", 0) > 0]
    assert len(dropped_after_store) >= 3
    assert any(a.get("duplicates", 0) > 0 for a in answers(ev))  # the re-sent batches
    dups = [e for e in proxy.entries("f-in") if e["action"] == "dup"]
    assert dups and all(e["dup_status"] == 401 and b"replay" in e["dup_answer"] for e in dups)
    assert [e for e in proxy.entries("f-in") if e["action"] == "hang"]
    assert app.uplink.up.stats["fail"] >= 10


def test_wifi_down_six_simulated_hours_then_everything_arrives(srv, simu):
    from gatepass.sim import network as simnet

    g = simu.gate("w-in", wifi=True)
    app = simu.start_uplink(g, wifi=True)
    simu.run_for(30_000)
    assert app.wifi.is_up() and app.wifi.connects == 1
    for i in range(5):
        passage(g, i)
    assert simu.until(drained(g), 120_000)
    ap = simnet.access_point()
    ap.outage(6 * 3600_000)
    t_out = simu.clock.now_ms
    n_req = len(srv.proxy.entries("w-in"))
    for i in range(360):  # one passage a minute, 6 hours
        passage(g, 100 + i)
        simu.run_for(60_000)
    assert not app.wifi.is_up() and app.wifi.drops == 1
    # not one request left the device while the radio was down, and nothing was lost
    assert len(srv.proxy.entries("w-in")) == n_req
    assert app.log.pending() >= 360
    assert simu.clock.now_ms >= t_out + 6 * 3600_000
    t_back = t_out + 6 * 3600_000
    assert simu.until(drained(g), 600_000)
    # reconnected and uploaded within the Wi-Fi backoff cap (120 s) plus a few batches
    assert app.wifi.connects == 2 and simu.clock.now_ms - t_back < 300_000
    assert assert_exactly_once(srv, g) >= 365


def test_unknown_device_wrong_secret_and_disabled_keep_every_event(srv, simu):
    from app import uplinktask

    secret = srv.seeded["devices"]["ghost"]["secret"]
    srv.shell("from gatepass.server.models import Device; Device.objects.filter(pk='ghost').delete()")
    g = simu.gate("ghost")
    app = simu.start_uplink(g)
    for i in range(20):
        passage(g, i)
    simu.run_for(300_000)
    assert app.uplink.state == uplinktask.ST_AUTH and app.uplink.up.last_code == "bad_signature"
    assert app.log.pending() >= 20 and app.log.acked == 0
    refused = srv.proxy.entries("ghost")
    assert refused and all(e["status"] == 401 for e in refused)
    assert len(refused) <= 3  # a refused device waits minutes, it does not hammer the server
    # staff register it (same secret): within one long wait everything arrives
    srv.shell("from gatepass.server import cli; cli.add_device('ghost', 'maple', 'Ghost gate', 'in', secret=%r)"
              % secret)
    assert simu.until(drained(g), 1_800_000)
    assert assert_exactly_once(srv, g) >= 22
    # the server logged the rejections
    codes = {c for (c,) in srv.sql("SELECT code FROM gatepass_authfailure WHERE device_id = 'ghost'")}
    assert "unknown_device" in codes


def test_wrong_secret_then_reprovisioned_then_disabled_by_staff(srv, simu):
    from app import uplinktask

    good = srv.seeded["devices"]["off"]["secret"]
    g = simu.gate("off", secret="ab" * 32)
    app = simu.start_uplink(g)
    for i in range(15):
        passage(g, i)
    simu.run_for(200_000)
    assert app.uplink.state == uplinktask.ST_AUTH and app.uplink.up.last_code == "bad_signature"
    assert app.log.acked == 0 and app.log.pending() >= 15
    # a technician re-provisions the right secret; the log on flash survives the reboot
    first = simu.tasks[-1]  # its uplink task
    g.stop()
    cfg = dict(srv.seeded["devices"]["off"], board="esp32-devkitc",
               server={"url": srv.proxy.url, "allow_http": True})
    g.provision(cfg)
    srv.shell("from gatepass.server.models import Device; Device.objects.filter(pk='off').update(active=False)")
    app = simu.start_uplink(g)
    for i in range(15, 25):
        passage(g, i)
    simu.run_for(200_000)
    assert app.uplink.up.last_code == "device_disabled" and app.uplink.state == uplinktask.ST_AUTH
    assert app.log.acked == 0
    assert first.done()  # the reset stopped the old firmware's uplink (one uplink per flash)
    srv.shell("from gatepass.server.models import Device; Device.objects.filter(pk='off').update(active=True)")
    assert simu.until(drained(g), 1_800_000)
    assert assert_exactly_once(srv, g) >= 27
    assert good != "ab" * 32


def test_device_clock_an_hour_off_is_corrected_from_the_signed_answer(srv):
    from app import record

    simu = Sim(srv, skew_s=-3600)  # RTC lost: the device believes it is an hour earlier
    try:
        g = simu.gate("clk")
        app = simu.start_uplink(g)
        assert not app.clock.trusted()
        passage(g, 1)
        assert simu.until(lambda: app.clock.trusted(), 60_000)
        assert abs(app.clock.now() - time.time()) < 5
        passage(g, 2)
        assert simu.until(drained(g), 120_000)
        recs = [record.decode(r) for r in device_records(g).values()]
        ts = [r for r in recs if r["kind"] == record.K_TIME_SET]
        assert len(ts) == 1 and 3590 <= ts[0]["step"] <= 3610 and ts[0]["aux"] == 1
        last = max(recs, key=lambda r: r["seq"])
        assert last["time_trusted"]
        stale = [e for e in srv.proxy.entries("clk") if e.get("status") == 401]
        assert stale and b"stale_time" in stale[0]["answer"]
        assert assert_exactly_once(srv, g) >= 4
    finally:
        simu.close()


# ------------------------------------------------------------------ issue 12: log epochs, signed headers


def test_a_reflashed_gate_with_its_old_fragment_uploads_every_new_event(srv, simu):
    """The finding: re-provisioned with the first registration's fragment, the new log
    restarts at seq 1, the first heartbeat answer carried the old log's ack and the gate
    acknowledged its whole new backlog without uploading it (50 of 50 lost)."""
    import shutil

    g = simu.gate("rf-in")
    simu.start_uplink(g)
    for i in range(60):
        passage(g, i)
    assert simu.until(drained(g), 600_000)
    old_epoch = device_epoch(g)
    old = srv.rows("rf-in", old_epoch)
    assert assert_exactly_once(srv, g) == len(old) >= 60
    # re-flash: a new filesystem, the same fragment (id and secret)
    g.stop()
    for t in simu.tasks:
        t.cancel()
    simu.tasks.clear()
    for p in list(g.flash.iterdir()):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    g.provision(dict(simu.srv.seeded["devices"]["rf-in"], board="esp32-devkitc",
                     server={"url": srv.proxy.url, "allow_http": True}))
    app = simu.start_uplink(g)
    assert device_epoch(g) != old_epoch and app.log.next_seq < 10  # a new log from seq 1
    for i in range(50):
        passage(g, 100 + i)
    assert simu.until(drained(g), 600_000)
    # every new event arrived, under the new log; the old ones are still there, unchanged
    assert assert_exactly_once(srv, g) >= 50
    assert srv.rows("rf-in", old_epoch) == old
    assert srv.sql("SELECT lost_total, conflicts FROM gatepass_device WHERE id = 'rf-in'")[0] == (0, 0)
    # staff see exactly one "log restarted" event, with its alert
    from app import record

    restarts = srv.sql("SELECT pid FROM gatepass_event WHERE device_id = 'rf-in' AND kind = %s", record.K_LOG_RESTART)
    assert restarts == [(old_epoch,)]
    assert srv.sql("SELECT count(*) FROM gatepass_alert WHERE device_id = 'rf-in' AND kind = 'log_restarted'")[0][0] == 1


def _set_header(head: bytes, name: bytes, value: bytes | None) -> bytes:
    lines = head[:-4].split(b"\r\n")
    out = [ln for ln in lines if ln.partition(b":")[0].strip().lower() != name.lower()]
    if value is not None:
        out.append(name + b": " + value)
    return b"\r\n".join(out) + b"\r\n\r\n"


@pytest.mark.parametrize("rewrite", ["base-max", "base-removed", "epoch", "time", "device"])
def test_a_proxy_rewriting_headers_cannot_make_a_gate_drop_unsent_records(srv, simu, rewrite):
    """The finding: X-Gatepass-Base = 4294967295 set on the way made the server's signed
    answer discard 300 unsent records (6 fevers) and corrupted its lost counter."""
    did = "mitm-in"
    g = simu.gate(did)
    app = simu.start_uplink(g)
    before = srv.sql("SELECT lost_total FROM gatepass_device WHERE id = %s", did)[0][0]
    fn = {
        "base-max": lambda h: _set_header(h, b"X-Gatepass-Base", b"4294967295"),
        "base-removed": lambda h: _set_header(h, b"X-Gatepass-Base", None),
        "epoch": lambda h: _set_header(h, b"X-Gatepass-Epoch", b"0123456789abcdef"),
        "time": lambda h: _set_header(h, b"X-Gatepass-Time", b"%d" % (int(time.time()) + 5)),
        "device": lambda h: _set_header(h, b"X-Gatepass-Device", b"e-in"),
    }[rewrite]
    srv.proxy.rewrite = fn
    try:
        start = app.log.acked
        n0 = app.log.next_seq
        for i in range(40):
            passage(g, i, body_cc=3850 if i % 10 == 3 else 3660)  # fevers among them
        simu.run_for(120_000)
        # nothing the gate still holds was acknowledged through the rewritten requests
        assert app.log.acked == start and app.log.next_seq - 1 - app.log.acked >= 40
        assert srv.sql("SELECT lost_total FROM gatepass_device WHERE id = %s", did)[0][0] == before
        assert all(e["status"] == 401 for e in srv.proxy.entries(did) if e.get("rewritten") and "status" in e)
    finally:
        srv.proxy.rewrite = None
    assert simu.until(drained(g), 1_800_000)
    assert assert_exactly_once(srv, g) >= n0 - 1 + 40
    assert srv.sql("SELECT lost_total FROM gatepass_device WHERE id = %s", did)[0][0] == before
