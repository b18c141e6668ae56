"""Every staff page (and the admin) in a real browser, in Simplified Chinese and English,
at desktop and phone (390 px) widths: translated text is there, no English is left on
the Chinese pages (every translated msgid of the catalog is checked, and any Latin word
must be data or a code), phone pages do not scroll sideways. Screenshots of every page
are kept under out/screenshots/staff-i18n/ (or $GATEPASS_ARTIFACTS), named
<language>-<width>-<page>.png.

One browser and one server for the module; a page is loaded once per (language, width).
"""
from __future__ import annotations

import re
import time

import pytest

from gatepass.hmacauth import DeviceClient
from gatepass.mp.fw import reasons, record
from gatepass.server.testing import LiveServer
from server_helpers import WIDTHS, artifacts_fixture, fever, rec, screenshot_dir

pytestmark = pytest.mark.browser

T, IN, OUT, OK = record.F_TIME_TRUSTED, record.F_IN, record.F_OUT, record.F_ALLOWED
LOCALES = {"zh-hans": "zh-CN", "en": "en-US"}


ARTIFACTS = screenshot_dir("staff-i18n")

# Latin words that may stay on a Chinese page: names of things, codes, units, data
ALLOWED_LATIN = {
    "gatepass", "CSV", "UTC", "Asia", "Shanghai", "English", "admin", "QR", "CRC", "HMAC", "SHA256", "PEM", "PKCS",
    "GP1", "P-256", "kid", "iss", "id", "ID", "app", "settings", "py", "bundle_keys", "maple-court", "Unix", "NAME",
    "community", "add", "server", "bm-in", "bm-out", "nm-in", "fl", "HMAC-SHA256", "pub",
    "Wi-Fi", "dBm", "USB", "OTA", "X-Gatepass-Epoch", "UTF-8", "UTF-16",
    "Control", "Command", "Mac",  # key names in Django's own Chinese help text
    "Excel",  # the spreadsheet the daily report opens in
    "release", "build", "publish", "firmware-key",  # the gatepass commands named on the releases page
    "mpy", "frozen",  # board tiers, the values devices report (release states are words: never "usb")
}
CODE = re.compile(r"^(?:[A-Z][A-Z0-9_]{2,}|R\d+|k\d+|0x[0-9a-f]+|[0-9a-f]{4,}|v?\d[\w.]*|[a-z]{1,2}\d*)$")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("i18n-browser")
    srv = LiveServer("sqlite:///" + str(home / "gatepass.sqlite3"), home, seed={
        "community": "fl", "name": "枫林苑",
        "devices": [["bm-in", "北门", "in"], ["bm-out", "北门", "out"], ["nm-in", "南门", "in"]],
    }, env={"GATEPASS_LANGUAGE": "zh-hans", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}).start()
    now = int(time.time()) - 5
    cl = lambda did: DeviceClient(srv.url, did, srv.seeded["devices"][did]["secret"])  # noqa: E731
    assert cl("bm-in").post_events(
        b"".join(rec(s, now) for s in range(1, 4)) + rec(4, now, reason=reasons.EXPIRED, flags=T | IN)
        + fever(5, now, body=3861) + rec(6, now, kind=record.K_DOOR_FORCED, reason=0, flags=T | record.F_URGENT)
    ).status == 200
    assert cl("bm-out").post_events(rec(1, now, flags=T | OK | OUT) + rec(
        2, now, reason=reasons.QUARANTINED, flags=T | OUT | record.F_URGENT)).status == 200
    # OTA release states in heartbeats: the devices page and the admin say them in words
    assert srv.gate("bm-in").status(health={"release": "confirmed", "release_version": 5,
                                            "release_failed": 4}).status == 200
    assert srv.gate("bm-out").status(health={"release": "rolled_back", "release_version": 0,
                                             "release_failed": 6}).status == 200
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def catalog():
    """(msgid, translation) of every translated entry of the Chinese catalog, and the
    gate's own (English, Chinese) reason messages (app/reasons.py)."""
    from gatepass.server import i18n

    out = [(en, zh) for en, zh in reasons.texts()]
    for m in i18n.read_catalog("zh_Hans"):
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strs = m.string if isinstance(m.string, tuple) else (m.string,)
        for i in ids:
            out.append((i, " ".join(strs)))
    return out


