"""Roster import into the server (issue 14.1): people, units and passes from the roster
files the issuing reader takes (UTF-8, BOM, GBK/GB18030, UTF-16, XLSX, Chinese headers);
per-row problems (in Chinese on Chinese pages); idempotent re-import with changes
reported; operators and admins only; every import in the audit log; the staff API's
/roster and /passes; `gatepass server roster`."""
from __future__ import annotations

import base64
import io
import json

import pytest

from server_helpers import db, dj, make_community  # noqa: F401

PW = "staff-pass-1234"

ROSTER = ("姓名,电话,房号,身份,备注\r\n"
          "李伟,13800000001,3栋1单元1203室,居民,\r\n"
          "王芳,13800000002,3-1-1203,居民,\r\n"
          "张强,,5-2-501,居民,独居老人\r\n"
          "赵敏,13800000004,,物业,保安\r\n")


def _xlsx(text: str) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for line in text.strip().splitlines():
        ws.append(line.split(","))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


FORMATS = {
    "utf-8": lambda t: t.encode("utf-8"),
    "utf-8-bom": lambda t: t.encode("utf-8-sig"),
    "gbk": lambda t: t.encode("gbk"),
    "gb18030": lambda t: t.encode("gb18030"),
    "utf-16": lambda t: t.encode("utf-16"),
    "xlsx": _xlsx,
}


@pytest.fixture
def maple(db):
    return make_community("maple", "Maple Court")


def _import(c, data, name="名单.csv", commit=True, issue=True):
    from gatepass.server import people

    rows, problems = people.read_roster(data, name, c.pk)
    assert not problems, [(p.line, p.field, str(p.message)) for p in problems]
    return people.apply(c, rows, issue_passes=issue, commit=commit)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_imports_people_units_and_passes(maple, fmt):
    from gatepass.server.models import AuditEntry, Pass, Person, Unit

    data = FORMATS[fmt](ROSTER)
    res = _import(maple, data, "名单.xlsx" if fmt == "xlsx" else "名单.csv")
    assert (res.people_new, res.units_new, res.passes_issued) == (4, 2, 4)
    li = Person.objects.get(name="李伟")
    assert (li.phone, str(li.unit)) == ("13800000001", "3-1-1203")
    assert Person.objects.get(name="王芳").unit_id == li.unit_id  # one unit, two residents
    assert Person.objects.get(name="张强").note == "独居老人"
    zhao = Person.objects.get(name="赵敏")
    assert zhao.unit is None
    assert Unit.objects.filter(community=maple).count() == 2
    p = Pass.objects.get(person=zhao)
    assert p.role == 5 and p.text.startswith("GP1:") and p.unit_text == "0-0-0"
    # nothing personal in the pass: its QR text decodes to ids and numbers only
    for person in Person.objects.all():
        for ps in person.passes.all():
            assert person.name not in ps.text and (not person.phone or person.phone not in ps.text)
    e = AuditEntry.objects.get(action="roster_import")
    assert e.community_id == "maple" and "4 new" in e.detail and "4 issued" in e.detail


def test_reimport_is_idempotent_and_reports_changes(maple):
    from django.utils import translation

    from gatepass.server.models import AuditEntry, Pass, Person, Unit

    translation.activate("en")

    _import(maple, ROSTER.encode())
    again = _import(maple, ROSTER.encode())
    assert (again.people_new, again.people_changed, again.people_same) == (0, 0, 4)
    assert (again.units_new, again.passes_issued, again.passes_kept) == (0, 0, 4)
    assert Person.objects.count() == 4 and Pass.objects.count() == 4 and Unit.objects.count() == 2
    # 李伟 moved (found by name and phone), 王芳 has a new phone, a new person appears
    changed = ROSTER.replace("李伟,13800000001,3栋1单元1203室", "李伟,13800000001,7-1-101") \
        .replace("13800000002", "13900000002") + "陈晨,,7-1-101,居民,\r\n"
    res = _import(maple, changed.encode())
    by_name = {r.name: r for r in res.rows}
    assert by_name["李伟"].person == "changed" and "3-1-1203 -> 7-1-101" in str(by_name["李伟"].changes[0])
    assert by_name["王芳"].person == "changed" and [str(c) for c in by_name["王芳"].changes] == ["phone changed"]
    assert by_name["张强"].person == "same" and by_name["陈晨"].person == "new"
    assert (res.people_new, res.people_changed, res.units_new) == (1, 2, 1)
    # a new unit means a new pass for 李伟 (the old one names the old unit); 王芳 keeps hers
    assert by_name["李伟"].pass_state == "issued" and by_name["王芳"].pass_state == "kept"
    assert Person.objects.count() == 5 and Person.objects.get(name="李伟").unit.building == 7
    assert AuditEntry.objects.filter(action="roster_import").count() == 3


