"""End to end: staff commands for a gate (open once, lockdown, emergency release) go out
in the signed heartbeat answer of a real `gatepass server` to a simulated gate running the
whole firmware, which runs each once and logs who asked; a command replayed into a later
answer (re-signed with the device secret on the way) is refused and reported."""
from __future__ import annotations

import hashlib
import hmac
import json
import struct
import time

import pytest

from e2e_helpers import Sim, start_server
from gatepass.issuing import passes as issue

DEVICES = [["r-in", "Remote gate", "in"]]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory, "e2e-remote", DEVICES)
    s.shell("from django.contrib.auth.models import User; User.objects.create_user('guard', is_staff=True)")
    yield s
    s.close()


def ask(srv, kind):
    """What the devices page's button does (server/remote.issue), as user guard."""
    out = srv.shell("from django.contrib.auth.models import User; from gatepass.server import remote; "
                    "from gatepass.server.models import Device; "
                    "c = remote.issue(Device.objects.get(pk='r-in'), %r, User.objects.get(username='guard')); "
                    "print('CMD', c.seq, c.created_by_id)" % kind)
    line = [x for x in out.splitlines() if x.startswith("CMD ")][-1]
    seq, by = line.split()[1:]
    return int(seq), int(by)


def state(srv, seq):
    return srv.sql("SELECT done_at IS NOT NULL FROM gatepass_remotecommand WHERE device_id = 'r-in' AND seq = %s",
                   seq)[0][0]


def remote_events(srv):
    """(seq, kind code, result code, user id, urgent) of the `remote` events the server holds."""
    out = []
    for pid, aux, urgent in srv.sql("SELECT pid, aux, urgent FROM gatepass_event WHERE device_id = 'r-in' "
                                    "AND kind = 15 ORDER BY seq"):
        seq, by = struct.unpack("<II", bytes.fromhex(pid))
        out.append((seq, aux & 0xFF, aux >> 8, by, bool(urgent)))
    return out


def scan(simu, g, text):
    g.person(body_c=36.6)
    g.show(text)
    ps = simu.site.wait_passage(g, timeout_ms=20_000)
    g.hide()
    g.nobody()
    simu.run_for(7_000)
    return ps.decision


def test_open_lockdown_release_and_a_replayed_command(srv):
    from app import reasons, remote

    key = srv.issuer()
    now = int(time.time())
    resident = issue.issue(key, issue.new_spec("maple", 0, (3, 1, 1203), "in,out", nbf=now - 86400,
                                               exp=now + 30 * 86400)).text
    medic = issue.issue(key, issue.new_spec("maple", 1, None, "in,out", nbf=now - 86400,
                                            exp=now + 30 * 86400)).text
    simu = Sim(srv)
    try:
        g = simu.gate("r-in")
        app = simu.start_full(g)
        app.uplink.up.status_ms = 5_000
        app.uplink.up.linger_ms = 1_000
        assert simu.until(lambda: app.clock.trusted(), 180_000)
        lv = g.unlock_level()

        # open once
        seq, guard = ask(srv, "open")
        t0 = simu.site.clock.now_ms
        assert simu.until(lambda: any(t >= t0 and v == lv for t, v in g.relay_pin.history), 180_000)
        assert simu.until(lambda: state(srv, seq), 180_000)
        simu.run_for(5_000)
        assert g.relay_pin.level != lv  # one pulse, then locked again
        opened = [t for t, v in g.relay_pin.history if t >= t0 and v == lv]
        assert len(opened) == 1

        # lockdown: residents refused, exempt roles pass
        seq, _ = ask(srv, "lockdown")
        assert simu.until(lambda: app.gate.settings.lockdown, 180_000)
        assert scan(simu, g, resident).reason == reasons.LOCKDOWN
        assert scan(simu, g, medic).reason == reasons.OK_EXEMPT
        ask(srv, "lockdown_off")
        assert simu.until(lambda: not app.gate.settings.lockdown, 180_000)
        assert scan(simu, g, resident).reason == reasons.OK

        # emergency release: unlocked for everyone until cleared
        seq, _ = ask(srv, "release")
        assert simu.until(lambda: g.relay_pin.level == lv, 180_000)
        simu.run_for(30_000)
        assert g.relay_pin.level == lv and app.relay.held
        ask(srv, "release_off")
        assert simu.until(lambda: g.relay_pin.level != lv, 180_000)

        # a replayed command: the first `open`, as the server signed it, put into a later
        # heartbeat answer by someone holding the device secret on the way
        secret = bytes.fromhex(srv.seeded["devices"]["r-in"]["secret"])
        exp = int(time.time()) + 120
        old = {"seq": 1, "kind": "open", "exp": exp, "by": guard,
               "sig": hmac.new(secret, remote.mac_text("r-in", 1, "open", exp, guard), hashlib.sha256).hexdigest()}

        def inject(body, entry):
            d = json.loads(body)
            d["commands"] = [old]
            return json.dumps(d).encode()

        srv.proxy.tamper = inject
        srv.proxy.set_path_script("/status", ["tamper"])
        t1 = simu.site.clock.now_ms
        assert simu.until(lambda: srv.proxy.path_scripts.get("/status") == [], 180_000)
        srv.proxy.tamper = None
        simu.run_for(5_000)
        assert not any(t >= t1 and v == lv for t, v in g.relay_pin.history)  # not opened again
        assert app.remote.counts[remote.REPLAY] == 1
        assert simu.until(lambda: any(r[2] == remote.REPLAY for r in remote_events(srv)), 180_000)
    finally:
        simu.close()
    ev = remote_events(srv)
    # every command on the server's log with who asked; the replay urgent
    assert [(s, k, res) for s, k, res, _, _ in ev] == [
        (1, remote.C_OPEN, remote.DONE), (2, remote.C_LOCKDOWN, remote.DONE), (3, remote.C_LOCKDOWN_OFF, remote.DONE),
        (4, remote.C_RELEASE, remote.DONE), (5, remote.C_RELEASE_OFF, remote.DONE), (1, remote.C_OPEN, remote.REPLAY)]
    assert all(by == guard for _, _, _, by, _ in ev)
    assert ev[-1][4] and ev[3][4]  # the replay and the release are urgent
    assert srv.sql("SELECT count(*) FROM gatepass_alert WHERE device_id = 'r-in' AND kind = 'urgent'")[0][0] >= 2