artifacts = artifacts_fixture(ARTIFACTS)


@pytest.fixture(scope="module")
def state(browser, live, artifacts, tmp_path_factory):
    """A logged-in session (storage state) with pages' data made through the pages:
    a quarantine, an issued pass, an acknowledged alert."""
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    page.goto(live.url + "/")
    assert "/login/" in page.url
    page.fill("#id_username", live.staff[0])
    page.fill("#id_password", live.staff[1])
    page.click("#login")
    page.wait_for_url(live.url + "/")
    page.goto(live.url + "/rules/")
    page.fill("#id_building", "3")
    page.fill("#id_entrance", "2")
    page.fill("#id_note", "密接")
    page.click("button[name=add_quarantine]")
    page.wait_for_load_state()
    assert "3栋2单元 隔离至" in page.inner_text(".messages")
    page.goto(live.url + "/passes/")
    page.fill("#id_name", "王芳")
    page.fill("#id_building", "3")
    page.fill("#id_entrance", "2")
    page.fill("#id_room", "1204")
    page.click("text=签发并打印")
    page.wait_for_url(re.compile(r".*/passes/\d+/card$"))
    card = page.url[len(live.url):]
    page.goto(live.url + "/isolation/")  # home isolation of 王芳 (by her unit)
    page.fill("#id_who", "3-2-1204")
    page.fill("#id_note", "返乡人员")
    page.click("button[name=add_isolation]")
    page.wait_for_load_state()
    assert "王芳 居家隔离至" in page.inner_text(".messages")
    iso = page.get_attribute("#isolated tbody tr", "id")[len("iso-"):]
    # the phone pages: a self-declaration (public page) waiting for staff, a visitor invitation
    page.goto(live.url + "/declarations/")
    declare = page.inner_text("#declare-link")
    declare = declare[declare.index("/declare/"):]
    page.goto(live.url + declare)
    page.fill("#id_name", "王芳")
    page.fill("#id_phone", "13800138000")
    page.fill("#id_building", "3")
    page.fill("#id_entrance", "2")
    page.fill("#id_room", "1204")
    page.check("#id_consent")
    page.click("#declare")
    page.wait_for_url(re.compile(r".*/m/[\w-]+/$"))
    phone = page.url[len(live.url):]
    page.goto(live.url + "/visitors/")
    page.fill("#building", "3")
    page.fill("#entrance", "2")
    page.fill("#room", "1204")
    page.click("#invite")
    page.wait_for_load_state()
    visitor = page.inner_text("#visitor-url")
    visitor = visitor[visitor.index("/v/"):]
    page.goto(live.url + "/alerts/")
    page.locator("tr.alert-urgent button").first.click()
    page.wait_for_load_state()
    page.goto(live.url + "/figures/")
    page.click("#publish-button")
    page.wait_for_load_state()
    public = page.get_attribute("#public-link", "href")[len(live.url):]
    path = tmp_path_factory.mktemp("state") / "state.json"
    ctx.storage_state(path=str(path))
    ctx.close()
    return {"storage": str(path), "card": card, "public": public, "isolation": iso, "declare": declare, "phone": phone,
            "visitor": visitor}


