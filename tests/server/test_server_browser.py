"""Staff pages in a real headless browser (Debian chromium driven by Playwright):
login, today's board against the uploaded events, the fever alert, CSV export."""
from __future__ import annotations

import csv
import io
import time

import pytest

from gatepass.hmacauth import DeviceClient
from gatepass.mp.fw import reasons, record
from gatepass.server.testing import LiveServer
from server_helpers import fever, login, rec

pytestmark = pytest.mark.browser

T, IN, OUT, OK = record.F_TIME_TRUSTED, record.F_IN, record.F_OUT, record.F_ALLOWED


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "maple", "name": "Maple Court",
        "devices": [["n-in", "North gate", "in"], ["n-out", "North gate", "out"], ["s-in", "South gate", "in"]],
    }).start()
    now = int(time.time()) - 5
    cl = lambda did: DeviceClient(srv.url, did, srv.seeded["devices"][did]["secret"])  # noqa: E731
    r = cl("n-in").post_events(
        b"".join(rec(s, now) for s in range(1, 6))
        + rec(6, now, reason=reasons.EXPIRED, flags=T | IN)
        + fever(7, now, body=3861)
        + rec(8, now - 2 * 86400))  # two days ago: not on today's board
    assert r.status == 200 and r.json()["stored"] == 8
    r = cl("n-out").post_events(
        b"".join(rec(s, now, flags=T | OK | OUT) for s in range(1, 4))
        + rec(4, now, reason=reasons.QUARANTINED, flags=T | OUT | record.F_URGENT))
    assert r.status == 200 and r.json()["stored"] == 4
    yield srv
    srv.stop()


def _login(page, live):
    page.goto(live.url + "/")
    assert "/login/" in page.url  # nothing shown without a login
    login(page, live.url, *live.staff)


def _cells(page, selector):
    row = page.locator(selector)
    return [int(row.locator("td." + c).inner_text()) for c in ("in", "out", "denied", "fever-count")]


def test_nothing_without_login(browser, live):
    page = browser.new_page()
    for path in ("/", "/alerts/", "/events/", "/devices/", "/passes/"):
        page.goto(live.url + path)
        assert "/login/" in page.url
        assert page.locator("#board, #alerts, #events").count() == 0
    page.close()


def test_board_alert_and_csv(browser, live, tmp_path):
    ctx = browser.new_context(accept_downloads=True)
    page = ctx.new_page()
    _login(page, live)
    # today's board: the figures of the events uploaded above
    assert _cells(page, 'tr[data-device="n-in"]') == [5, 0, 2, 1]
    assert _cells(page, 'tr[data-device="n-out"]') == [0, 3, 1, 0]
    assert _cells(page, 'tr[data-device="s-in"]') == [0, 0, 0, 0]
    assert _cells(page, "#total") == [5, 3, 3, 1]
    assert page.locator("#alert-count").inner_text() == "2"
    page.screenshot(path=str(tmp_path / "board.png"), full_page=True)

    # the fever alert
    page.click("text=Alerts")
    fev = page.locator("tr.alert-fever")
    assert fev.count() == 1
    assert fev.locator("td.body").inner_text() == "38.61"
    assert "North gate" in fev.inner_text()
    assert page.locator("tr.alert-urgent").count() == 1
    fev.locator("button", has_text="Acknowledge").click()
    page.wait_for_load_state()
    assert page.locator("tr.alert-fever").count() == 0
    assert page.locator("tr.alert-urgent").count() == 1

    # a new fever arrives while staff watch: the page refreshes itself
    r = DeviceClient(live.url, "s-in", live.seeded["devices"]["s-in"]["secret"]).post_events(
        fever(1, int(time.time()), body=3905))
    assert r.status == 200
    page.wait_for_selector("tr.alert-fever", timeout=15000)
    assert page.locator("tr.alert-fever td.body").inner_text() == "39.05"

    # CSV export of one gate's events through the events page
    page.goto(live.url + "/events/?device=n-in")
    with page.expect_download() as dl:
        page.click("#csv")
    path = tmp_path / "events.csv"
    dl.value.save_as(str(path))
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert sorted(int(x["seq"]) for x in rows) == list(range(1, 9))
    by_seq = {int(x["seq"]): x for x in rows}
    assert by_seq[7]["reason"] == "FEVER" and by_seq[7]["body_c"] == "38.61" and by_seq[7]["urgent"] == "1"
    assert by_seq[6]["reason"] == "EXPIRED" and by_seq[6]["allowed"] == "0"
    assert all(by_seq[s]["allowed"] == "1" and by_seq[s]["direction"] == "in" for s in range(1, 6))
    assert {x["gate"] for x in rows} == {"North gate"}
    ctx.close()
