"""The console in Chromium (issue 14.5), at desktop and phone (390 px) widths: an urgent
event uploaded while a page is open shows in the live banner without a reload, with its
sound (after the first gesture: browsers block audio before it, and the banner says so),
and is acknowledged from the banner; another community's alert never shows; a gate that
goes silent shows as an offline alert live and on the devices page; occupancy; the
board's day picker. Screenshots: out/screenshots/console/."""
from __future__ import annotations

import datetime as dt
import sqlite3
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from gatepass.mp.fw import reasons, record
from gatepass.server.testing import LiveServer
from server_helpers import WIDTHS, artifacts_fixture, fever, login, rec, screenshot_dir

pytestmark = pytest.mark.browser

T, IN, OUT, OK = record.F_TIME_TRUSTED, record.F_IN, record.F_OUT, record.F_ALLOWED


ARTIFACTS = screenshot_dir("console")


artifacts = artifacts_fixture(ARTIFACTS)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("console")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "fl", "name": "枫林苑",
        "devices": [["bm-in", "北门", "in"], ["bm-out", "北门", "out"], ["nm-in", "南门", "in"]],
        "more": [{"community": "oak", "name": "Oak Yard", "devices": [["o-in", "Oak gate", "in"]]}],
        "staff": [["guard", "fl", "operator"]],
    }, env={"GATEPASS_LANGUAGE": "zh-hans", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}).start()
    srv.sqlite = home / "gatepass.sqlite3"
    now = int(time.time()) - 120
    # three people in, one of them back out: two inside
    assert srv.gate("bm-in").post_events(b"".join(
        rec(s, now + s, pid=bytes([0, 0, 0, 0, 0, 0, 0, s])) for s in range(1, 4))).status == 200
    assert srv.gate("bm-out").post_events(
        rec(1, now + 10, pid=bytes([0, 0, 0, 0, 0, 0, 0, 2]), flags=T | OK | OUT)).status == 200
    yield srv
    srv.stop()


def _login(browser, live, width, locale="zh-CN"):
    ctx = browser.new_context(locale=locale, viewport=WIDTHS[width])
    page = ctx.new_page()
    login(page, live.url, "guard", live.seeded["staff"]["guard"])
    page.wait_for_function("window.gatepassLive && window.gatepassLive.polls >= 1")
    return ctx, page


SEQ = {"bm-in": 10, "bm-out": 10, "o-in": 0}


def _send(live, did, **kw):
    SEQ[did] += 1
    r = live.gate(did).post_events(rec(SEQ[did], int(time.time()), **kw))
    assert r.status == 200


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_an_urgent_event_arrives_in_the_banner_without_a_reload(browser, live, artifacts, width):
    ctx, page = _login(browser, live, width)
    page.evaluate("window.__same_document = true")
    assert page.locator("#live li.live-fever, #live li.live-urgent").count() == 0  # nothing open yet
    if width == "desktop":  # a fever at the north gate
        _send(live, "bm-in", reason=reasons.FEVER, flags=T | IN | record.F_URGENT | record.F_ALARM, body=3880)
        kind = "fever"
    else:  # a quarantined resident tries to go out
        _send(live, "bm-out", reason=reasons.QUARANTINED, flags=T | OUT | record.F_URGENT)
        kind = "urgent"
    _send(live, "o-in", reason=reasons.FEVER, flags=T | IN | record.F_URGENT, body=3990)  # not this guard's
    item = page.locator("#live li.live-%s" % kind)
    item.wait_for(timeout=20000)
    assert page.evaluate("window.__same_document") is True  # no reload happened
    text = item.inner_text()
    assert "北门" in text and "Oak" not in page.inner_text("#live")
    if kind == "fever":
        assert "38.80 °C" in text and "体温异常" in text
    else:
        assert reasons.message(reasons.QUARANTINED, "zh") in text
    assert "未处理告警：1" in page.inner_text("#live .live-bar")
    # sound: the browser holds it until a gesture; then the due beep plays
    audio = page.evaluate("window.gatepassLive.audio ? window.gatepassLive.audio.state : 'none'")
    if audio != "running":
        assert page.locator("#live .sound-hint").is_visible()
        assert "点击或轻触本页" in page.inner_text("#live .sound-hint")
    page.screenshot(path=str(artifacts / ("%s-banner-before-gesture.png" % width)), full_page=False)
    page.mouse.click(5, page.viewport_size["height"] - 5)
    page.wait_for_function("window.gatepassLive.beeps >= 1", timeout=5000)
    assert page.locator("#live .sound-hint").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    page.screenshot(path=str(artifacts / ("%s-banner.png" % width)), full_page=False)
    # acknowledged from the banner: gone here, recorded on the alerts page
    item.locator("button.ack").click()
    item.wait_for(state="detached", timeout=10000)
    assert page.evaluate("window.__same_document") is True
    page.goto(live.url + "/alerts/?all=1")
    assert "guard" in page.inner_text("tr.alert-%s" % kind)
    ctx.close()


