"""The admin shows the phone pages' records (issue 14): self-declarations, visitor
invitations, home isolations and one-time codes. Read-only (the staff pages make and
change them, with the audit log and the bundle), searchable by unit, named in Chinese,
and never a secret: no code, no code hash, no phone link token hash; the phone and the
address of a declaration only on its own page."""
from __future__ import annotations

import re

import pytest

from server_helpers import db, dj, make_community  # noqa: F401

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
MODELS = {"declaration": "自助申报", "visitorinvite": "访客邀请", "isolation": "居家隔离", "accesscode": "一次性验证码"}


@pytest.fixture
def records(db):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import declare, views, views_isolation
    from gatepass.server.models import AccessCode, Declaration, PhoneAccess

    c = make_community("maple", "Maple Court")
    op = User.objects.create_user("op", password="op-pass-12345")
    d, _token = declare.submit(c, "Li Wei", "13800138000", (3, 1, 1203), 0, "10.9.8.7")
    declare.submit(c, "Zhang San", "13900139000", (5, 2, 501), 0, "10.9.8.6")
    p, _link_token, code = declare.approve(d, op)
    inv, _vtoken = declare.invite(c, (3, 1, 1203), 2, by_pass=p)
    declare.invite(c, (5, 2, 501), 2, by_user=op, note="plumber")
    other = views.issue_pass(c, name="Wang Fang", role=0, building=7, entrance=1, room=702)
    iso = views_isolation.set_isolation(c, person=p.person, note="returnee")
    views_isolation.set_isolation(c, gate_pass=other)
    root = User.objects.create_superuser("root", password="root-pass-123")
    cl = Client()
    cl.force_login(root)
    secrets = [a.code_hash for a in AccessCode.objects.all()] + [a.token_hash for a in PhoneAccess.objects.all()]
    assert secrets and code
    return {"cl": cl, "decl": d, "inv": inv, "iso": iso, "code": code, "secrets": secrets,
            "ac": AccessCode.objects.filter(link__pass_obj=p).first()}


def _page(cl, url, lang=ZH) -> str:
    r = cl.get(url, **lang)
    assert r.status_code == 200, (url, r.status_code)
    return r.content.decode()


def test_each_record_has_a_chinese_admin_list_and_view_without_secrets(records):
    cl = records["cl"]
    index = _page(cl, "/admin/")
    for model, zh in MODELS.items():
        assert 'href="/admin/gatepass/%s/"' % model in index, model
        assert zh in index, (model, zh)
    pages = {m: _page(cl, "/admin/gatepass/%s/" % m) for m in MODELS}
    for o, model in ((records["decl"], "declaration"), (records["inv"], "visitorinvite"),
                     (records["iso"], "isolation"), (records["ac"], "accesscode")):
        pages[model + "-view"] = _page(cl, "/admin/gatepass/%s/%d/change/" % (model, o.pk))
    for name, html in pages.items():
        for s in records["secrets"]:
            assert s not in html, (name, "a hash on the page")
        assert records["code"] not in html and records["code"][:4] + " " + records["code"][4:] not in html, name
        assert "PhoneAccess object" not in html and "VisitorInvite object" not in html, name
    # the list shows the unit, the state and who decided; the phone and address only on the record's page
    assert "3-1-1203" in pages["declaration"] and "已批准" in pages["declaration"]
    assert "13800138000" not in pages["declaration"] and "10.9.8.7" not in pages["declaration"]
    assert "13800138000" in pages["declaration-view"] and "10.9.8.7" in pages["declaration-view"]
    assert "正在隔离" in pages["isolation"] and "3-1-1203" in pages["isolation"] and "7-1-702" in pages["isolation"]
    assert "Li Wei 隔离至" in pages["isolation-view"] and " until " not in pages["isolation-view"]
    assert "有效" in pages["visitorinvite"] and "plumber" not in pages["visitorinvite"]  # staff's note: its page
    # a code's times as the admin shows times, in Chinese, on its own page too
    view = pages["accesscode-view"]
    assert "None" not in view and "+00:00" not in view and re.search(r"\d{4}年\d{1,2}月\d{1,2}日", view), view
    assert "3-1-1203" in pages["accesscode"] and '<td class="field-made_by_text">op</td>' in pages["accesscode"] and "有效" in pages["accesscode"]
    # English pages say it in English
    en = _page(cl, "/admin/gatepass/isolation/", EN)
    assert "Home isolations" in en and "isolated now" in en


def _units(cl, model, q=None) -> list[str]:
    """The unit column of a record list (searched for q)."""
    html = _page(cl, "/admin/gatepass/%s/" % model + ("?q=%s" % q if q is not None else ""))
    return re.findall(r'<td class="field-unit">([^<]*)</td>', html)


@pytest.mark.parametrize("model", list(MODELS))
def test_search_by_unit(records, model):
    cl = records["cl"]
    everything = _units(cl, model)
    assert "3-1-1203" in everything
    assert _units(cl, model, "3-1-1203") == ["3-1-1203"] * everything.count("3-1-1203")
    assert _units(cl, model, " 3 - 1 ") == ["3-1-1203"] * everything.count("3-1-1203")
    for q in ("9-9-9", "Li Wei", "3-1-1203-5", "1203"):
        assert _units(cl, model, q) == [], q
    if model != "accesscode":  # records of two buildings: a building alone finds its own
        other = [u for u in everything if u != "3-1-1203"]
        assert other, everything
        b = other[0].split("-")[0]
        assert _units(cl, model, b) == [u for u in everything if u.startswith(b + "-")]


def test_the_admin_cannot_add_change_or_delete_them(records):
    from gatepass.server.models import Declaration, Isolation, VisitorInvite

    cl = records["cl"]
    before = (Declaration.objects.count(), VisitorInvite.objects.count(), Isolation.objects.count())
    for model, o in (("declaration", records["decl"]), ("visitorinvite", records["inv"]),
                     ("isolation", records["iso"]), ("accesscode", records["ac"])):
        assert cl.get("/admin/gatepass/%s/add/" % model).status_code == 403
        assert cl.post("/admin/gatepass/%s/%d/change/" % (model, o.pk), {"note": "x", "status": "rejected"}
                       ).status_code == 403
        assert cl.post("/admin/gatepass/%s/%d/delete/" % (model, o.pk), {"post": "yes"}).status_code == 403
    assert (Declaration.objects.count(), VisitorInvite.objects.count(), Isolation.objects.count()) == before
    records["iso"].refresh_from_db()
    assert records["iso"].released_at is None and records["iso"].note == "returnee"


def test_state_filters_pick_the_rows_of_their_state(records):
    from django.utils import timezone

    from gatepass.server.models import AccessCode, Isolation

    cl = records["cl"]
    iso = records["iso"]
    iso.released_at = timezone.now()
    iso.save(update_fields=["released_at"])  # one released early, the other isolated now
    AccessCode.objects.filter(pk=records["ac"].pk).update(used_at=timezone.now())

    def count(model, state):
        r = cl.get("/admin/gatepass/%s/?state=%s" % (model, state), **EN)
        assert r.status_code == 200
        return r.context["cl"].result_count

    assert Isolation.objects.count() == 2
    assert (count("isolation", "active"), count("isolation", "released"), count("isolation", "ended")) == (1, 1, 0)
    assert (count("visitorinvite", "active"), count("visitorinvite", "cancelled")) == (2, 0)
    assert (count("accesscode", "used"), count("accesscode", "valid")) == (1, AccessCode.objects.count() - 1)
