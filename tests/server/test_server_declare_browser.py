"""Issue 14 items 2 and 3 in a real browser (Chromium), at desktop and phone (390 px)
widths: a resident self-declares on the public phone page, staff approve it in the queue
(roster match shown), the resident's phone shows the pass QR, which a real decoder
(zxing-cpp) reads back and the firmware's own passes.validate accepts; the pass re-opens
on another phone with the link and the one-time code (a wrong code refused); the resident
invites a visitor for 2 h and the visitor's phone shows a visitor pass (role visitor, the
inviting unit, the window), listed for staff. No page scrolls sideways on the phone.
Screenshots: out/screenshots/declare/<width>-<step>.png (or $GATEPASS_ARTIFACTS)."""
from __future__ import annotations

import io
import re
import sqlite3
import time

import pytest

from gatepass.server.testing import LiveServer
from server_helpers import WIDTHS, artifacts_fixture, login, screenshot_dir

pytestmark = pytest.mark.browser


ARTIFACTS = screenshot_dir("declare")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("declare-browser")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "fl", "name": "枫林苑", "devices": [["bm-in", "北门", "in"]],
        "staff": [["guard1", "fl", "operator"]],
    }, env={"GATEPASS_LANGUAGE": "zh-hans", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}).start()
    srv.sqlite = home / "gatepass.sqlite3"
    yield srv
    srv.stop()


artifacts = artifacts_fixture(ARTIFACTS)


def _login(browser, live, viewport):
    ctx = browser.new_context(locale="zh-CN", viewport=viewport)
    page = ctx.new_page()
    login(page, live.url, "guard1", live.seeded["staff"]["guard1"])
    return ctx, page


def _shot(page, artifacts, width, name):
    page.screenshot(path=str(artifacts / ("%s-%s.png" % (width, name))), full_page=True)
    over = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert over <= 1, "%s %s: %d px wider than the screen" % (width, name, over)


def _qr_text(page, selector) -> str:
    import zxingcpp
    from PIL import Image

    img = Image.open(io.BytesIO(page.locator(selector).screenshot()))
    found = zxingcpp.read_barcodes(img)
    assert len(found) == 1, selector
    return found[0].text


def _validate(live, text):
    from gatepass.mp.fw import p256, passes

    with sqlite3.connect(live.sqlite) as conn:
        keys = {bytes.fromhex(k): p256.PublicKey(bytes.fromhex(p))
                for k, p in conn.execute("SELECT kid, pub FROM gatepass_issuerkey")}
    got = passes.validate(text, keys, "fl", int(time.time()))
    assert not isinstance(got, int), got
    return got