def test_mute_is_remembered_and_a_muted_console_stays_silent(browser, live, artifacts):
    ctx, page = _login(browser, live, "desktop", locale="en-US")
    page.mouse.click(5, 5)  # unlock the sound first: muting, not the browser, must stop it
    _send(live, "bm-in", reason=reasons.FEVER, flags=T | IN | record.F_URGENT, body=3900)
    page.locator("#live li.live-fever").wait_for(timeout=20000)
    page.wait_for_function("window.gatepassLive.beeps >= 1", timeout=5000)
    page.click("#live .live-mute")
    assert page.inner_text("#live .live-mute") == "Sound off"
    page.reload()
    page.locator("#live li.live-fever").wait_for(timeout=20000)
    assert page.inner_text("#live .live-mute") == "Sound off"  # kept in this browser
    page.mouse.click(5, 5)
    _send(live, "bm-in", reason=reasons.FEVER, flags=T | IN | record.F_URGENT, body=3910)
    page.wait_for_function("document.querySelectorAll('#live li.live-fever').length >= 2", timeout=20000)
    assert page.evaluate("window.gatepassLive.beeps") == 0 and page.locator("#live .sound-hint").count() == 0
    # one by one: every acknowledgement (and any poll with news) re-renders the banner, so a
    # list of its buttons taken before goes stale (the second one may be gone by then)
    fevers, ack = page.locator("#live li.live-fever"), page.locator("#live li.live-fever button.ack:not([disabled])")
    for _ in range(20):
        if fevers.count() == 0:
            break
        try:
            ack.first.click(timeout=3000)
        except PlaywrightTimeoutError:
            pass  # re-rendered or acknowledged meanwhile: look again
    page.wait_for_function("document.querySelectorAll('#live li.live-fever').length == 0", timeout=10000)
    ctx.close()


def test_a_silent_gate_shows_live_and_on_the_devices_page(browser, live, artifacts):
    assert live.gate("nm-in").post_events(rec(1, int(time.time()), kind=record.K_BOOT, flags=T)).status == 200
    ctx, page = _login(browser, live, "phone")
    page.evaluate("window.__same_document = true")
    # as if the gate had not been heard from for ten minutes
    with sqlite3.connect(live.sqlite) as conn:
        old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S.%f")
        conn.execute("UPDATE gatepass_device SET last_seen = ? WHERE id = 'nm-in'", (old,))
    item = page.locator("#live li.live-offline")
    item.wait_for(timeout=20000)
    assert page.evaluate("window.__same_document") is True
    assert "南门" in item.inner_text() and "离线" in item.inner_text()
    page.screenshot(path=str(artifacts / "phone-offline-banner.png"), full_page=False)
    page.goto(live.url + "/devices/")
    row = page.locator('#devices tr[data-device="nm-in"]')
    assert "离线：无心跳，告警未处理" in row.inner_text()
    page.screenshot(path=str(artifacts / "phone-devices-offline.png"), full_page=True)
    page.locator("#live li.live-offline button.ack").click()
    page.locator("#live li.live-offline").wait_for(state="detached", timeout=10000)
    ctx.close()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_occupancy_and_the_boards_day(browser, live, artifacts, width):
    ctx, page = _login(browser, live, width)
    if width == "phone":
        page.click("#menu-toggle")
    page.click("header nav >> text=当前在内")
    page.wait_for_url(live.url + "/occupancy/")
    assert page.inner_text("#inside-total") == "2"
    pids = page.eval_on_selector_all("#inside tbody tr", "rs => rs.map(r => r.dataset.pid)")
    assert sorted(pids) == ["0000000000000001", "0000000000000003"]
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    page.screenshot(path=str(artifacts / ("%s-occupancy.png" % width)), full_page=True)
    # the board: yesterday, then back to today
    page.goto(live.url + "/")
    today = page.get_attribute("#day", "value")
    page.click("#prev-day")
    page.wait_for_url("**/?day=*")
    assert page.get_attribute("#day", "value") != today and page.locator("#to-today").is_visible()
    assert page.inner_text("#total td.in") == "0"
    page.fill("#day", today)  # the date picker itself
    page.click("#day-form button[type=submit]")
    page.wait_for_url("**/?day=%s" % today)
    assert page.inner_text("#total td.in") == "3"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    page.screenshot(path=str(artifacts / ("%s-board-day.png" % width)), full_page=True)
    ctx.close()
