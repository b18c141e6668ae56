"""End to end: anti-passback across an entrance and an exit that are separate devices.
The whole firmware app runs on two simulated gates against the real server; the exit's
passages reach the entrance only through the server (GET /passages), never directly.
A page tampered with on the way is refused whole and fetched again later."""
from __future__ import annotations

import time

import pytest

from e2e_helpers import Sim, assert_exactly_once, drained, start_server
from gatepass.issuing import passes as issue

DEVICES = [["p-in", "East gate", "in"], ["p-out", "East gate", "out"], ["p-in2", "West gate", "in"]]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory, "e2e-peers", DEVICES)
    yield s
    s.close()


def scan(simu, g, text, body_c=36.6):
    g.person(body_c=body_c)
    g.show(text)
    ps = simu.site.wait_passage(g, timeout_ms=20_000)
    g.hide()
    g.nobody()
    simu.run_for(7_000)  # relay pulse over, gate idle again
    return ps.decision


def knows(g, pid, direction):
    last = g.gate.apb.last(pid)
    return last is not None and last[0] == direction


def test_out_at_the_exit_lets_the_resident_back_in_at_any_entrance(srv):
    from app import peers, reasons, record, roles

    key = srv.issuer()
    now = int(time.time())
    cti = b"\x42" * 8
    alice = issue.issue(key, issue.new_spec("maple", 0, (3, 1, 1203), "in,out", nbf=now - 86400,
                                            exp=now + 30 * 86400, cti=cti)).text
    pid = record.pass_id(cti)

    simu = Sim(srv)
    try:
        gin, gout, gin2 = simu.gate("p-in"), simu.gate("p-out"), simu.gate("p-in2")
        apps = [simu.start_full(g) for g in (gin, gout, gin2)]
        for a in apps:
            a.uplink.up.status_ms = 10_000
            a.uplink.up.linger_ms = 2_000
        assert simu.until(lambda: all(a.clock.trusted() and a.uplink.up.peer_cursor >= 0 for a in apps), 120_000)

        assert scan(simu, gin, alice).reason == reasons.OK
        assert scan(simu, gin, alice).reason == reasons.PASSBACK  # a screenshot shared at the door
        # the entrance's passage reaches the other entrance too: no second way in
        assert simu.until(lambda: knows(gin2, pid, roles.IN), 120_000), apps[2].uplink.summary()
        assert scan(simu, gin2, alice).reason == reasons.PASSBACK

        assert scan(simu, gout, alice).reason == reasons.OK
        assert simu.until(lambda: knows(gin, pid, roles.OUT) and knows(gin2, pid, roles.OUT), 120_000), \
            [a.uplink.summary() for a in apps]
        assert scan(simu, gin2, alice).reason == reasons.OK  # back in, through the west gate

        # the east entrance learns of that entry as well, and keeps the newest passage:
        # its own older OUT-from-the-exit does not come back
        assert simu.until(lambda: knows(gin, pid, roles.IN), 120_000)
        assert scan(simu, gin, alice).reason == reasons.PASSBACK

        # the cursor is on flash: a reboot does not fetch everything again
        cur = apps[0].uplink.up.peer_cursor
        assert cur > 0
        assert int((gin.flash / "data" / "peers.cur").read_text()) == cur
        assert peers.Peers(str(gin.flash / "data" / "peers.cur"), lambda *a: None).cursor == cur

        # a page tampered with on the way (re-signed with the device secret, one direction
        # byte made invalid): refused whole, nothing applied, asked for again later
        def bad_direction(body, entry):
            return body[:-1] + b"\x07" if len(body) > peers.HEAD else body

        srv.proxy.tamper = bad_direction
        srv.proxy.set_path_script("/passages", ["tamper"])
        apps[0].uplink.up.peer_retry_ms = 30_000
        applied = apps[0].uplink.peers.applied
        assert scan(simu, gout, alice).reason == reasons.OK  # out again
        assert simu.until(lambda: knows(gin, pid, roles.OUT), 180_000), apps[0].uplink.summary()
        assert srv.proxy.path_scripts.get("/passages") == []  # the tampered answer was used up
        assert apps[0].uplink.peers.applied > applied
        assert scan(simu, gin, alice).reason == reasons.OK

        # the server's database restored from an older backup: its ids are behind the
        # entrance's cursor; the next heartbeat sends the entrance back to 0, on flash too
        sync = apps[0].uplink.peers
        sync.cursor = apps[0].uplink.up.peer_cursor = 10 ** 9
        assert simu.until(lambda: sync.cursor < 10 ** 9, 120_000), apps[0].uplink.summary()
        assert int((gin.flash / "data" / "peers.cur").read_text()) < 10 ** 9
        assert scan(simu, gout, alice).reason == reasons.OK
        assert simu.until(lambda: knows(gin, pid, roles.OUT), 120_000)

        assert simu.until(drained(gin, gout, gin2), 120_000)
        for g in (gin, gout, gin2):
            assert_exactly_once(srv, g)
    finally:
        srv.proxy.tamper = None
        srv.proxy.path_scripts.clear()
        simu.close()
