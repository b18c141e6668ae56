"""The roster import page and the events page in a real browser (Playwright Chromium) at
desktop (1280 px) and phone (390 px) widths, in Chinese: an operator uploads a GBK roster
with a bad row (the problems are listed per line in Chinese, nothing imported), uploads
the corrected file, reads the preview, confirms; the people page lists them; a passage
of an imported resident shows on the events page with name, unit, gate and direction,
the reason's message and flags in words. No page scrolls sideways. Screenshots under
out/screenshots/people/ (or $GATEPASS_ARTIFACTS)."""
from __future__ import annotations

import re
import sqlite3
import time

import pytest

from gatepass.hmacauth import DeviceClient
from gatepass.mp.fw import reasons, record
from gatepass.server.testing import LiveServer
from server_helpers import WIDTHS, artifacts_fixture, login, rec, screenshot_dir

pytestmark = pytest.mark.browser

GOOD = ("姓名,电话,房号,身份,备注\n"
        "李伟,13800000001,3栋1单元1203室,居民,\n"
        "王芳,13800000002,3-1-1204,居民,独居老人\n"
        "赵敏,,,物业,保安\n")
BAD = GOOD + "张强,,三栋,居民,\n"


ARTIFACTS = screenshot_dir("people")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("people-browser")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "fl", "name": "枫林苑", "devices": [["bm-in", "北门", "in"], ["bm-out", "北门", "out"]],
    }, env={"GATEPASS_LANGUAGE": "zh-hans", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}).start()
    yield srv
    srv.stop()


artifacts = artifacts_fixture(ARTIFACTS)


def _fits(page) -> int:
    over = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if over > 1:
        print(page.evaluate("""() => Array.from(document.querySelectorAll('*')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""))
    return over


def _shot(page, name):
    page.screenshot(path=str(ARTIFACTS / (name + ".png")), full_page=True)


def _pid(live, name) -> bytes:
    with sqlite3.connect(live.db[len("sqlite:///"):]) as conn:
        (pid,) = conn.execute("SELECT p.pid FROM gatepass_pass p JOIN gatepass_person pe ON pe.id = p.person_id "
                              "WHERE pe.name = ?", (name,)).fetchone()
    return bytes.fromhex(pid)


def test_import_page_then_events_page_at_desktop_and_phone(browser, live, artifacts, tmp_path):
    bad, good = tmp_path / "名单-有错.csv", tmp_path / "名单.csv"
    bad.write_bytes(BAD.encode("gbk"))
    good.write_bytes(GOOD.encode("gbk"))
    for n, (width, viewport) in enumerate(WIDTHS.items()):
        ctx = browser.new_context(locale="zh-CN", viewport=viewport)
        page = ctx.new_page()
        login(page, live.url, *live.staff)
        if width == "phone":
            page.click("#menu-toggle")
        page.click("nav a[href='/people/']")
        page.wait_for_url(live.url + "/people/")
        page.click("#import-link")
        page.wait_for_url(live.url + "/people/import")
        assert "导入名单" in page.inner_text("h1") and _fits(page) <= 1
        _shot(page, "%s-import-form" % width)
        # a bad row: every problem with its line, in Chinese; nothing to confirm
        page.set_input_files("#id_roster", str(bad))
        page.click("#upload button[type=submit]")
        page.wait_for_selector("#problems")
        problems = page.inner_text("#problem-rows")
        assert "5" in problems and "房号" in problems and "不是“楼-单元-室”" in problems, problems
        assert page.locator("#confirm").count() == 0 and _fits(page) <= 1
        _shot(page, "%s-import-problems" % width)
        # the corrected file: the preview, then the import
        page.set_input_files("#id_roster", str(good))
        page.click("#upload button[type=submit]")
        page.wait_for_selector("#preview")
        preview = page.inner_text("#preview")
        if n == 0:
            assert "新人员" in preview and "新发通行证" in preview
        else:  # the second width imports the same roster again: nothing new
            assert "新人员" not in page.inner_text("#preview-rows") and "已有有效通行证" in preview
        assert _fits(page) <= 1
        _shot(page, "%s-import-preview" % width)
        page.click("#confirm")
        page.wait_for_url(live.url + "/people/")
        msg = page.inner_text(".messages")
        assert ("新增 3 人" if n == 0 else "新增 0 人，变更 0 人，无变化 3 人") in msg, msg
        body = page.inner_text("#people")
        assert "李伟" in body and "3-1-1203" in body and "独居老人" in body and _fits(page) <= 1
        _shot(page, "%s-people" % width)
        ctx.close()
    with sqlite3.connect(live.db[len("sqlite:///"):]) as conn:
        assert conn.execute("SELECT count(*) FROM gatepass_person").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM gatepass_auditentry WHERE action = 'roster_import'").fetchone() \
            == (2,)

    # the gate logs the residents' passes; the events page says who and where
    now = int(time.time()) - 5
    cl = lambda did: DeviceClient(live.url, did, live.seeded["devices"][did]["secret"])  # noqa: E731
    assert cl("bm-in").post_events(rec(1, now, pid=_pid(live, "李伟"))).status == 200
    assert cl("bm-out").post_events(rec(1, now, reason=reasons.QUARANTINED,
                                        flags=record.F_TIME_TRUSTED | record.F_OUT | record.F_URGENT
                                        | record.F_ALARM, pid=_pid(live, "王芳"))).status == 200
    for width, viewport in WIDTHS.items():
        ctx = browser.new_context(locale="zh-CN", viewport=viewport)
        page = ctx.new_page()
        login(page, live.url, *live.staff)
        page.goto(live.url + "/events/")
        rows = page.locator("#events tbody tr")
        texts = [rows.nth(i).inner_text() for i in range(rows.count())]
        li = next(t for t in texts if "李伟" in t)
        wang = next(t for t in texts if "王芳" in t)
        assert "3-1-1203" in li and "北门 · 进" in li and "13800000001" in li
        assert "3-1-1204" in wang and "北门 · 出" in wang and reasons.message(reasons.QUARANTINED, "zh") in wang
        assert "紧急" in wang and "已报警" in wang and not re.search(r"0x[0-9a-f]{2}", wang)
        assert _fits(page) <= 1, width
        _shot(page, "%s-events" % width)
        page.goto(live.url + "/alerts/")
        alert = page.inner_text("#alerts")
        assert "王芳" in alert and "3-1-1204" in alert and "北门 · 出" in alert and _fits(page) <= 1
        _shot(page, "%s-alerts" % width)
        ctx.close()
