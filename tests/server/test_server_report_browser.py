"""The daily figures and the daily report in a real browser (Debian Chromium, Playwright),
at desktop and phone (390 px) widths: staff read the day's figures, an admin publishes
them, anyone with the link reads them without logging in (nothing personal on the page),
prints them (print media: one clean page, no buttons) and downloads CSV/PDF; staff
download the day's report as CSV and XLSX with the person and unit behind each pass.
Screenshots: out/screenshots/figures/ (or $GATEPASS_ARTIFACTS/screenshots/figures/)."""
from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pytest

from gatepass.hmacauth import DeviceClient
from gatepass.mp.fw import reasons, record
from gatepass.server.testing import LiveServer
from server_helpers import WIDTHS, artifacts_fixture, login, rec, screenshot_dir

pytestmark = pytest.mark.browser

T, IN, OUT, OK = record.F_TIME_TRUSTED, record.F_IN, record.F_OUT, record.F_ALLOWED


ARTIFACTS = screenshot_dir("figures")


shots = artifacts_fixture(ARTIFACTS)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("report-browser")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "fl", "name": "枫林苑", "devices": [["bm-in", "北门", "in"], ["bm-out", "北门", "out"]],
    }, env={"GATEPASS_LANGUAGE": "zh-hans", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def day(browser, live):
    """A pass issued on the passes page, its holder's passages uploaded by the gates,
    building 7 sealed on the rules page."""
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    login(page, live.url, *live.staff)
    page.goto(live.url + "/passes/")
    page.fill("#id_name", "王芳")
    page.fill("#id_building", "3")
    page.fill("#id_entrance", "2")
    page.fill("#id_room", "1204")
    page.click("text=签发并打印")
    page.wait_for_url(re.compile(r".*/passes/\d+/card$"))
    pid = page.inner_text("code")[:16]
    page.goto(live.url + "/rules/")
    page.fill("#id_building", "7")
    page.click("button[name=add_quarantine]")
    page.wait_for_load_state()
    ctx.close()
    now = int(time.time()) - 5
    cl = lambda did: DeviceClient(live.url, did, live.seeded["devices"][did]["secret"])  # noqa: E731
    p = bytes.fromhex(pid)
    assert cl("bm-in").post_events(
        rec(1, now - 60, pid=p) + rec(2, now - 50, pid=b"other-01") + rec(3, now - 40, reason=reasons.EXPIRED,
                                                                          flags=T | IN, pid=b"other-02")
        + rec(4, now - 30, reason=reasons.FEVER, flags=T | IN | record.F_URGENT | record.F_ALARM, body=3871,
              pid=b"other-03")).status == 200
    assert cl("bm-out").post_events(rec(1, now - 20, flags=T | OK | OUT, pid=p)).status == 200
    return {"pid": pid}


def _no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1


@pytest.mark.parametrize("width", list(WIDTHS))
def test_figures_published_printed_and_exported(browser, live, day, shots, width, tmp_path):
    ctx = browser.new_context(locale="zh-CN", viewport=WIDTHS[width], accept_downloads=True)
    page = ctx.new_page()
    login(page, live.url, *live.staff)
    if width == "phone":
        page.click("#menu-toggle")  # the nav folds behind the menu button on a phone
    page.click("header >> text=每日公示")
    page.wait_for_url(live.url + "/figures/")
    assert page.inner_text("#f-in") == "2" and page.inner_text("#f-out") == "1"
    assert page.inner_text("#f-denied") == "2" and page.inner_text("#f-fever") == "1"
    assert page.inner_text("#f-sealed") == "7栋"
    assert page.inner_text("#f-isolated") in ("—",) or page.inner_text("#f-isolated").isdigit()
    _no_sideways_scroll(page)
    page.screenshot(path=str(shots / ("staff-figures-%s.png" % width)), full_page=True)
    if page.locator("#publish-button").count():
        page.click("#publish-button")
        page.wait_for_load_state()
    assert "已发布" in page.inner_text("#publish")
    link = page.get_attribute("#public-link", "href")
    _no_sideways_scroll(page)

    # the report downloads (staff): CSV with BOM, XLSX; both with the person and unit
    with page.expect_download() as dl:
        page.click("#report-csv")
    data = Path(dl.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "时间（Asia/Shanghai）" and len(rows) == 6
    mine = [r for r in rows[1:] if r[8] == day["pid"]]
    assert [(r[3], r[4], r[9], r[10]) for r in mine] == [("进", "放行", "3-2-1204", "王芳"),
                                                         ("出", "放行", "3-2-1204", "王芳")]
    with page.expect_download() as dl:
        page.click("#report-xlsx")
    import openpyxl

    assert dl.value.suggested_filename.endswith(".xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes())).worksheets[0]
    xrows = list(ws.iter_rows(values_only=True))
    assert len(xrows) == 6 and xrows[0][10] == "人员" and {r[10] for r in xrows[1:]} == {"王芳", None}
    ctx.close()

    # anyone with the link, no login, on a phone or a desktop
    anon = browser.new_context(locale="zh-CN", viewport=WIDTHS[width], accept_downloads=True)
    pub = anon.new_page()
    r = pub.goto(link)
    assert r.status == 200 and "/login/" not in pub.url
    assert pub.inner_text("h1").startswith("每日公示")
    assert pub.inner_text("#f-in") == "2" and pub.inner_text("#f-sealed") == "7栋"
    body = pub.inner_text("body")
    for secret in ("王芳", "1204", day["pid"], "other-0"):
        assert secret not in body and secret not in pub.content(), secret
    _no_sideways_scroll(pub)
    pub.screenshot(path=str(shots / ("public-figures-%s.png" % width)), full_page=True)
    # printed: no buttons, no language switch, the figures and the community's name
    pub.emulate_media(media="print")
    assert not pub.is_visible("#figures-exports") and not pub.is_visible("#language-form")
    assert pub.is_visible("#figures-summary") and pub.is_visible("header")
    pub.screenshot(path=str(shots / ("public-figures-print-%s.png" % width)), full_page=True)
    pdf = pub.pdf(format="A4") if width == "desktop" else None  # Chromium prints it to PDF
    if pdf is not None:
        assert pdf.startswith(b"%PDF")
        (shots / "public-figures-print.pdf").write_bytes(pdf)
    pub.emulate_media(media="screen")
    with pub.expect_download() as dl:
        pub.click("#figures-csv")
    text = Path(dl.value.path()).read_bytes().decode("utf-8-sig")
    assert "进入,2" in text and "封控楼栋,7栋" in text and "王芳" not in text
    with pub.expect_download() as dl:
        pub.click("#figures-pdf")
    assert Path(dl.value.path()).read_bytes().startswith(b"%PDF")
    anon.close()
