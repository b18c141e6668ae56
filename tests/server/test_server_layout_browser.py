"""Every staff page fits a phone (issue 14.5): walked in Chromium at 390 px and at desktop
width, the page does not scroll sideways (document scrollWidth <= viewport) and no table
is wider than the screen (on a phone tables are stacked cards; only a table marked
`keep` may scroll inside its own box). The pages are found in the URLconf (namespace
`gatepass`), so a page added later joins the walk by itself: a route with a parameter
needs a row in PARAMS (the test says so), an action (POST only) or a download is
recognised by its answer. Screenshots: out/screenshots/layout/<width>-<route>.png.

Before this change the tables of six pages were 822-1080 px wide on a 390 px phone
(inside sideways-scrolling boxes).
"""
from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from gatepass.hmacauth import DeviceClient
from gatepass.mp.fw import reasons, record
from gatepass.server.testing import LiveServer, manage
from server_helpers import WIDTHS, artifacts_fixture, dj, fever, login, rec, screenshot_dir  # noqa: F401

pytestmark = pytest.mark.browser

T, IN, OUT, OK = record.F_TIME_TRUSTED, record.F_IN, record.F_OUT, record.F_ALLOWED


ARTIFACTS = screenshot_dir("layout")

# A route with parameters: url name -> {parameter: SQL giving its value in the walk's database}.
# A new route with a parameter fails the walk until it has a row here.
PARAMS = {
    "pass_card": {"pk": "SELECT id FROM gatepass_pass ORDER BY id LIMIT 1"},
    "pass_revoke": {"pk": "SELECT id FROM gatepass_pass ORDER BY id LIMIT 1"},
    "alert_ack": {"pk": "SELECT id FROM gatepass_alert ORDER BY id LIMIT 1"},
    "quarantine_lift": {"pk": "SELECT id FROM gatepass_quarantine ORDER BY id LIMIT 1"},
    "device_command": {"pk": "SELECT id FROM gatepass_device ORDER BY id LIMIT 1"},
    "figures_export": {"fmt": "SELECT 'csv'"},
    "public_figures": {"token": "SELECT token FROM gatepass_publicfigures WHERE published LIMIT 1"},
    "public_figures_export": {"token": "SELECT token FROM gatepass_publicfigures WHERE published LIMIT 1",
                              "fmt": "SELECT 'pdf'"},
    "isolation_extend": {"pk": "SELECT id FROM gatepass_isolation ORDER BY id LIMIT 1"},
    "isolation_release": {"pk": "SELECT id FROM gatepass_isolation ORDER BY id LIMIT 1"},
    "isolation_certificate": {"pk": "SELECT id FROM gatepass_isolation ORDER BY id LIMIT 1"},
    "declaration_approve": {"pk": "SELECT id FROM gatepass_declaration ORDER BY id LIMIT 1"},
    "declaration_reject": {"pk": "SELECT id FROM gatepass_declaration ORDER BY id LIMIT 1"},
    "pass_phone_code": {"pk": "SELECT id FROM gatepass_pass ORDER BY id LIMIT 1"},
    "pass_card_pdf": {"pk": "SELECT id FROM gatepass_pass ORDER BY id LIMIT 1"},
    "visitor_cancel": {"pk": "SELECT id FROM gatepass_visitorinvite ORDER BY id LIMIT 1"},
    "rollout_advance": {"pk": "SELECT id FROM gatepass_rollout ORDER BY id LIMIT 1"},
    "rollout_stop": {"pk": "SELECT id FROM gatepass_rollout ORDER BY id LIMIT 1"},
}
# extra query strings worth a look (the same page with more on it)
VARIANTS = {"alerts": ["?all=1"], "events": ["?pid=xyz"]}


def staff_routes() -> list[tuple[str, str]]:
    """(url name, route) of every route in the `gatepass` namespace of the URLconf."""
    from django.urls import URLPattern, URLResolver, get_resolver

    out = []

    def walk(patterns, prefix, ns):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern), p.namespace or ns)
            elif isinstance(p, URLPattern) and ns == "gatepass":
                out.append((p.name, prefix + str(p.pattern)))

    walk(get_resolver().url_patterns, "", None)
    return out