def staff_pages(card: str, public: str = "", iso: str = "") -> dict[str, str]:
    out = {
        "board": "/", "alerts": "/alerts/", "alerts-all": "/alerts/?all=1", "events": "/events/",
        "events-invalid-filter": "/events/?pid=xyz", "devices": "/devices/", "rules": "/rules/", "passes": "/passes/",
        "card": card, "members": "/members/", "audit": "/audit/", "occupancy": "/occupancy/",
        "board-day": "/?day=2026-01-01", "isolation": "/isolation/",
        "figures": "/figures/", "people": "/people/", "people-import": "/people/import",
        "releases": "/releases/",
    }
    if public:
        out["figures-public"] = public  # the published daily figures (no login needed)
    if iso:
        out["isolation-certificate"] = "/isolation/%s/certificate" % iso
    return out


def declare_pages(state) -> dict[str, str]:
    """Self-declaration and visitors (staff) and the residents' and visitors' phone pages."""
    return {"declarations": "/declarations/", "declare-poster": "/declarations/poster/", "visitors": "/visitors/",
            "phone-declare": state["declare"], "phone-pending": state["phone"], "phone-visitor": state["visitor"]}


def admin_pages(page, base: str, every: bool = True) -> dict[str, str]:
    """The admin index and, for every model there, its list and its add form (a few of
    them when not `every`: on a phone the admin's layout is Django's, the words are ours)."""
    out = {"admin": "/admin/", "admin-gatepass-pass": "/admin/gatepass/pass/",
           "admin-gatepass-quarantine-add": "/admin/gatepass/quarantine/add/",
           "admin-community-change": "/admin/gatepass/community/fl/change/"}
    if not every:
        return out
    page.goto(base + "/admin/")
    for href in page.eval_on_selector_all("#content-main a", "els => els.map(e => e.getAttribute('href'))"):
        if not href or not href.startswith("/admin/") or href.count("/") < 4:
            continue
        name = "admin-" + "-".join(p for p in href.split("/")[2:] if p)
        out[name] = href
    out["admin-device-change"] = "/admin/gatepass/device/bm-in/change/"
    # the phone pages' records are read-only in the admin: their view pages
    for model in ("declaration", "visitorinvite", "isolation"):
        page.goto(base + "/admin/gatepass/%s/" % model)
        href = page.get_attribute("#result_list tbody tr a", "href")
        assert href and href.endswith("/change/"), (model, href)
        out["admin-%s-view" % model] = href
    return out


# ---------------------------------------------------------------- checks


def visible_text(page) -> str:
    return page.evaluate("""() => {
        // what the audit log recorded is kept as written (data, not page text)
        const recorded = Array.from(document.querySelectorAll('.recorded'));
        for (const e of recorded) e.style.display = 'none';
        const text = document.body.innerText;
        for (const e of recorded) e.style.display = '';
        const parts = [document.title, text];
        for (const e of document.querySelectorAll('[placeholder],[title],[aria-label],input[type=submit]'))
            parts.push(e.getAttribute('placeholder') || '', e.getAttribute('title') || '',
                       e.getAttribute('aria-label') || '', e.type === 'submit' ? e.value : '');
        for (const o of document.querySelectorAll('option')) parts.push(o.textContent);
        return parts.join('\\n');
    }""")


def _fragments(msgid: str):
    text = re.sub(r"<[^>]+>", " ", msgid)
    for frag in re.split(r"%\(\w+\)[sd]|%[sd]", text):
        frag = frag.strip(" .,:;()—-–\n")
        if re.search(r"[A-Za-z]{2,}", frag):
            yield frag


def english_leftovers(text: str, catalog) -> list[str]:
    """Translated msgids whose English is on the page (whole words, case-sensitive)."""
    found = []
    for msgid, translation in catalog:
        for frag in _fragments(msgid):
            if frag in translation or frag in ALLOWED_LATIN:
                continue  # a name kept in a translation (CSV, QR, Django's "Command" key, ...)
            if re.search(r"(?<![A-Za-z0-9_-])" + re.escape(frag) + r"(?![A-Za-z0-9_-])", text):
                found.append(frag)
    return sorted(set(found))


