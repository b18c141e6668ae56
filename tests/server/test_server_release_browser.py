"""The releases page in Chromium (issue 15), in Chinese, at desktop and phone (390 px):
a release published with `gatepass release publish`, a rollout started from the page to
two gates (one first), watched while the first gate downloads and confirms (the gates are
signed device clients of the live server), continued by the button, then stopped; a
viewer sees it all and has no buttons. No sideways scrolling, no English left on the
Chinese page. Screenshots: out/screenshots/releases/."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from gatepass.cli import cli
from gatepass.issuing import keys as ikeys
from gatepass.issuing import release as irel
from gatepass.server.testing import LiveServer
from test_server_i18n_browser import english_leftovers, latin_words
from server_helpers import WIDTHS, artifacts_fixture, login, screenshot_dir

pytestmark = pytest.mark.browser
FILES = {"app/gate.mpy": b"M\x06gate" * 300, "app/ui.mpy": b"M\x06ui" * 200, "drivers/relay.mpy": b"M\x06r" * 90}


ARTIFACTS = screenshot_dir("releases")


artifacts = artifacts_fixture(ARTIFACTS)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("releases")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "fl", "name": "枫林苑",
        "devices": [["bm-in", "北门", "in"], ["nm-in", "南门", "in"]],
        "staff": [["boss", "fl", "admin"], ["look", "fl", "viewer"]],
    }, env={"GATEPASS_LANGUAGE": "zh-hans", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}).start()
    # the community trusts a firmware key; release 5 is built and published with the CLI
    key = ikeys.generate()
    pub = home / "fw.pub.json"
    pub.write_text(json.dumps({"kid": key.kid.hex(), "pub": key.pub65.hex()}))
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    r = subprocess.run([sys.executable, "-c", "from gatepass.cli import main; main()", "server", "--db", srv.db,
                        "--home", str(home), "firmware-key", str(pub), "--community", "fl"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    d = home / "rel-5"
    for p, b in FILES.items():
        (d / p).parent.mkdir(parents=True, exist_ok=True)
        (d / p).write_bytes(b)
    (d / "manifest.cose").write_bytes(irel.build(key, FILES, 5, 6))
    r = CliRunner().invoke(cli, ["release", "publish", str(d), "--server", srv.url, "--community", "fl",
                                 "--staff-user", "boss", "--note", "显示修正"],
                           env={"GATEPASS_STAFF_PASSWORD": srv.seeded["staff"]["boss"]})
    assert r.exit_code == 0, r.output
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def catalog():
    from gatepass.server import i18n

    out = []
    for m in i18n.read_catalog("zh_Hans"):
        if m.id and m.string:
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strs = m.string if isinstance(m.string, tuple) else (m.string,)
            out += [(i, " ".join(strs)) for i in ids]
    return out


def _login(browser, live, user, width):
    ctx = browser.new_context(locale="zh-CN", viewport=WIDTHS[width])
    page = ctx.new_page()
    login(page, live.url, user, live.seeded["staff"][user])
    return ctx, page


def _gate(live, did):
    return live.gate(did)


def _heartbeat(live, did, **health):
    r = _gate(live, did).status(health=health)
    assert r.status == 200 and r.signed
    return json.loads(r.body)["release"]


def _check(page, catalog, problems, where):
    text = page.inner_text("body")
    left = english_leftovers(text, catalog)
    words = [w for w in latin_words(text) if w not in ("MicroPython", "mpy", "boss")]  # a name, user names
    if left or words:
        problems.append("%s: English %s %s" % (where, left, words))
    over = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if over > 1:
        problems.append("%s: %d px wider than the window" % (where, over))


def test_rollout_from_the_page_desktop_and_phone(browser, live, artifacts, catalog):
    problems = []
    ctx, page = _login(browser, live, "boss", "desktop")
    page.goto(live.url + "/releases/")
    assert "显示修正" in page.inner_text("#releases") and "原版 MicroPython" in page.inner_text("#releases")
    page.screenshot(path=str(artifacts / "desktop-1-published.png"), full_page=True)
    _check(page, catalog, problems, "desktop published")
    page.check("input[name=device][value=bm-in]")
    page.check("input[name=device][value=nm-in]")
    page.select_option("#first", "nm-in")
    page.uncheck("#auto")
    page.click("#start-rollout")
    page.wait_for_load_state()
    assert "版本 5 先推送到 南门" in page.inner_text(".messages")
    # the first gate is offered it, downloads, confirms; the other one waits
    assert _heartbeat(live, "bm-in", release="usb") is None
    assert _heartbeat(live, "nm-in", release="usb", release_version=0, tier="mpy") == {"version": 5}
    g = _gate(live, "nm-in")
    assert g.request("GET", "release/5/manifest").signed
    assert g.request("GET", "release/5/file/0").status == 200
    page.goto(live.url + "/releases/")
    row = page.locator("tr[data-device=nm-in]")
    assert row.get_attribute("data-state") == "downloading" and "1/3" in row.inner_text()
    assert "下载中" in row.inner_text() and "等待中" in page.inner_text("tr[data-device=bm-in]")
    _heartbeat(live, "nm-in", release="confirmed", release_version=5)
    page.goto(live.url + "/releases/")
    assert page.locator("tr[data-device=nm-in]").get_attribute("data-state") == "confirmed"
    page.screenshot(path=str(artifacts / "desktop-2-first-confirmed.png"), full_page=True)
    _check(page, catalog, problems, "desktop first confirmed")
    page.click("#advance")
    page.wait_for_load_state()
    assert "全部闸机" in page.inner_text("#rollout-state")
    assert _heartbeat(live, "bm-in", release="usb") == {"version": 5}
    ctx.close()

    # on a phone: the admin watches and stops it; a viewer only watches
    ctx, page = _login(browser, live, "boss", "phone")
    page.goto(live.url + "/releases/")
    assert page.locator("#targets").is_visible() and page.locator("#stop").is_visible()
    page.screenshot(path=str(artifacts / "phone-1-rest.png"), full_page=True)
    _check(page, catalog, problems, "phone rest")
    page.fill("input[name=reason]", "南门显示闪烁")
    page.click("#stop")
    page.wait_for_load_state()
    assert "南门显示闪烁" in page.inner_text("#stop-reason") and "已停止" in page.inner_text("#rollout-state")
    assert _heartbeat(live, "bm-in", release="usb") is None
    page.screenshot(path=str(artifacts / "phone-2-stopped.png"), full_page=True)
    _check(page, catalog, problems, "phone stopped")
    ctx.close()
    ctx, page = _login(browser, live, "look", "phone")
    page.goto(live.url + "/releases/")
    assert page.locator("#targets").is_visible() and page.locator("#stop, #start-rollout").count() == 0
    page.screenshot(path=str(artifacts / "phone-3-viewer.png"), full_page=True)
    _check(page, catalog, problems, "phone viewer")
    ctx.close()
    assert not problems, "\n".join(problems)
