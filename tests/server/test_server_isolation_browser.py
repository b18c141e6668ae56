"""The home-isolation page in a real browser (Chromium) at desktop and phone (390 px)
widths: isolate a person by unit, see them listed with the days left, extend the end,
release them and print the release certificate; a viewer sees the list but no actions.
Screenshots: out/screenshots/isolation/ (or $GATEPASS_ARTIFACTS)."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from gatepass.server.testing import LiveServer
from server_helpers import WIDTHS, artifacts_fixture, login, screenshot_dir

pytestmark = pytest.mark.browser


ARTIFACTS = screenshot_dir("isolation")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("isolation-browser")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "maple", "name": "Maple Court", "devices": [["m-out", "North gate", "out"]],
        "staff": [["reader", "maple", "viewer"]],
    }, env={"GATEPASS_LANGUAGE": "en", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}).start()
    yield srv
    srv.stop()


artifacts = artifacts_fixture(ARTIFACTS)


def _no_sideways(page, what):
    over = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert over <= 1, "%s: %d px wider than the screen" % (what, over)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_isolate_extend_release_and_certificate(browser, live, artifacts, width):
    room = {"desktop": 1203, "phone": 1204}[width]
    name = {"desktop": "Li Wei", "phone": "Wang Fang"}[width]
    ctx = browser.new_context(locale="en-US", viewport=WIDTHS[width])
    page = ctx.new_page()
    login(page, live.url, *live.staff)
    # a registered person: issue their pass on the passes page
    page.goto(live.url + "/passes/")
    page.fill("#id_name", name)
    page.fill("#id_building", "3")
    page.fill("#id_entrance", "1")
    page.fill("#id_room", str(room))
    page.click("text=Issue and print")
    page.wait_for_url(re.compile(r".*/passes/\d+/card$"))
    # isolate by unit
    page.goto(live.url + "/isolation/")
    if width == "phone" and page.locator("#menu-toggle").is_visible():
        page.click("#menu-toggle")  # the nav folds on a phone: the entry is there
        assert page.locator("nav a[href='/isolation/']").is_visible()
        page.click("#menu-toggle")
    page.fill("#id_who", "3-1-%d" % room)
    page.fill("#id_days", "14")
    page.fill("#id_note", "returnee")
    page.click("button[name=add_isolation]")
    page.wait_for_load_state()
    assert "Home isolation of %s until" % name in page.inner_text(".messages")
    row = page.locator("#isolated tbody tr", has_text=name)
    assert row.count() == 1
    text = row.inner_text()
    assert "3-1-%d" % room in text and "14" in text and "returnee" in text
    _no_sideways(page, "isolation list")
    page.screenshot(path=str(artifacts / ("%s-list.png" % width)), full_page=True)
    # extend by a week
    field = row.locator("input[type=datetime-local]")
    end = dt.datetime.strptime(field.input_value(), "%Y-%m-%dT%H:%M") + dt.timedelta(days=7)
    field.fill(end.strftime("%Y-%m-%dT%H:%M"))
    row.locator("button.extend").click()
    page.wait_for_load_state()
    assert "now until" in page.inner_text(".messages")
    row = page.locator("#isolated tbody tr", has_text=name)
    assert row.locator("td.num").inner_text().strip() == "21"
    # release: the certificate
    row.locator("button.release").click()
    page.wait_for_url(re.compile(r".*/isolation/\d+/certificate$"))
    cert = page.inner_text("#certificate")
    assert name in cert and "3-1-%d" % room in cert and "Maple Court" in cert
    assert re.search(r"Released from home isolation at .+ by staff member %s\." % re.escape(live.staff[0]), cert)
    _no_sideways(page, "certificate")
    page.screenshot(path=str(artifacts / ("%s-certificate.png" % width)), full_page=True)
    page.goto(live.url + "/isolation/")
    assert page.locator("#isolated tbody tr", has_text=name).count() == 0
    assert page.locator("#isolation-ended tbody tr", has_text=name).count() == 1
    ctx.close()


def test_viewer_reads_the_list_without_actions(browser, live, artifacts):
    ctx = browser.new_context(locale="en-US", viewport=WIDTHS["phone"])
    page = ctx.new_page()
    login(page, live.url, "reader", live.seeded["staff"]["reader"])
    page.goto(live.url + "/isolation/")
    assert page.inner_text("h1") == "Home isolation"
    assert page.locator("#isolate-form").count() == 0
    assert page.locator("button.release, button.extend").count() == 0
    _no_sideways(page, "viewer list")
    page.screenshot(path=str(artifacts / "phone-viewer.png"), full_page=True)
    ctx.close()