@pytest.fixture(scope="module")
def live(tmp_path_factory, dj):
    home = tmp_path_factory.mktemp("layout")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "fl", "name": "枫林苑",
        "devices": [["bm-in", "北门", "in"], ["bm-out", "北门", "out"], ["nm-in", "南门", "in"]],
        "more": [{"community": "oak", "name": "Oak Yard", "devices": [["o-in", "Oak gate", "in"]]}],
    }, env={"GATEPASS_LANGUAGE": "zh-hans", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}).start()
    srv.sqlite = home / "gatepass.sqlite3"
    now = int(time.time()) - 5
    cl = lambda did: DeviceClient(srv.url, did, srv.seeded["devices"][did]["secret"])  # noqa: E731
    assert cl("bm-in").post_events(
        b"".join(rec(s, now) for s in range(1, 4)) + rec(4, now, reason=reasons.EXPIRED, flags=T | IN)
        + fever(5, now, body=3861) + rec(6, now, kind=record.K_DOOR_FORCED, reason=0, flags=T | record.F_URGENT)
    ).status == 200
    assert cl("bm-out").post_events(rec(1, now, flags=T | OK | OUT) + rec(
        2, now, reason=reasons.QUARANTINED, flags=T | OUT | record.F_URGENT)).status == 200
    # a published firmware release rolling out to bm-in: the releases page with a rollout on it
    manage(srv.db, home, "shell", "-c", "; ".join([
        "from gatepass.issuing import keys, release",
        "from gatepass.server import releases",
        "from gatepass.server.models import FirmwareKey",
        "k = keys.generate()",
        "FirmwareKey.objects.create(community_id='fl', kid=k.kid.hex(), pub=k.pub65.hex())",
        "b = b'M\\x06gate'",
        "releases.start(releases.publish_files('fl', release.build(k, {'app/gate.mpy': b}, 1, 6), 'mpy', [b]), "
        "['bm-in'])"]))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def storage(browser, live, tmp_path_factory):
    """A logged-in session, with a pass and a quarantine made through the pages."""
    ctx = browser.new_context(locale="zh-CN", viewport=WIDTHS["desktop"])
    page = ctx.new_page()
    login(page, live.url, *live.staff)
    page.goto(live.url + "/rules/")
    page.fill("#id_building", "3")
    page.fill("#id_entrance", "2")
    page.fill("#id_note", "密接，14天后复查并出具解除隔离证明")
    page.click("button[name=add_quarantine]")
    page.wait_for_load_state()
    page.goto(live.url + "/passes/")
    page.fill("#id_name", "欧阳娜娜")
    page.fill("#id_building", "3")
    page.fill("#id_entrance", "2")
    page.fill("#id_room", "1204")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/passes/\d+/card$"))
    page.goto(live.url + "/figures/")
    page.click("#publish-button")  # the public daily figures join the walk
    page.wait_for_load_state()
    page.goto(live.url + "/isolation/")  # a home isolation (its list row holds a date input and two buttons)
    page.fill("#id_who", "3-2-1204")
    page.fill("#id_note", "返乡人员，居家隔离14天后出具解除隔离证明")
    page.click("button[name=add_isolation]")
    page.wait_for_load_state()
    # a self-declaration waiting in the queue (through the public page) and a visitor invitation
    page.goto(live.url + "/declarations/")
    declare_url = page.inner_text("#declare-link")
    page.goto(declare_url[declare_url.index("/declare/"):].join([live.url, ""]))
    page.fill("#id_name", "欧阳娜娜")
    page.fill("#id_phone", "13800138000")
    page.fill("#id_building", "3")
    page.fill("#id_entrance", "2")
    page.fill("#id_room", "1204")
    page.check("#id_consent")
    page.click("#declare")
    page.wait_for_url(re.compile(r".*/m/[\w-]+/$"))
    page.goto(live.url + "/visitors/")
    page.fill("#building", "3")
    page.fill("#entrance", "2")
    page.fill("#room", "1204")
    page.click("#invite")
    page.wait_for_load_state()
    path = tmp_path_factory.mktemp("layout-state") / "state.json"
    ctx.storage_state(path=str(path))
    ctx.close()
    return str(path)


artifacts = artifacts_fixture(ARTIFACTS)


def _fill(route: str, name: str, db: Path) -> str:
    params = re.findall(r"<(?:\w+:)?(\w+)>", route)
    if not params:
        return "/" + route
    if name not in PARAMS:
        raise AssertionError("route %r (%s) has parameters %s: add it to PARAMS in %s"
                             % (route, name, params, Path(__file__).name))
    with sqlite3.connect(db) as conn:
        values = {k: conn.execute(sql).fetchone()[0] for k, sql in PARAMS[name].items()}
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


