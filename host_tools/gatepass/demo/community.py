"""`make demo`, step 6: the community's own workflows (issue 14) on the demo's live server
and gates, driven the way staff and residents drive them (staff API and pages over HTTP,
phone pages, QR codes read off the phone's page and shown to the simulated gates):

- the building managers' resident list (Chinese CSV, GBK as Excel saves it) imported;
- a resident declares herself on her phone, staff approve her against the list, her phone
  shows the pass, the entrance lets her in and the console's event row names her and her flat;
- she invites a visitor for 2 hours: one entry, one exit, a second entry refused;
- staff isolate her at home: the exit gate refuses her; with the router off (no new
  bundle, no time from the server) and the exit gate's clock run past the end time, the
  gate lets her out by itself; back online, the server's time corrects its clock;
- the day's public figures published (entries, visitors, people in home isolation).

Pieces the server does not have yet are skipped with a note (the demo runs on every slice).

    problems = community.play(console, url, login, password, gates, site, community, db)

`problems` is empty when every step did what the script expects (the demo fails otherwise).
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import sqlite3
import time

from ..mp.fw import reasons, roles
from ..sim import network as simnet
from .web import Web, qr_text_from_svg, staff_api, text_of

# the demo community's resident list: 姓名 name, 电话 phone, 房号 unit, 身份 role, 备注 note
ROSTER = ("姓名,电话,房号,身份,备注\r\n"
          "王芳,13800000001,8-1-801,居民,\r\n"
          "李伟,13800000002,8-2-502,居民,\r\n"
          "张强,,9-1-101,居民,独居老人 无智能手机\r\n"
          "赵敏,13800000004,,物业,保安\r\n")
RESIDENT = ("王芳", "13800000001", (8, 1, 801))


def _phone_qr(web: Web, path: str) -> str | None:
    _, page = web.get(path)
    m = re.search(r'(?s)id="pass-qr">(.*?</svg>)', page)
    return qr_text_from_svg(m.group(1)) if m else None


def play(console, url: str, login: str, password: str, gates: dict, site, community: str, db: str) -> list[str]:
    problems: list[str] = []

    def check(what: str, result: str, good: bool) -> bool:
        console.print("  %-44s %s" % (what, result), style=None if good else "red", soft_wrap=True)
        if not good:
            problems.append("%s: %s" % (what, result))
        return good

    def sql(query, *args):
        with sqlite3.connect(db[len("sqlite:///"):], timeout=30) as conn:
            return conn.execute(query, args).fetchall()

    def decided(ps) -> str:
        d = ps.decision
        return "%s (%s)" % ("let in" if d.allow else "refused", reasons.name(d.reason))

    def wait_bundle():
        v = sql("SELECT bundle_version FROM gatepass_community WHERE id = ?", community)[0][0]
        site.run_until(lambda: all(g.app.store.version >= v for g in gates.values()), 180_000, 100)

    def lifts_by_itself(g, text):
        """The gates lift a home isolation at its end time with the bundle they hold: the
        router goes off (no new bundle, no time from the server can arrive), the exit
        gate's clock runs past the end (its board's RTC: the simulated gate's clock, as
        the end-to-end test moves it), she shows the same pass; then the router comes
        back and the server's signed time sets the clock right again."""
        end = sql("SELECT end FROM gatepass_isolation WHERE released_at IS NULL ORDER BY id DESC LIMIT 1")[0][0]
        end = dt.datetime.fromisoformat(end)
        end = int(end.replace(tzinfo=end.tzinfo or dt.timezone.utc).timestamp())
        versions = [x.app.store.version for x in gates.values()]
        ap = simnet.access_point()
        ap.down()
        # every uplink has seen the Wi-Fi go: nothing in flight can set a clock back
        offline = site.run_until(lambda: all(x.app.uplink.summary()["state"] == "no_wifi" for x in gates.values()),
                                 60_000, 100)
        ahead = end - int(g.app.clock.now()) + 60
        g.rtc_delta += ahead
        site.run_for(500)
        ps = g.visit(text, walk=True)
        same = [x.app.store.version for x in gates.values()] == versions
        check("router off, %d days later: at the exit" % round(ahead / 86400), "%s, bundle v%d kept" % (
            decided(ps), g.app.store.version), offline and ps.decision.allow and same)
        ap.up()
        synced = site.run_until(lambda: abs(g.app.clock.now() - time.time()) < 30 and g.app.clock.trusted()
                                and g.app.log.pending() == 0, 120_000, 100)
        check("router back: server time sets its clock", "clock %+d s, log uploaded" % (
            g.app.clock.now() - time.time()), synced)

    staff = Web(url).login(login, password)
    name, phone_no, unit = RESIDENT
    # the crowd left the community in control mode (residents stay in): the district
    # lowers the level again, so visitors come in and the exit decides by the person
    mode, threshold = sql("SELECT mode, threshold_cc FROM gatepass_community WHERE id = ?", community)[0]
    if mode != 0:
        staff.get("/rules/")
        staff.post("/rules/", {"set_mode": "1", "mode": "0", "threshold": "%.2f" % (threshold / 100)})
        wait_bundle()
        now = sql("SELECT mode FROM gatepass_community WHERE id = ?", community)[0][0]
        check("staff: mode back to prevention", "mode %d, bundle applied by every gate" % now, now == 0)
    unit_text = "%d-%d-%d" % unit
    has = {"declare": staff.get("/declarations/")[0] == 200, "isolation": staff.get("/isolation/")[0] == 200}

    # 1. the resident list, as the building managers keep it (passes come from the
    #    declarations; without them, from the list)
    status, ans = staff_api(url, login, password, "/roster", {
        "community": community, "filename": "名单.csv", "content": base64.b64encode(ROSTER.encode("gbk")).decode(),
        "commit": True, "issue_passes": not has["declare"]})
    ok = status == 200 and ans.get("committed")
    rows = ans.get("rows", []) if ok else []
    check("roster 名单.csv (GBK) imported", "%d people" % len(rows) if ok else "HTTP %s %s" % (status, ans), bool(ok))
    if not ok:
        return problems
    for r in rows:
        console.print("    %-6s %-10s %-10s" % (r["name"], r["unit"] or "-", roles.name(r["role"])))

    # 2. the phone pass: self-declared and approved, or (before declarations) the list's
    phone = Web(url)
    if has["declare"]:
        _, poster = staff.get("/declarations/poster/")
        m = re.search(r'id="poster-url">([^<]+)<', poster)
        phone.get(m.group(1) if m else "/")
        phone.post(m.group(1) if m else "/", {"name": name, "phone": phone_no, "building": unit[0],
                                              "entrance": unit[1], "room": unit[2], "role": "0", "consent": "on"})
        my_pass = phone.last_url[len(url):]
        check("%s declares on her phone" % name, my_pass if "/m/" in my_pass else "(no phone link)", "/m/" in my_pass)
        _, queue = staff.get("/declarations/")
        row = re.search(r'(?s)<tr id="decl-(\d+)" class="match-(\w+)">(.*?)</tr>', queue)
        person = re.search(r'<option value="(\d+)" selected>', row.group(3)) if row else None
        if check("staff: roster match", row.group(2) if row else "(nothing waiting)", bool(row and person)):
            status, slip = staff.post("/declarations/%s/approve" % row.group(1),
                                      {"person": person.group(1), "role": "0", "days": "30"})
            check("staff approve", "phone link + one-time code on the slip" if 'id="phone-code"' in slip
                  else "HTTP %s" % status, 'id="phone-code"' in slip)
        text = _phone_qr(phone, my_pass)
        check("her phone shows the pass QR", "read back (%d characters)" % len(text) if text else "(no QR)",
              text is not None)
    else:
        console.print("  (self-declaration is not on this server yet: the pass from the list)")
        cti = {r["name"]: r["cti"] for r in rows}[name]
        text = sql("SELECT text FROM gatepass_pass WHERE cti = ?", cti)[0][0]
        my_pass = None
    if not text:
        return problems
    pid = sql("SELECT pid FROM gatepass_pass WHERE text = ?", text)[0][0]

    # 3. at the entrance; the console names her
    g_in, g_out = gates["entrance"], gates["exit"]
    ps = g_in.visit(text, walk=True)
    check("%s %s at the entrance" % (name, unit_text), decided(ps), ps.decision.allow)
    site.run_until(lambda: g_in.app.log.pending() == 0, 120_000, 100)
    _, page = staff.get("/events/?device=entrance")
    row = [text_of(r) for r in re.findall(r"(?s)<tr\b.*?</tr>", page) if pid[:8] in r]
    check("console event row", row[0][:90] if row else "(not found)",
          bool(row) and name in row[0] and unit_text in row[0])

    # 4. a visitor for 2 hours, invited from her phone
    if my_pass is not None:
        _, page = phone.post(my_pass + "invite", {"hours": "2", "start": ""})
        m = re.search(r'id="visitor-url">([^<]+)<', page)
        vtext = _phone_qr(Web(url), m.group(1)) if m else None
        if check("she invites a visitor for 2 h", m.group(1) if m else "(no visitor link)", vtext is not None):
            want = [("entrance", True, "visitor enters"), ("exit", True, "visitor leaves"),
                    ("entrance", False, "visitor again: one entry only")]
            for gate, allow, what in want:
                ps = gates[gate].visit(vtext, walk=True)
                check(what, decided(ps), ps.decision.allow == allow)

    # 5. home isolation: the exit refuses her (the gates lift it at the end time by themselves)
    if has["isolation"]:
        staff.post("/isolation/", {"who": unit_text, "days": "14", "note": "返乡人员", "add_isolation": "1"})
        wait_bundle()
        ps = g_out.visit(text, walk=True)
        if check("isolated at home for 14 days: at the exit", decided(ps),
                 not ps.decision.allow and ps.decision.reason == getattr(reasons, "ISOLATED", -1)):
            lifts_by_itself(g_out, text)
    else:
        console.print("  (home isolation is not on this server yet)")

    # 6. the day's public figures, published
    staff.get("/figures/")
    staff.post("/figures/publish", {"do": "publish"})
    _, page = staff.get("/figures/")
    m = re.search(r'id="public-link">([^<]+)<', page)
    if check("daily public figures published", m.group(1) if m else "(no link)", m is not None):
        _, public = Web(url).get(m.group(1))
        figs = {k: (re.search(r'id="f-%s">([^<]*)<' % k, public) or [None, "?"])[1]
                for k in ("in", "out", "visitors", "isolated")}
        check("public figures today", "entries %(in)s, exits %(out)s, visitors %(visitors)s, "
              "in home isolation %(isolated)s" % figs, name not in public and figs["in"] != "?")
    # everything the gates logged meanwhile (passages, bundles applied) reaches the server
    drained = site.run_until(lambda: all(g.app.log.pending() == 0 for g in gates.values()), 300_000, 200)
    check("every gate's log uploaded", "yes" if drained else "no", drained)
    return problems