def test_preview_writes_nothing(maple):
    from gatepass.server.models import AuditEntry, Pass, Person, Unit

    res = _import(maple, ROSTER.encode(), commit=False)
    assert not res.committed and (res.people_new, res.units_new, res.passes_issued) == (4, 2, 4)
    assert (Person.objects.count(), Unit.objects.count(), Pass.objects.count(), AuditEntry.objects.count()) == \
        (0, 0, 0, 0)


def test_a_second_role_of_one_person_is_one_person_two_passes(maple):
    from gatepass.server.models import Pass, Person

    res = _import(maple, "姓名,房号,身份\n李伟,3-1-1203,居民\n李伟,3-1-1203,防疫\n".encode())
    assert res.people_new == 1 and res.passes_issued == 2
    assert Person.objects.count() == 1 and Pass.objects.count() == 2


def test_without_an_issuer_key_people_come_in_and_no_pass(maple):
    from gatepass.server.models import IssuerKey, Pass, Person

    IssuerKey.objects.filter(community=maple).update(private_pem="")
    res = _import(maple, ROSTER.encode())
    assert res.no_key and res.passes_issued == 0 and Person.objects.count() == 4 and Pass.objects.count() == 0
    assert "no private issuer key" in res.summary_text()


@pytest.mark.parametrize("text,line,field", [
    ("姓名,房号,身份\n李伟,3-1-1203,居民\n,3-1-1204,居民\n", 3, "name"),
    ("姓名,房号,身份\n李伟,3-1-1203,外星人\n", 2, "role"),
    ("姓名,房号,身份\n李伟,三栋,居民\n", 2, "unit"),
    ("姓名,房号,身份\n李伟,3-1-1203,居民\n李伟,3-1-1203,居民\n", 3, "row"),
    ("姓名,房号,颜色\n李伟,3-1-1203,红\n", 1, "颜色"),
])
def test_problems_name_their_line_and_nothing_is_imported(maple, text, line, field):
    from gatepass.server import people
    from gatepass.server.models import Person

    rows, problems = people.read_roster(text.encode("gbk"), "r.csv", maple.pk)
    assert rows == [] and (problems[0].line, problems[0].field) == (line, field), problems
    assert Person.objects.count() == 0


def test_problems_read_in_chinese_on_chinese_pages(maple):
    from django.utils import translation

    from gatepass.server import people

    _, problems = people.read_roster("姓名,房号,身份\n李伟,三栋,外星人\n".encode(), "r.csv", maple.pk)
    with translation.override("zh-hans"):
        zh = problems[0].text()
        assert people.field_name(problems[0].field) == "身份"
    en = problems[0].text()
    assert en.startswith("unknown role '外星人'")
    assert zh != en and "外星人" in zh and "unknown" not in zh
    _, problems = people.read_roster(b"name,role\n\x80\x80,x\n", "r.csv", maple.pk)
    with translation.override("zh-hans"):
        assert "UTF-8" in problems[0].text() and "neither" not in problems[0].text()


def test_every_issuing_problem_text_has_a_chinese_translation():
    """The roster reader's texts are in the catalog (i18n extracts message("...") from the
    issuing package) and translated: `i18n check` would list them otherwise."""
    from gatepass.server import i18n

    found = [m for ctx, m, where in i18n.extract() if where.startswith("issuing/")]
    assert len(found) >= 25, found
    bad = [p for p in i18n.problems() if "issuing/" in p]
    assert bad == []


# ------------------------------------------------------------------ staff API, page roles


def _user(name, cid, role):
    from django.contrib.auth.models import User

    from gatepass.server import access

    u = User.objects.create_user(name, password=PW)
    if cid:
        access.add_member(u, cid, role)
    return u


def _basic(user):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, PW)).encode()).decode()}


def _api(path, body, user):
    from django.test import Client

    return Client().post("/api/staff/v1" + path, json.dumps(body), content_type="application/json",
                         headers=_basic(user))


@pytest.mark.parametrize("role,ok", [("viewer", False), ("operator", True), ("admin", True)])
def test_staff_api_roster_needs_operator(maple, role, ok):
    from gatepass.server.models import AuditEntry, Person

    _user("u-" + role, "maple", role)
    body = {"community": "maple", "filename": "名单.csv", "content": base64.b64encode(ROSTER.encode("gbk")).decode()}
    r = _api("/roster", body, "u-" + role)
    assert r.status_code == (200 if ok else 403), r.content
    if ok:
        assert r.json()["committed"] is False and r.json()["summary"]["people_new"] == 4
        assert Person.objects.count() == 0
        r = _api("/roster", dict(body, commit=True), "u-" + role)
        assert r.status_code == 200 and r.json()["committed"] is True
        assert Person.objects.count() == 4
        assert AuditEntry.objects.get(action="roster_import").actor == "u-" + role
    else:
        assert Person.objects.count() == 0 and not AuditEntry.objects.exists()


