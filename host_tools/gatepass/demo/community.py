"""`make demo`, step 6: the community's own workflows (issue 14) on the demo's live server
and gates, driven the way staff and residents drive them (staff API, pages over HTTP,
codes shown to the simulated gates' scanners):

- the building managers' resident list (Chinese CSV, GBK as Excel saves it) imported,
  passes issued from it;
- a resident from the list opens the entrance; the console's event row names her and her flat;
- the daily public figures published; their link printed with the day's numbers.

    problems = community.play(console, url, login, password, gates, site)

`problems` is empty when every step did what the script expects (the demo fails otherwise).
"""
from __future__ import annotations

import base64
import re
import sqlite3

from ..mp.fw import reasons, roles
from .web import Web, staff_api, text_of

# the demo community's resident list: 姓名 name, 电话 phone, 房号 unit, 身份 role, 备注 note
ROSTER = ("姓名,电话,房号,身份,备注\r\n"
          "王芳,13800000001,3-1-1203,居民,\r\n"
          "李伟,13800000002,5-2-501,居民,返乡人员\r\n"
          "张强,,6-1-302,居民,独居老人 无智能手机\r\n"
          "赵敏,13800000004,,物业,保安\r\n")


def _row(console, what: str, result: str, good: bool) -> None:
    console.print("  %-44s %s" % (what, result), style=None if good else "red", soft_wrap=True)


def play(console, url: str, login: str, password: str, gates: dict, site, community: str, db: str) -> list[str]:
    problems: list[str] = []

    def check(what: str, result: str, good: bool) -> bool:
        _row(console, what, result, good)
        if not good:
            problems.append("%s: %s" % (what, result))
        return good

    def sql(query, *args):
        with sqlite3.connect(db[len("sqlite:///"):], timeout=30) as conn:
            return conn.execute(query, args).fetchall()

    # 1. the resident list, as the building managers keep it
    status, ans = staff_api(url, login, password, "/roster", {
        "community": community, "filename": "名单.csv", "content": base64.b64encode(ROSTER.encode("gbk")).decode(),
        "commit": True, "issue_passes": True})
    ok = status == 200 and ans.get("committed")
    rows = ans.get("rows", []) if ok else []
    check("roster 名单.csv (GBK) imported", "%d people, %d passes issued" % (
        len(rows), sum(1 for r in rows if r.get("cti"))) if ok else "HTTP %s %s" % (status, ans), bool(ok))
    if not ok:
        return problems
    for r in rows:
        console.print("    %-6s %-10s %-10s pass %s" % (r["name"], r["unit"] or "-", roles.name(r["role"]),
                                                     (r["cti"] or "-")[:16]))
    ctis = {r["name"]: r["cti"] for r in rows}

    # 2. 王芳 at the entrance with the pass from the list; the console names her
    text, pid = sql("SELECT text, pid FROM gatepass_pass WHERE cti = ?", ctis["王芳"])[0]
    g = gates["entrance"]
    ps = g.visit(text, walk=True)
    check("王芳 3-1-1203 at the entrance", "%s (%s)" % ("let in" if ps.decision.allow else "refused",
                                                       reasons.name(ps.decision.reason)), ps.decision.allow)
    site.run_until(lambda: g.app.log.pending() == 0, 120_000, 100)
    staff = Web(url).login(login, password)
    _, page = staff.get("/events/?device=entrance")
    row = [text_of(r) for r in re.findall(r"(?s)<tr\b.*?</tr>", page) if pid[:8] in r]
    check("console event row", row[0][:90] if row else "(not found)",
          bool(row) and "王芳" in row[0] and "3-1-1203" in row[0])

    # 3. the day's public figures, published
    staff.get("/figures/")
    staff.post("/figures/publish", {"do": "publish"})
    _, page = staff.get("/figures/")
    m = re.search(r'id="public-link">([^<]+)<', page)
    if check("daily public figures published", m.group(1) if m else "(no link)", m is not None):
        _, public = Web(url).get(m.group(1))
        n_in = re.search(r'id="f-in">(\d+)<', public)
        check("public figures: entries today", n_in.group(1) if n_in else "?", bool(n_in) and "王芳" not in public)
    return problems