def _rel(url: str, live) -> str:
    m = re.search(r"/(?:m|v|declare)/[\w-]+/", url)
    assert m, url
    return live.url + m.group(0)


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_declare_approve_phone_pass_reopen_and_visitor(browser, live, artifacts, width):
    from gatepass.mp.fw import roles

    vp = WIDTHS[width]
    room = {"desktop": "1204", "phone": "1205"}[width]
    staff_ctx, staff = _login(browser, live, vp)
    # the roster: a person of unit 3-2-<room> (issued at the passes page)
    staff.goto(live.url + "/passes/")
    staff.fill("#id_name", "王芳" + width)
    staff.fill("#id_phone", "13800138%03d" % int(room[-3:]))
    staff.fill("#id_building", "3")
    staff.fill("#id_entrance", "2")
    staff.fill("#id_room", room)
    staff.click("button[type=submit]")
    staff.wait_for_url(re.compile(r".*/passes/\d+/card$"))
    staff.goto(live.url + "/declarations/poster/")
    _shot(staff, artifacts, width, "01-poster")
    declare_url = _rel(staff.inner_text("#poster-url"), live)
    assert _qr_text(staff, "#poster-qr").endswith(declare_url[len(live.url):])

    # the resident declares on the phone page (Chinese first)
    res_ctx = browser.new_context(locale="zh-CN", viewport=vp)
    res = res_ctx.new_page()
    res.goto(declare_url)
    assert res.inner_text("h1") == "居民自助申报"
    _shot(res, artifacts, width, "02-declare")
    res.click("#declare")  # empty: every field says what is missing, nothing sent
    res.wait_for_load_state()
    assert res.locator(".errorlist").count() >= 5
    _shot(res, artifacts, width, "03-declare-errors")
    res.fill("#id_name", "王芳" + width)
    res.fill("#id_phone", "138 0013 8%03d" % int(room[-3:]))
    res.fill("#id_building", "3")
    res.fill("#id_entrance", "2")
    res.fill("#id_room", room)
    res.check("#id_consent")
    res.click("#declare")
    res.wait_for_url(re.compile(r".*/m/[\w-]+/$"))
    assert res.inner_text("#state") == "等待工作人员审核"
    _shot(res, artifacts, width, "04-pending")
    own_link = res.url

    # staff: the queue shows the roster match; approve
    staff.goto(live.url + "/declarations/")
    row = staff.locator("#pending tr", has_text="王芳" + width)
    assert "姓名和电话与居民名册一致" in row.inner_text()
    _shot(staff, artifacts, width, "05-queue")
    row.locator("button[name=approve]").click()
    staff.wait_for_load_state()
    code = staff.inner_text("#phone-code")
    phone_url = _rel(staff.inner_text("#phone-url"), live)
    assert re.fullmatch(r"\d{4} \d{4}", code)
    _shot(staff, artifacts, width, "06-slip")

    # the resident's phone now shows the pass: the QR decodes and the firmware accepts it
    res.goto(own_link)
    assert res.inner_text("#state") == "有效"
    _shot(res, artifacts, width, "07-pass")
    text = _qr_text(res, "#pass-qr")
    assert text.startswith("GP1:")
    got = _validate(live, text)
    assert (got.role, got.unit()) == (roles.RESIDENT, "3-2-" + room)
    body = res.inner_text("body")
    assert "王芳" not in body and "13800138" not in body and "138 0013" not in body

    # another phone: the link alone shows no pass; a wrong code is refused; the code opens it once
    other_ctx = browser.new_context(locale="zh-CN", viewport=vp)
    other = other_ctx.new_page()
    other.goto(phone_url)
    assert other.locator("#pass-qr").count() == 0
    _shot(other, artifacts, width, "08-code")
    other.fill("#code", "0000 0000" if code != "0000 0000" else "1111 1111")
    other.click("#open")
    other.wait_for_load_state()
    assert other.inner_text("#code-error") == "验证码错误、已使用或已过期。"
    _shot(other, artifacts, width, "09-code-wrong")
    other.fill("#code", code)
    other.click("#open")
    other.wait_for_url(phone_url)
    assert _qr_text(other, "#pass-qr") == text
    _shot(other, artifacts, width, "10-reopened")
    other_ctx.close()

    # the resident invites a visitor for 2 hours
    res.select_option("#hours", "2")
    res.click("#invite")
    res.wait_for_load_state()
    visitor_url = _rel(res.inner_text("#visitor-url"), live)
    _shot(res, artifacts, width, "11-invited")
    vis_ctx = browser.new_context(locale="zh-CN", viewport=vp)
    vis = vis_ctx.new_page()
    vis.goto(visitor_url)
    assert vis.inner_text("#state") == "有效" and vis.inner_text("#unit") == "3-2-" + room
    _shot(vis, artifacts, width, "12-visitor-pass")
    vgot = _validate(live, _qr_text(vis, "#pass-qr"))
    assert (vgot.role, vgot.unit()) == (roles.VISITOR, "3-2-" + room)
    assert 2 * 3600 <= vgot.exp - vgot.nbf <= 2 * 3600 + 60
    vis_ctx.close()
    res_ctx.close()

    # staff see the invitation: unit, window, who invited
    staff.goto(live.url + "/visitors/")
    row = staff.locator("#invitations tbody tr", has_text="3-2-" + room).first
    assert "居民" in row.inner_text()
    _shot(staff, artifacts, width, "13-visitors")
    staff_ctx.close()


def test_staff_invite_and_english_pages(browser, live, artifacts):
    ctx = browser.new_context(locale="en-US", viewport=WIDTHS["phone"])
    page = ctx.new_page()
    login(page, live.url, "guard1", live.seeded["staff"]["guard1"])
    page.goto(live.url + "/visitors/")
    page.fill("#building", "5")
    page.fill("#entrance", "1")
    page.fill("#room", "101")
    page.select_option("#hours", "3")
    page.fill("#note", "plumber")
    page.click("#invite")
    page.wait_for_load_state()
    url = _rel(page.inner_text("#visitor-url"), live)
    _shot(page, artifacts, "phone", "20-staff-invite-en")
    vis = browser.new_context(locale="en-US", viewport=WIDTHS["phone"]).new_page()
    vis.goto(url)
    assert vis.inner_text("h1") == "Visitor pass" and vis.inner_text("#unit") == "5-1-101"
    assert "plumber" not in vis.inner_text("body")
    _shot(vis, artifacts, "phone", "21-visitor-pass-en")
    page.goto(live.url + "/declarations/")
    decl = page.inner_text("#declare-link")
    vis.goto(_rel(decl, live))
    assert vis.inner_text("h1") == "Resident self-declaration"
    _shot(vis, artifacts, "phone", "22-declare-en")
    ctx.close()