def test_staff_api_roster_problems_are_422_with_lines(maple):
    _user("op", "maple", "operator")
    body = {"community": "maple", "content": base64.b64encode("姓名,房号,身份\n李伟,3-1-1203,外星人\n".encode()).decode(),
            "commit": True}
    r = _api("/roster", body, "op")
    assert r.status_code == 422 and r.json()["code"] == "roster_problems"
    assert r.json()["problems"][0]["line"] == 2 and r.json()["problems"][0]["field"] == "role"


def test_staff_api_other_community_is_404(maple):
    make_community("oak", "Oak Yard")
    _user("oak-op", "oak", "operator")
    body = {"community": "maple", "content": base64.b64encode(ROSTER.encode()).decode(), "commit": True}
    assert _api("/roster", body, "oak-op").status_code == 404
    assert _api("/passes", {"community": "maple", "passes": []}, "oak-op").status_code == 404


def _pass(cti, **kw):
    d = {"line": 2, "cti": cti, "kid": "ab", "role": 0, "unit": "3-1-1203", "dirs": 3, "nbf": 1_800_000_000,
         "exp": 1_900_000_000, "text": "GP1:XYZ", "name": "李伟", "phone": "13800000001"}
    d.update(kw)
    return d


def test_staff_api_passes_register_and_are_idempotent(maple):
    from gatepass.server.models import AuditEntry, Pass, Person

    _user("op", "maple", "operator")
    body = {"community": "maple", "passes": [_pass("00" * 8 + "01"), _pass("00" * 8 + "02", line=3, name="王芳",
                                                                          phone="")]}
    r = _api("/passes", body, "op")
    assert r.status_code == 200, r.content
    assert [x["pass_state"] for x in r.json()["rows"]] == ["registered", "registered"]
    p = Pass.objects.get(cti="00" * 8 + "01")
    assert p.person.name == "李伟" and p.pid == "0000000000000000" and p.unit_text == "3-1-1203"
    r = _api("/passes", body, "op")
    assert [x["pass_state"] for x in r.json()["rows"]] == ["same", "same"]
    assert Pass.objects.count() == 2 and Person.objects.count() == 2
    assert AuditEntry.objects.filter(action="pass_register").count() == 2
    # the same pass id with another unit is a conflict: nothing of the request registered
    r = _api("/passes", {"community": "maple", "passes": [_pass("00" * 8 + "03", line=2),
                                                           _pass("00" * 8 + "01", line=3, unit="9-9-9")]}, "op")
    assert r.status_code == 409 and "line 3" in r.json()["detail"] and "nothing registered" in r.json()["detail"]
    assert not Pass.objects.filter(cti="00" * 8 + "03").exists()


def test_staff_api_passes_viewer_refused(maple):
    from gatepass.server.models import Pass

    _user("v", "maple", "viewer")
    r = _api("/passes", {"community": "maple", "passes": [_pass("11" * 8)]}, "v")
    assert r.status_code == 403 and not Pass.objects.exists()


# ------------------------------------------------------------------ gatepass server roster


