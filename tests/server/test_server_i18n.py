"""Staff pages in Simplified Chinese and English: the catalog is complete and compiled,
the language is the account's saved choice, else Accept-Language, else the server's
default; the firmware's codes read in the page's language; times name their zone."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from server_helpers import db, dj, make_community, make_device, rec  # noqa: F401
from test_server_api import Dev

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}


def test_catalog_translates_every_marked_string_and_every_firmware_code(dj):
    from gatepass.server import i18n

    assert i18n.problems("zh_Hans") == []
    # the firmware's tables are in it, one entry per role, mode and event kind
    from gatepass.mp.fw import record, roles, settings

    cat = i18n.read_catalog("zh_Hans")
    for ctx, names in (("role", roles.NAMES), ("mode", settings.MODES), ("event kind", record.KIND_NAMES.values())):
        for name in names:
            m = cat.get(name, context=ctx)
            assert m is not None and m.string and m.string != name, (ctx, name)


def test_reason_messages_are_the_gates_own(dj):
    """One source: the pages show a reason code exactly as the gate shows it."""
    from django.utils import translation

    from gatepass.mp.fw import reasons
    from gatepass.server import labels

    for code in reasons._NAMES:
        with translation.override("zh-hans"):
            zh = labels.reason_text(code)
        with translation.override("en"):
            en = labels.reason_text(code)
        assert zh == reasons.message(code, "zh") and en == reasons.message(code) and zh != en, code


def test_compiled_catalog_matches_the_po(dj):
    """The .mo the server reads is the .po compiled now (never a stale build)."""
    from gatepass.server import i18n

    assert len(i18n.catalogs()) == 2
    for lang, domain in i18n.catalogs():
        assert i18n.mo_path(lang, domain).read_bytes() == i18n.mo_bytes(lang, domain), "stale: run make messages"


def test_stale_catalog_is_recompiled(tmp_path, monkeypatch):
    from gatepass.server import i18n

    po = tmp_path / "zh_Hans" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    po.write_bytes(i18n.po_path("zh_Hans").read_bytes())
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.ensure_compiled()
    mo = po.with_suffix(".mo")
    assert mo.read_bytes() == i18n.mo_bytes("zh_Hans")
    mo.write_bytes(b"stale")
    os.utime(mo, (1, 1))  # older than the .po
    i18n.ensure_compiled()
    assert mo.read_bytes() == i18n.mo_bytes("zh_Hans")


@pytest.fixture
def site(db):
    c = make_community(name="枫林苑")
    return c, Dev(make_device(c, "n-in", "北门", "in"))


def _client(username="guard", staff=True):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import access

    u = User.objects.create_user(username, password="guard-pass-123")
    access.add_member(u, "maple", "admin" if staff else "viewer")
    cl = Client()
    assert cl.login(username=username, password="guard-pass-123")
    return cl


def _lang(resp) -> str:
    return resp["Content-Language"]


def test_server_default_then_accept_language_then_saved_choice(site):
    from django.test import override_settings

    cl = _client()
    with override_settings(LANGUAGE_CODE="zh-hans"):
        r = cl.get("/")  # no Accept-Language: the server's default
        assert _lang(r) == "zh-hans" and "今日" in r.content.decode() and 'lang="zh-hans"' in r.content.decode()
        r = cl.get("/", **EN)
        assert _lang(r) == "en" and ">Today<" in r.content.decode()
    r = cl.get("/", **ZH)
    assert _lang(r) == "zh-hans" and "Vary" in r and "Accept-Language" in r["Vary"]
    # the switch saves the choice on the account: it wins over the browser's language
    r = cl.post("/language/", {"language": "en", "next": "/rules/"}, **ZH)
    assert r.status_code == 302 and r["Location"] == "/rules/"
    from gatepass.server.models import StaffPreference

    assert StaffPreference.objects.get(user__username="guard").language == "en"
    assert _lang(cl.get("/rules/", **ZH)) == "en"
    # ... on any browser the account logs in from
    from django.test import Client

    other = Client()
    assert other.login(username="guard", password="guard-pass-123")
    assert _lang(other.get("/", **ZH)) == "en"
    # empty choice: back to the browser's language
    cl.post("/language/", {"language": ""})
    assert _lang(cl.get("/", **ZH)) == "zh-hans"
    # unknown codes are not saved; foreign redirects are not followed
    r = cl.post("/language/", {"language": "xx", "next": "https://evil.example/"}, **ZH)
    assert r["Location"] == "/" and StaffPreference.objects.get(user__username="guard").language == ""


def test_choice_on_the_login_page_is_kept_by_the_account(site):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import access

    access.add_member(User.objects.create_user("newcomer", password="guard-pass-123"), "maple", "operator")
    cl = Client()
    r = cl.get("/login/", **EN)
    assert "Staff log in" in r.content.decode() and 'id="language"' in r.content.decode()
    cl.post("/language/", {"language": "zh-hans", "next": "/login/"}, **EN)
    assert "工作人员登录" in cl.get("/login/", **EN).content.decode()
    r = cl.post("/login/", {"username": "newcomer", "password": "guard-pass-123"}, **EN)
    assert r.status_code == 302
    assert _lang(cl.get("/", **EN)) == "zh-hans"
    from gatepass.server.models import StaffPreference

    assert StaffPreference.objects.get(user__username="newcomer").language == "zh-hans"


def test_pages_read_codes_modes_and_errors_in_chinese(site):
    from gatepass.mp.fw import reasons, record

    c, dev = site
    now = __import__("time").time()
    assert dev.post(rec(1, int(now), reason=reasons.EXPIRED, flags=record.F_TIME_TRUSTED | record.F_IN)).status_code \
        == 200
    cl = _client()
    page = cl.get("/events/", **ZH).content.decode()
    assert reasons.message(reasons.EXPIRED, "zh") in page and "Pass expired" not in page and "EXPIRED" not in page
    assert "居民" in page  # role 0
    assert "防范" in cl.get("/", **ZH).content.decode()  # mode prevention
    # a form error in Chinese (Django's own messages too)
    page = cl.post("/rules/", {"add_quarantine": "1", "building": "", "days": "14"}, **ZH).content.decode()
    assert "这个字段是必填项" in page
    page = cl.post("/rules/", {"add_quarantine": "1", "building": "3", "room": "5", "days": "14"}, **ZH).content.decode()
    assert "填写房号时须同时填写单元" in page
    page = cl.get("/events/?pid=xyz", **ZH).content.decode()
    assert "请输入通行证编号的十六进制数字" in page
    # a message after an action
    r = cl.post("/rules/", {"set_mode": "1", "mode": "2", "threshold": "37.3"}, follow=True, **ZH)
    assert "管理模式：封控" in r.content.decode()
    r = cl.post("/rules/", {"add_quarantine": "1", "building": "3", "entrance": "2", "days": "14"}, follow=True, **ZH)
    assert "3栋2单元 隔离至" in r.content.decode()


def test_dates_numbers_and_time_zone_are_local(site):
    import datetime as dt

    from django.test import override_settings
    from django.utils import timezone

    c, dev = site
    cl = _client()
    with override_settings(TIME_ZONE="Asia/Shanghai"):
        timezone.activate("Asia/Shanghai")
        try:
            # 2026-03-01 17:30:05 UTC is 2026-03-02 01:30:05 in Shanghai
            t = int(dt.datetime(2026, 3, 1, 17, 30, 5, tzinfo=dt.timezone.utc).timestamp())
            assert dev.post(rec(1, t, body=3861)).status_code == 200
            zh = cl.get("/events/", **ZH).content.decode()
            en = cl.get("/events/", **EN).content.decode()
        finally:
            timezone.deactivate()
    assert "2026年3月2日 01:30:05" in zh and "时区：Asia/Shanghai（UTC+0800）" in zh
    assert "2 Mar 2026 01:30:05" in en and "Times in Asia/Shanghai (UTC+0800)" in en
    assert "38.61" in zh


@pytest.mark.parametrize("env, message", [({"GATEPASS_LANGUAGE": "fr"}, "GATEPASS_LANGUAGE='fr'"),
                                          ({"GATEPASS_TIME_ZONE": "Mars/Olympus"}, "not an IANA time zone")])
def test_bad_language_or_time_zone_is_refused_at_start(tmp_path, env, message):
    e = dict(os.environ, GATEPASS_HOME=str(tmp_path), **env)
    r = subprocess.run([sys.executable, "-c", "import gatepass.server.settings"], env=e, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and message in r.stderr


def test_demo_server_serves_chinese_pages_in_china_time(tmp_path):
    """`make demo`'s server: Chinese for a client that asks for nothing, times in Asia/Shanghai."""
    import urllib.request

    from gatepass.demo.server import Server

    srv = Server(tmp_path)
    srv.live.start()
    try:
        with urllib.request.urlopen(srv.url + "/login/", timeout=30) as r:
            page = r.read().decode()
            assert r.headers["Content-Language"] == "zh-hans"
        assert "工作人员登录" in page and 'lang="zh-hans"' in page
        out = subprocess.run([sys.executable, "-m", "gatepass.server", "shell", "-c",
                              "from django.conf import settings; print(settings.TIME_ZONE, settings.LANGUAGE_CODE)"],
                             env=dict(os.environ, GATEPASS_HOME=str(srv.home), DATABASE_URL=srv.db, **srv.live.env),
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip().splitlines()[-1].split() == ["Asia/Shanghai", "zh-hans"], out.stderr
    finally:
        srv.live.stop()


def test_empty_state_page_in_chinese(db):
    page = _client().get("/", **ZH).content.decode()
    assert "尚未创建小区" in page and "<code>gatepass server community ID NAME</code>" in page
    assert "No community yet" not in page