def latin_words(text: str) -> list[str]:
    """Latin words on a Chinese page that are neither data, codes nor allowed names."""
    out = set()
    text = text.replace("°C", "")
    for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9_./@:-]*", text):
        w = w.strip("._:/-")
        if not re.search(r"[A-Za-z]", w) or w in ALLOWED_LATIN or CODE.match(w) or "/" in w or "." in w:
            continue
        out.add(w)
    return sorted(out)


# ---------------------------------------------------------------- tests


def _context(browser, state, lang, width):
    return browser.new_context(locale=LOCALES[lang], viewport=WIDTHS[width], storage_state=state["storage"])


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_every_staff_page_in_both_languages_and_widths(browser, live, state, catalog, lang):
    problems = []
    n = 0
    for width in WIDTHS:
        ctx = _context(browser, state, lang, width)
        page = ctx.new_page()
        pages = staff_pages(state["card"], state["public"], state["isolation"])
        pages.update(declare_pages(state))
        pages.update(admin_pages(page, live.url, every=width == "desktop"))
        for name, path in pages.items():
            r = page.goto(live.url + path)
            assert r.status == 200, (path, r.status)
            n += 1
            assert page.evaluate("document.documentElement.lang") == lang, path
            text = visible_text(page)
            page.screenshot(path=str(ARTIFACTS / ("%s-%s-%s.png" % (lang, width, name))), full_page=True)
            if lang == "zh-hans":
                left = english_leftovers(text, catalog)
                if left:
                    problems.append("%s %s: English msgids %s" % (width, path, left))
                words = latin_words(text)
                if words:
                    problems.append("%s %s: untranslated words %s" % (width, path, words))
                assert re.search(r"[\u4e00-\u9fff]", text), path
            else:
                if re.search(r"[\u4e00-\u9fff]{2,}", re.sub("枫林苑|北门|南门|王芳|密接|返乡人员|简体中文", "", text)):
                    problems.append("%s %s: Chinese on the English page" % (width, path))
            if width == "phone" and not path.startswith("/admin/"):
                over = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                if over > 1:
                    problems.append("%s: %d px wider than the phone" % (path, over))
        ctx.close()
    assert not problems, "\n".join(problems)
    assert n >= 2 * 11 + 4 + 2 * 14  # staff pages at both widths, the admin's index, lists and forms