def _gatepass(home, *args):
    import subprocess
    import sys

    env = {"GATEPASS_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", "from gatepass.cli import main; main()", "server", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_roster_dry_run_import_reimport_and_problems(tmp_path):
    import sqlite3

    assert _gatepass(tmp_path, "community", "maple", "Maple Court").returncode == 0
    f = tmp_path / "名单.xlsx"
    f.write_bytes(_xlsx(ROSTER))
    r = _gatepass(tmp_path, "roster", str(f), "--community", "maple", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "dry run, nothing written: people: 4 new" in r.stdout and "line 2: 李伟 3-1-1203 new person" in r.stdout
    db = tmp_path / "gatepass.sqlite3"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM gatepass_person").fetchone() == (0,)
    r = _gatepass(tmp_path, "roster", str(f), "--community", "maple")
    assert r.returncode == 0 and "imported: people: 4 new, 0 changed, 0 unchanged; units: 2 new; passes: 4 issued" \
        in r.stdout, r.stdout + r.stderr
    r = _gatepass(tmp_path, "roster", str(f), "--community", "maple")
    assert "people: 0 new, 0 changed, 4 unchanged; units: 0 new; passes: 0 issued, 4 kept" in r.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM gatepass_person").fetchone() == (4,)
        assert [a for (a,) in conn.execute("SELECT actor FROM gatepass_auditentry WHERE action = 'roster_import'")] \
            == [conn.execute("SELECT actor FROM gatepass_auditentry WHERE action = 'roster_import'").fetchone()[0]] * 2
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,房号,身份\n李伟,三栋,居民\n", encoding="gbk")
    r = _gatepass(tmp_path, "roster", str(bad), "--community", "maple")
    assert r.returncode == 2 and "line 2: unit: '三栋' is not building-entrance-room" in r.stderr
    assert "nothing imported" in r.stderr and "Traceback" not in r.stderr
    r = _gatepass(tmp_path, "roster", str(f), "--community", "oak")
    assert r.returncode == 1 and "no community 'oak'" in r.stderr


# ------------------------------------------------------------------ the staff pages

@pytest.fixture
def home(tmp_path):
    """The server's data directory (held uploads) in a temporary directory."""
    from django.test import override_settings

    with override_settings(HOME=tmp_path):
        yield tmp_path



def _page_client(name, role):
    from django.test import Client

    u = _user(name, "maple", role)
    cl = Client()
    cl.force_login(u)
    return cl


def _upload(cl, data, name="名单.csv", lang="en", **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = {"roster": SimpleUploadedFile(name, data), "issue_passes": "on", **extra}
    return cl.post("/people/import", body, headers={"Accept-Language": lang})


@pytest.mark.parametrize("fmt", ["gbk", "utf-16", "xlsx"])
def test_page_upload_preview_confirm_and_reimport(maple, fmt, home):
    from gatepass.server.models import AuditEntry, Pass, Person

    cl = _page_client("op", "operator")
    name = "名单.xlsx" if fmt == "xlsx" else "名单.csv"
    r = _upload(cl, FORMATS[fmt](ROSTER), name)
    assert r.status_code == 200
    page = r.content.decode()
    assert "Preview of %s" % name in page and 'id="confirm"' in page and "new person" in page
    assert Person.objects.count() == 0  # a preview writes nothing
    assert len(list((home / "roster-uploads").glob("*.upload"))) == 1
    token = r.context["token"]
    r = cl.post("/people/import", {"confirm": "1", "token": token}, headers={"Accept-Language": "en"})
    assert r.status_code == 302 and r["Location"].endswith("/people/")
    page = cl.get("/people/", headers={"Accept-Language": "en"}).content.decode()
    assert "imported: 4 new people, 0 changed, 0 unchanged; 2 new units; 4 passes issued" in page
    assert "李伟" in page and "13800000001" in page and "3-1-1203" in page
    assert Person.objects.count() == 4 and Pass.objects.count() == 4
    assert list((home / "roster-uploads").glob("*.upload")) == []  # gone once imported
    assert AuditEntry.objects.get(action="roster_import").actor == "op"
    # again: nothing new, all four unchanged and keeping their passes
    r = _upload(cl, FORMATS[fmt](ROSTER), name)
    assert r.context["result"].people_same == 4 and r.context["result"].passes_kept == 4
    cl.post("/people/import", {"confirm": "1", "token": r.context["token"]})
    assert Person.objects.count() == 4 and Pass.objects.count() == 4
    assert AuditEntry.objects.filter(action="roster_import").count() == 2


def test_page_problems_per_row_in_the_readers_language(maple, home):
    from gatepass.server.models import Person

    cl = _page_client("op", "operator")
    bad = "姓名,房号,身份\n李伟,三栋,居民\n王芳,3-1-1204,外星人\n".encode("gbk")
    import html

    zh = html.unescape(_upload(cl, bad, lang="zh-hans").content.decode())
    assert "2 处问题，未导入任何内容" in zh and 'id="confirm"' not in zh
    assert "'三栋' 不是“楼-单元-室”" in zh and "未知身份 '外星人'" in zh
    assert "<td>房号</td>" in zh and "<td>身份</td>" in zh
    en = html.unescape(_upload(cl, bad, lang="en").content.decode())
    assert "2 problems, nothing imported" in en and "is not building-entrance-room" in en and "<td>unit</td>" in en
    assert Person.objects.count() == 0


def test_page_confirm_needs_the_held_upload(maple, home):
    from gatepass.server.models import Person

    cl = _page_client("op", "operator")
    r = _upload(cl, ROSTER.encode())
    r = cl.post("/people/import", {"confirm": "1", "token": "forged"}, follow=True)
    assert "no longer here" in r.content.decode() and Person.objects.count() == 0
    r = cl.post("/people/import", {"cancel": "1"})
    assert r.status_code == 302 and list((home / "roster-uploads").glob("*.upload")) == []


def test_page_viewer_reads_people_but_cannot_import(maple, home):
    from gatepass.server.models import Person

    _import(maple, ROSTER.encode())
    cl = _page_client("v", "viewer")
    page = cl.get("/people/?q=3-1").content.decode()
    assert "李伟" in page and "王芳" in page and "张强" not in page and "import-link" not in page
    assert "赵敏" in cl.get("/people/?q=1380000000").content.decode()
    assert cl.get("/people/import").status_code == 403
    assert _upload(cl, ROSTER.replace("李伟", "李四").encode()).status_code == 403
    assert not Person.objects.filter(name="李四").exists()
