"""Issue 14 acceptance, end to end: a real `gatepass server` process driven over HTTP as
staff and residents use it (staff pages with a logged-in session), and an entrance and an
exit gate running the whole real firmware on simulated boards, uploading through a fault
proxy.

Time: the server runs on real time; the gates' RTC follows it (e2e_helpers.Sim). "After
the visitor's window" and "the isolation's end time passes" are reached by taking the
gates off the network (the proxy refuses every connection, so no new bundle and no time
from the server can arrive) and moving the boards' clock forward (Sim.skew_s): the gate
decides alone, with the bundle it already holds, as it would after hours offline.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import time

import pytest

from e2e_helpers import Sim, Srv, drained
from gatepass.demo.web import Web, staff_api, text_of
from gatepass.server.testing import LiveServer

DEVICES = [["c-in", "南门", "in"], ["c-out", "南门", "out"]]
HOUR = 3600
ROSTER = ("姓名,电话,房号,身份,备注\r\n"
          "王芳,13800000001,3-1-1203,居民,\r\n"
          "李伟,13800000002,5-2-501,居民,\r\n"
          "赵敏,13800000004,,物业,保安\r\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e-community")
    db = "sqlite:///" + str(home / "gatepass.sqlite3")
    server = LiveServer(db, home, seed={"community": "maple", "name": "枫林苑", "devices": DEVICES,
                                        "staff": [["guard", "maple", "operator"], ["boss", "maple", "admin"]]})
    server.start()
    s = Srv(server, db, home)
    yield s
    s.close()


def scan(simu, g, text, body_c=36.6):
    """A person with `text` on the phone at gate g: shows it, gets the decision, walks
    away; the door cycle ends before the next person."""
    g.person(body_c=body_c)
    g.show(text)
    ps = simu.site.wait_passage(g, timeout_ms=20_000)
    g.hide()
    g.nobody()
    simu.run_for(7_000)
    return ps.decision


def later(simu, seconds: int) -> None:
    """The boards' clock `seconds` later (the gates are offline: nothing sets it back)."""
    before = [g.app.clock.now() for g in simu.site.gates.values()]
    simu.skew_s += seconds
    simu.run_for(1_000)
    for b, g in zip(before, simu.site.gates.values()):
        assert g.app.clock.now() >= b + seconds


def bundle_version(srv) -> int:
    return srv.sql("SELECT bundle_version FROM gatepass_community WHERE id = 'maple'")[0][0]


def test_issue14_roster_declaration_visitor_isolation_end_to_end(srv):
    from app import reasons

    t0 = time.perf_counter()
    staff = Web(srv.server.url).login("guard", srv.seeded["staff"]["guard"])

    # -- roster import: the building managers' resident list (CSV as Excel writes it: GBK)
    status, ans = staff_api(srv.server.url, "guard", srv.seeded["staff"]["guard"], "/roster", {
        "community": "maple", "filename": "名单.csv", "content": base64.b64encode(ROSTER.encode("gbk")).decode(),
        "commit": True, "issue_passes": True})
    assert status == 200 and ans["committed"], ans
    ctis = {r["name"]: r["cti"] for r in ans["rows"]}
    assert set(ctis) == {"王芳", "李伟", "赵敏"} and all(ctis.values()), ans["rows"]
    resident_text, resident_pid = srv.sql("SELECT text, pid FROM gatepass_pass WHERE cti = ?", ctis["王芳"])[0]
    # (the phone self-declaration and its approval replace the roster's pass here once they land)

    simu = Sim(srv)
    try:
        gin, gout = simu.gate("c-in"), simu.gate("c-out")
        apps = [simu.start_full(g) for g in (gin, gout)]
        for a in apps:
            a.uplink.up.status_ms = 5_000
        v = bundle_version(srv)
        assert simu.until(lambda: all(a.clock.trusted() and a.store.version >= v for a in apps), 180_000), \
            [a.uplink.summary() for a in apps]

        # -- the resident's phone pass opens the entrance gate
        d = scan(simu, gin, resident_text)
        assert d.allow and d.reason == reasons.OK, d
        assert simu.until(drained(gin), 180_000)
        row = srv.sql("SELECT allowed, direction FROM gatepass_event WHERE device_id = 'c-in' AND pid = ? "
                      "AND kind = 1", resident_pid)
        assert row == [(1, 1)]
        # ... and the console's event list shows it with the person and the unit
        status, page = staff.get("/events/?device=c-in")
        row = [r for r in re.findall(r"(?s)<tr\b.*?</tr>", page) if resident_pid[:8] in r]
        assert status == 200 and len(row) == 1, page[-3000:]
        seen = text_of(row[0])
        assert "王芳" in seen and "3-1-1203" in seen and "南门" in seen, seen
        # the day's report names the person and the unit behind the pass
        status, report = staff.get("/report.csv")
        mine = [r for r in report.splitlines() if resident_pid in r]
        assert status == 200 and len(mine) == 1 and "王芳" in mine[0] and "3-1-1203" in mine[0], mine
        # the published daily figures count the entry, and nothing personal
        boss = Web(srv.server.url).login("boss", srv.seeded["staff"]["boss"])
        boss.get("/figures/")
        boss.post("/figures/publish", {"do": "publish"})
        link = re.search(r'id="public-link">([^<]+)<', boss.get("/figures/")[1]).group(1)
        status, public = Web(srv.server.url).get(link)
        assert status == 200 and 'id="f-in">1<' in public
        assert "王芳" not in public and resident_pid not in public and "1203" not in text_of(public)

        # -- offline from here: the clock moves on without the server
        versions = [a.store.version for a in apps]
        srv.proxy.down = True
        exp = dt.datetime.fromisoformat(srv.sql("SELECT exp FROM gatepass_pass WHERE pid = ?", resident_pid)[0][0])
        exp = int(exp.replace(tzinfo=exp.tzinfo or dt.timezone.utc).timestamp())
        later(simu, exp - int(time.time()) + 24 * HOUR)  # a day after the resident's pass runs out
        assert scan(simu, gout, resident_text).reason == reasons.EXPIRED
        assert [a.store.version for a in apps] == versions  # decided with the bundle it held
    finally:
        srv.proxy.down = False
        simu.close()
    print("issue-14 end-to-end: %.1f s" % (time.perf_counter() - t0))
