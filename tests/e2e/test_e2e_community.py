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
from gatepass.demo.web import Web, qr_text_from_svg, staff_api, text_of
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


def phone_qr(web: Web, path: str) -> str:
    """The pass a phone page shows: its QR code read back as the gate's scanner reads it."""
    status, page = web.get(path)
    assert status == 200, (path, status, text_of(page)[:300])
    m = re.search(r'(?s)id="pass-qr">(.*?</svg>)', page)
    assert m, text_of(page)[:500]
    return qr_text_from_svg(m.group(1))


def event_row(staff: Web, device: str, pid: str) -> str:
    """The text of the console's event row of a pass at a gate (the latest one)."""
    status, page = staff.get("/events/?device=%s" % device)
    rows = [text_of(r) for r in re.findall(r"(?s)<tr\b.*?</tr>", page) if pid[:8] in r]
    assert status == 200 and rows, page[-2000:]
    return rows[0]


def test_issue14_roster_declaration_visitor_isolation_end_to_end(srv):
    from app import reasons

    t0 = time.perf_counter()
    guard_pw = srv.seeded["staff"]["guard"]
    staff = Web(srv.server.url).login("guard", guard_pw)

    # -- 1. roster import: the building managers' resident list (CSV as Excel writes it: GBK)
    status, ans = staff_api(srv.server.url, "guard", guard_pw, "/roster", {
        "community": "maple", "filename": "名单.csv", "content": base64.b64encode(ROSTER.encode("gbk")).decode(),
        "commit": True, "issue_passes": False})
    assert status == 200 and ans["committed"], ans
    assert {r["name"] for r in ans["rows"]} == {"王芳", "李伟", "赵敏"}

    # -- 2. 王芳 declares herself on her phone, from the link on the community's poster
    status, poster = staff.get("/declarations/poster/")
    declare_url = re.search(r'id="poster-url">([^<]+)<', poster).group(1)
    phone = Web(srv.server.url)
    status, _ = phone.get(declare_url)
    assert status == 200
    status, page = phone.post(declare_url, {"name": "王芳", "phone": "13800000001", "building": "3",
                                            "entrance": "1", "room": "1203", "role": "0", "consent": "on"})
    assert status == 200 and "/m/" in phone.last_url, text_of(page)[:500]
    my_pass = phone.last_url[len(srv.server.url):]
    assert 'id="pass-qr"' not in page  # waiting for staff

    # -- 3. staff approve it against the roster (a full match: name and phone of that flat)
    status, queue = staff.get("/declarations/")
    row = re.search(r'(?s)<tr id="decl-(\d+)" class="match-(\w+)">(.*?)</tr>', queue)
    assert row and row.group(2) == "full", text_of(queue)[:1000]
    person = re.search(r'<option value="(\d+)" selected>', row.group(3)).group(1)
    status, slip = staff.post("/declarations/%s/approve" % row.group(1), {"person": person, "role": "0",
                                                                          "days": "30"})
    assert status == 200 and 'id="phone-code"' in slip, text_of(slip)[:500]
    roster_person = srv.sql("SELECT id FROM gatepass_person WHERE name = '王芳'")
    assert roster_person == [(int(person),)]  # linked to the roster's 王芳, no second person

    # -- 4. her phone now shows the pass (the page she declared on)
    resident_text = phone_qr(phone, my_pass)
    resident_pid = srv.sql("SELECT pid FROM gatepass_pass WHERE text = ?", resident_text)[0][0]

    simu = Sim(srv)
    try:
        gin, gout = simu.gate("c-in"), simu.gate("c-out")
        apps = [simu.start_full(g) for g in (gin, gout)]
        for a in apps:
            a.uplink.up.status_ms = 5_000

        def synced():
            v = bundle_version(srv)
            assert simu.until(lambda: all(a.clock.trusted() and a.store.version >= v for a in apps), 180_000), \
                [a.uplink.summary() for a in apps]

        synced()

        # -- 5. the resident's phone pass opens the entrance gate ...
        d = scan(simu, gin, resident_text)
        assert d.allow and d.reason == reasons.OK, d
        assert simu.until(drained(gin), 180_000)
        # ... and the event on the console shows the person and the unit
        seen = event_row(staff, "c-in", resident_pid)
        assert "王芳" in seen and "3-1-1203" in seen and "南门" in seen, seen
        # the day's report names them too
        status, report = staff.get("/report.csv")
        mine = [r for r in report.splitlines() if resident_pid in r]
        assert status == 200 and len(mine) == 1 and "王芳" in mine[0] and "3-1-1203" in mine[0], mine

        # -- 6. she invites two visitors for 2 h from her phone
        visitors = []
        for _ in range(2):
            status, page = phone.post(my_pass + "invite", {"hours": "2", "start": ""})
            url = re.search(r'id="visitor-url">([^<]+)<', page)
            assert status == 200 and url, text_of(page)[:500]
            visitors.append(phone_qr(Web(srv.server.url), url.group(1)))
        visitor, late_visitor = visitors
        visitor_pid = srv.sql("SELECT pid FROM gatepass_pass WHERE text = ?", visitor)[0][0]
        # the visitor enters once, goes out once, and is refused a second entry
        assert scan(simu, gin, visitor).allow
        assert scan(simu, gout, visitor).allow
        d = scan(simu, gin, visitor)
        assert not d.allow and d.reason == reasons.VISITOR_USED, d
        # the inviting unit is registered with the visitor's passages
        assert simu.until(drained(gin, gout), 180_000)
        seen = event_row(staff, "c-in", visitor_pid)
        assert "3-1-1203" in seen and "访客" in seen, seen

        # -- 7. staff isolate her at home for a day (returned from a risk area)
        staff.get("/isolation/")
        status, page = staff.post("/isolation/", {"who": "3-1-1203", "days": "1", "note": "返乡",
                                                  "add_isolation": "1"})
        assert status == 200, text_of(page)[:500]
        end = srv.sql("SELECT end FROM gatepass_isolation WHERE released_at IS NULL")
        assert len(end) == 1
        end = dt.datetime.fromisoformat(end[0][0])
        end = int(end.replace(tzinfo=end.tzinfo or dt.timezone.utc).timestamp())
        synced()
        d = scan(simu, gout, resident_text)
        assert not d.allow and d.reason == reasons.ISOLATED, d
        # the day's public figures: the visitor, the isolated resident, nobody named
        boss = Web(srv.server.url).login("boss", srv.seeded["staff"]["boss"])
        boss.get("/figures/")
        boss.post("/figures/publish", {"do": "publish"})
        link = re.search(r'id="public-link">([^<]+)<', boss.get("/figures/")[1]).group(1)
        status, public = Web(srv.server.url).get(link)
        assert status == 200 and 'id="f-visitors">1<' in public and 'id="f-isolated">1<' in public, public
        assert "王芳" not in public and resident_pid not in public and "1203" not in text_of(public)

        # -- 8. offline from here: the gates' clock moves on without the server
        versions = [a.store.version for a in apps]
        srv.proxy.down = True
        later(simu, 2 * HOUR + 5 * 60)  # past the visitors' 2-hour window, still isolated
        d = scan(simu, gin, late_visitor)
        assert not d.allow and d.reason == reasons.EXPIRED, d
        d = scan(simu, gout, resident_text)
        assert not d.allow and d.reason == reasons.ISOLATED, d
        later(simu, end - int(gout.app.clock.now()) + 60)  # the isolation's end time has passed
        d = scan(simu, gout, resident_text)
        assert d.allow and d.reason == reasons.OK, d
        assert [a.store.version for a in apps] == versions  # no new bundle: the gate lifted it itself
    finally:
        srv.proxy.down = False
        simu.close()
    print("issue-14 end-to-end: %.1f s" % (time.perf_counter() - t0))