WIDTH_PROBE = """() => {
    const vw = window.innerWidth;
    const tables = Array.from(document.querySelectorAll('table')).filter(t => !t.closest('table.keep'));
    const widest = tables.reduce((m, t) => Math.max(m, Math.ceil(t.getBoundingClientRect().width)), 0);
    const wide = tables.filter(t => t.getBoundingClientRect().right > vw + 1).map(t => t.id || t.className || 'table');
    return {vw, scroll: document.documentElement.scrollWidth, widest, wide};
}"""


def measure(page) -> dict:
    return page.evaluate(WIDTH_PROBE)


def test_every_staff_page_fits_a_phone_and_a_desktop(browser, live, storage, artifacts):
    routes = staff_routes()
    assert len(routes) >= 14 and "board" in dict(routes)
    widths, problems, pages = {}, [], []
    for width, viewport in WIDTHS.items():
        ctx = browser.new_context(locale="zh-CN", viewport=viewport, storage_state=storage)
        page = ctx.new_page()
        for name, route in routes + [("login", "login/")]:
            base = _fill(route, name, live.sqlite)
            for variant in [""] + VARIANTS.get(name, []):
                if name == "login":
                    ctx.clear_cookies()
                head = ctx.request.get(live.url + base + variant)
                if head.status == 405 or "text/html" not in head.headers.get("content-type", ""):
                    continue  # an action (POST only) or a download, not a page
                r = page.goto(live.url + base + variant)
                assert r.status == 200, (name, base, r.status)
                m = measure(page)
                key = "%s%s" % (name, variant)
                widths[(width, key)] = m
                pages.append((width, key))
                page.screenshot(path=str(artifacts / ("%s-%s.png" % (width, re.sub(r"\W+", "_", key)))),
                                full_page=True)
                if m["scroll"] > m["vw"]:
                    problems.append("%s %s: page %d px wide on a %d px screen" % (width, key, m["scroll"], m["vw"]))
                if m["wide"]:
                    problems.append("%s %s: tables %s %d px wide on a %d px screen"
                                    % (width, key, m["wide"], m["widest"], m["vw"]))
        ctx.close()
    print("\n".join("%-8s %-24s page %4d px, widest table %4d px" % (w, k, v["scroll"], v["widest"])
                    for (w, k), v in sorted(widths.items())))
    assert not problems, "\n".join(problems)
    # every page of the console was seen at both widths (the walk is not vacuous)
    for must in ("board", "alerts", "alerts?all=1", "events", "devices", "rules", "passes", "pass_card", "members",
                 "audit", "login"):
        assert ("phone", must) in pages and ("desktop", must) in pages, must


def test_phone_menu_folds_and_unfolds(browser, live, storage, artifacts):
    ctx = browser.new_context(locale="en-US", viewport=WIDTHS["phone"], storage_state=storage)
    page = ctx.new_page()
    page.goto(live.url + "/events/")
    nav = page.locator("header nav")
    assert not nav.is_visible() and page.locator("#menu-toggle").is_visible()
    # the header is one line: brand and menu button
    assert page.locator("header").bounding_box()["height"] < 70
    page.click("#menu-toggle")
    assert nav.is_visible() and page.locator("#language").is_visible()
    assert page.locator("#menu-toggle").get_attribute("aria-expanded") == "true"
    page.screenshot(path=str(artifacts / "phone-menu-open.png"), full_page=True)
    page.click("header nav >> text=Devices")
    page.wait_for_url(live.url + "/devices/")
    assert not page.locator("header nav").is_visible()
    # on a phone, a table row is a card whose cells carry their column's heading
    cell = page.locator('#devices tr[data-device="bm-in"] td').nth(1)
    assert cell.get_attribute("data-label") == "Gate"
    assert page.evaluate("getComputedStyle(document.querySelector('#devices tbody tr')).display") == "block"
    ctx.close()
    # the desktop shows the links, no menu button
    ctx = browser.new_context(locale="en-US", viewport=WIDTHS["desktop"], storage_state=storage)
    page = ctx.new_page()
    page.goto(live.url + "/events/")
    assert page.locator("header nav").is_visible() and not page.locator("#menu-toggle").is_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('#events tbody tr')).display") == "table-row"
    ctx.close()
