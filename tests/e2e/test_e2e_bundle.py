"""End to end: staff change the rules on the real server; the simulated gates (whole
firmware app: scanner, thermometer, relay, uplink) fetch the signed bundle, and the next
decision at the gate follows it. A bundle tampered with on the way, or an old one
replayed, is refused by the device, logged, and reported to the server."""
from __future__ import annotations

import os
import time

import pytest

from e2e_helpers import Sim, assert_exactly_once, drained, start_server
from gatepass.issuing import passes as issue

DEVICES = [["b-in", "North gate", "in"], ["b-out", "North gate", "out"]]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory, "e2e-bundle", DEVICES)
    yield s
    s.close()


def version(srv) -> int:
    return srv.sql("SELECT bundle_version FROM gatepass_community WHERE id = 'maple'")[0][0]


def scan(simu, g, text, body_c=36.6):
    """A person with pass `text` at gate g: show it, wait for the decision, step away,
    and wait for the door cycle to end."""
    g.person(body_c=body_c)
    g.show(text)
    ps = simu.site.wait_passage(g, timeout_ms=20_000)
    g.hide()
    g.nobody()
    simu.run_for(7_000)  # relay pulse (5 s) over, gate idle again
    return ps.decision


def test_staff_changes_reach_the_next_decision_and_forgeries_are_refused(srv):
    from app import bundle, reasons, record

    key = srv.issuer()
    now = int(time.time())

    def mk(role, unit, cti=None):
        return issue.issue(key, issue.new_spec("maple", role, unit, "in,out", nbf=now - 86400,
                                               exp=now + 30 * 86400, cti=cti)).text

    alice_cti = os.urandom(10)
    alice, bob, carol, medic = (mk(0, (3, 1, 1203), alice_cti), mk(0, (5, 2, 501)), mk(0, (9, 1, 101)),
                                mk(1, (0, 0, 0)))

    simu = Sim(srv)
    try:
        gin = simu.gate("b-in")
        gout = simu.gate("b-out")
        apps = [simu.start_full(g) for g in (gin, gout)]
        for a in apps:
            a.uplink.up.status_ms = 10_000  # heartbeat (and bundle check) every 10 s
        v0 = version(srv)
        assert simu.until(lambda: all(a.store.version == v0 for a in apps), 120_000)

        def propagate(change):
            v = version(srv)
            srv.shell(change)
            assert version(srv) > v
            target = version(srv)
            ok = simu.until(lambda: all(a.store.version >= target for a in apps), 120_000)
            assert ok, [a.uplink.summary() for a in apps]
            return target

        assert scan(simu, gout, bob).reason == reasons.OK
        assert scan(simu, gin, alice).reason == reasons.OK
        assert scan(simu, gout, carol).reason == reasons.OK

        # quarantine of bob's building: bob may not go out any more
        propagate("from gatepass.server.models import Quarantine; "
                  "Quarantine.objects.create(community_id='maple', building=5)")
        d = scan(simu, gout, bob)
        assert d.reason == reasons.QUARANTINED and not d.allow

        # alice's pass revoked (her card was lost)
        propagate("import datetime as dt; from django.utils import timezone; "
                  "from gatepass.server.models import Pass; "
                  "Pass.objects.create(community_id='maple', cti=%r, nbf=timezone.now() - dt.timedelta(days=1), "
                  "exp=timezone.now() + dt.timedelta(days=30), revoked=True)" % alice_cti.hex())
        assert open(gin.flash / "data" / "revoked.bin", "rb").read() == record.pass_id(alice_cti)
        assert scan(simu, gin, alice).reason == reasons.REVOKED

        # community sealed: residents stay in, on-duty medical staff may go out
        propagate("from gatepass.server.models import Community; c = Community.objects.get(pk='maple'); "
                  "c.mode = 2; c.save()")
        assert scan(simu, gout, carol).reason == reasons.MODE_SEALED
        assert scan(simu, gout, medic).allow

        # a bundle tampered with on the way (the answer re-signed by someone holding the
        # device secret but not the community's bundle key): refused, nothing changes
        genuine = {}

        def flip(body, entry):
            genuine.setdefault("old", body)
            i = body.index(b"\x05\x19")  # key 5 (threshold) followed by a 2-byte uint
            return body[:i + 2] + bytes([body[i + 2] ^ 0x01]) + body[i + 3:]

        srv.proxy.tamper = flip
        srv.proxy.set_path_script("/bundle", ["tamper"] * 1000)  # every fetch, retries included
        before = [a.store.version for a in apps]
        v = version(srv)
        srv.shell("from gatepass.server.models import Community; c = Community.objects.get(pk='maple'); "
                  "c.threshold_cc = 3700; c.save()")
        assert simu.until(lambda: all(a.store.rejected >= 1 for a in apps), 120_000)
        assert [a.store.version for a in apps] == before
        assert all(a.store.last_result[0] == bundle.BAD_SIGNATURE for a in apps)
        assert scan(simu, gin, bob, body_c=37.1).allow  # still 37.3 C on the gate
        # the refusal went to the server as an urgent event
        assert simu.until(drained(gin, gout), 120_000), [(a.uplink.summary(), a.log.stats()) for a in apps]
        rows = srv.sql("SELECT device_id, reason, urgent FROM gatepass_event WHERE kind = 4 AND reason != 0")
        assert {(r[0], r[1], r[2]) for r in rows} >= {("b-in", 12, 1), ("b-out", 12, 1)}
        assert srv.sql("SELECT count(*) FROM gatepass_alert a JOIN gatepass_event e ON e.id = a.event_id "
                       "WHERE e.kind = 4")[0][0] >= 2

        # a replayed older bundle (genuinely signed, properly MACed): refused as a rollback
        assert genuine
        old_raw = {}

        def replay_old(body, entry):
            return old_raw["b"]

        # capture the current genuine bundle, then let the server move on
        srv.proxy.tamper = None
        target = propagate("from gatepass.server.models import Community; c = Community.objects.get(pk='maple'); "
                           "c.threshold_cc = 3700; c.retention_days = 30; c.device_settings = {'unlock_s': 4}; "
                           "c.save()")
        assert target > v
        assert scan(simu, gin, carol, body_c=37.1).reason == reasons.FEVER  # 37.0 C now
        old_raw["b"] = open(gin.flash / "data" / bundle.CURRENT, "rb").read()
        b_old = bundle.decode(old_raw["b"])
        srv.proxy.tamper = replay_old
        srv.proxy.set_path_script("/bundle", ["tamper"] * 1000)  # every fetch, retries included
        n_rej = [a.store.rejected for a in apps]
        srv.shell("from gatepass.server.models import Community; c = Community.objects.get(pk='maple'); "
                  "c.device_settings = {'unlock_s': 6}; c.save()")
        assert simu.until(lambda: all(a.store.rejected > n for a, n in zip(apps, n_rej)), 120_000)
        assert all(a.store.last_result == (bundle.OLD_VERSION, b_old.version) for a in apps)
        assert all(a.store.version == b_old.version for a in apps)
        assert apps[0].gate.settings.unlock_s == 4
        srv.proxy.tamper = None
        # every record of both gates is on the server once
        assert simu.until(drained(gin, gout), 300_000)
        assert assert_exactly_once(srv, gin) and assert_exactly_once(srv, gout)
    finally:
        srv.proxy.tamper = None
        srv.proxy.path_scripts.clear()
        simu.close()