def test_translated_text_on_each_page(browser, live, state):
    """What staff read, page by page, in each language (not just 'something Chinese')."""
    want = {
        "/": ("今日", "各门岗", "防范", "体温异常", "时区：Asia/Shanghai（UTC+0800）"),
        "/alerts/?all=1": ("全部告警", "体温异常", reasons.message(reasons.QUARANTINED, "zh"), "门被强行打开", "确认"),
        "/events/": ("通行记录", reasons.message(reasons.EXPIRED, "zh"), "居民", "放行", "拒绝", "全部原因"),
        "/devices/": ("设备状态", "最后在线", "被拒绝的设备请求", "版本 5", "已确认", "USB 部署", "已回滚 版本 6"),
        "/admin/gatepass/device/bm-in/change/": ("已确认", "版本"),
        "/rules/": ("管理模式与隔离", "防范", "管控", "封控", "豁免岗位", "3栋2单元", "密接"),
        "/passes/": ("签发通行证", "王芳", "居民", "有效"),
        state["card"]: ("王芳", "3-2-1204", "居民", "有效期"),
        "/admin/": ("gatepass 后台管理", "通行证", "小区", "隔离"),
        "/admin/gatepass/pass/": ("通行证", "王芳", "居民"),
        "/admin/gatepass/isolation/": ("居家隔离", "王芳", "3-2-1204", "正在隔离"),
        "/admin/gatepass/declaration/": ("自助申报", "3-2-1204", "等待"),
        "/admin/gatepass/visitorinvite/": ("访客邀请", "3-2-1204", "有效"),
        "/audit/": ("审计日志", "操作人"),
        "/members/": ("本小区工作人员", "查看员"),
        "/figures/": ("每日公示", "进入", "外出", "封控楼栋", "有隔离住户的楼栋", "3栋", "已发布", "每日报表"),
        state["public"]: ("枫林苑", "每日公示", "居家隔离人数", "仅为汇总数据"),
        "/isolation/": ("居家隔离", "正在隔离", "剩余天数", "王芳", "3-2-1204", "返乡人员", "延长", "解除"),
        "/isolation/%s/certificate" % state["isolation"]: ("解除居家隔离证明", "王芳", "尚未解除"),
    }
    english = {"/": ("Today", "Mode", "prevention", "Times in Asia/Shanghai (UTC+0800)"),
               "/events/": ("Pass expired", "resident", "allowed", "denied"),
               "/rules/": ("prevention", "control", "sealed", "building 3 entrance 2"),
               "/devices/": ("release 5", "confirmed", "USB-deployed", "rolled back release 6"),
               "/admin/": ("gatepass administration", "Passes", "Communities", "Quarantines"),
               "/figures/": ("Daily figures", "Entries", "Sealed buildings", "building 3", "Daily report"),
               "/isolation/": ("Home isolation", "Isolated now", "Days left", "Extend", "Release")}
    ctx = _context(browser, state, "zh-hans", "desktop")
    page = ctx.new_page()
    for path, texts in want.items():
        page.goto(live.url + path)
        body = visible_text(page)
        for t in texts:
            assert t in body, (path, t)
    # the date on the board in Chinese form, e.g. 2026年12月4日 星期五
    page.goto(live.url + "/")
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 星期[一二三四五六日]", page.inner_text("h1"))
    ctx.close()
    ctx = _context(browser, state, "en", "desktop")
    page = ctx.new_page()
    for path, texts in english.items():
        page.goto(live.url + path)
        body = visible_text(page)
        for t in texts:
            assert t in body, (path, t)
    ctx.close()


def test_saved_choice_beats_the_browser_language(browser, live, state):
    ctx = _context(browser, state, "zh-hans", "phone")
    page = ctx.new_page()
    page.goto(live.url + "/events/")
    assert page.inner_text("h1") == "通行记录"
    page.click("#menu-toggle")  # on a phone the language choice is in the folded menu
    page.select_option("#language", "en")
    page.click("#set-language")
    page.wait_for_url(live.url + "/events/")
    assert page.inner_text("h1") == "Events"
    page.screenshot(path=str(ARTIFACTS / "saved-choice-en-phone.png"), full_page=True)
    # another browser (Chinese) of the same account: the account's choice
    other = _context(browser, state, "zh-hans", "desktop")
    p2 = other.new_page()
    p2.goto(live.url + "/")
    assert p2.evaluate("document.documentElement.lang") == "en"
    other.close()
    # back to the browser's language
    page.click("#menu-toggle")
    page.select_option("#language", "")
    page.click("#set-language")
    page.wait_for_url(live.url + "/events/")
    assert page.inner_text("h1") == "通行记录"
    ctx.close()


def test_login_page_in_both_languages(browser, live, artifacts):
    for lang, title in (("zh-hans", "工作人员登录"), ("en", "Staff log in")):
        for width in WIDTHS:
            ctx = browser.new_context(locale=LOCALES[lang], viewport=WIDTHS[width])
            page = ctx.new_page()
            page.goto(live.url + "/login/")
            assert page.inner_text("h1") == title
            page.fill("#id_username", "nobody")
            page.fill("#id_password", "wrong-password")
            page.click("#login")
            page.wait_for_load_state()
            text = visible_text(page)
            assert ("用户名或密码错误" if lang == "zh-hans" else "Wrong user name or password") in text
            page.screenshot(path=str(ARTIFACTS / ("%s-%s-login.png" % (lang, width))), full_page=True)
            ctx.close()
