"""Issue 14, items 2 and 3 (server side): resident self-declaration on a public phone
page, the staff approval queue with the roster match, the phone pass page opened with a
link + one-time code, cards printed from the record, visitor invitations (resident or
staff) with a visitor pass of role VISITOR for the inviting unit and the window.
Bad input, throttling, CSRF, permissions and leaks (nothing personal on public pages,
nothing that tells whether a name or phone is on the roster) included."""
from __future__ import annotations

import re
import time

import pytest

from server_helpers import db, dj, make_community  # noqa: F401

PW = "staff-pass-1234"


@pytest.fixture
def site(db):
    from django.contrib.auth.models import User

    from gatepass.server import access, declare
    from gatepass.server.models import Person, Unit

    c = make_community("maple", "Maple Court")
    oak = make_community("oak", "Oak Yard")
    unit = Unit.objects.create(community=c, building=3, entrance=1, room=1203)
    roster = Person.objects.create(community=c, name="Li Wei", phone="13800138000", unit=unit)
    users = {}
    for name, cid, role in [("op", "maple", "operator"), ("viewer", "maple", "viewer"), ("adm", "maple", "admin"),
                            ("oak-op", "oak", "operator")]:
        users[name] = User.objects.create_user(name, password=PW)
        access.add_member(users[name], cid, role)
    link = declare.declare_link(c)
    return {"c": c, "oak": oak, "roster": roster, "users": users, "key": link.key}


def _client(user=None, addr="10.0.0.1", **kw):
    from django.test import Client

    cl = Client(REMOTE_ADDR=addr, **kw)
    if user is not None:
        cl.force_login(user)
    return cl


DECL = {"name": "Li Wei", "phone": "138 0013 8000", "building": "3", "entrance": "1", "room": "1203", "role": "0",
        "consent": "on"}


def _declare(cl, key, **over):
    data = dict(DECL, **over)
    return cl.post("/declare/%s/" % key, data)


def _token(r) -> str:
    assert r.status_code == 302, r.content[:1500]
    m = re.fullmatch(r"/m/([A-Za-z0-9_-]+)/", r["Location"])
    assert m, r["Location"]
    return m.group(1)


def _scrub(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r"/m/[A-Za-z0-9_-]+/", "/m/TOKEN/", html)


# ------------------------------------------------------------------ declaring


def test_declaration_page_and_submission(site):
    from gatepass.server.models import Declaration

    cl = _client()
    page = cl.get("/declare/%s/" % site["key"], HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "居民自助申报" in page and "Maple Court" in page and 'name="csrfmiddlewaretoken"' in page
    assert "Resident self-declaration" in cl.get("/declare/%s/" % site["key"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    token = _token(_declare(cl, site["key"]))
    d = Declaration.objects.get()
    assert (d.name, d.phone, d.unit_text, d.role, d.status) == ("Li Wei", "138 0013 8000", "3-1-1203", 0, "pending")
    assert d.remote_addr == "10.0.0.1"
    page = cl.get("/m/%s/" % token).content.decode()
    assert 'id="state"' in page and "waiting for staff" in page
    assert "Li Wei" not in page and "13800138000" not in page and "138 0013 8000" not in page
    # only the hash of the link token is kept
    from gatepass.server import declare

    assert d.link.token_hash == declare.token_hash(token) and token not in d.link.token_hash


def test_the_answer_does_not_tell_whether_someone_is_on_the_roster(site):
    """Same status, same page (but the link) for a roster match and a stranger."""
    a, b = _client(addr="10.0.0.2"), _client(addr="10.0.0.3")
    ra = _declare(a, site["key"])
    rb = _declare(b, site["key"], name="Stranger", phone="13999999999", building="9", entrance="9", room="909")
    assert ra.status_code == rb.status_code == 302
    pa = _scrub(a.get(ra["Location"]).content.decode())
    pb = _scrub(b.get(rb["Location"]).content.decode())
    assert pa == pb


@pytest.mark.parametrize("over,field", [
    ({"name": ""}, "name"), ({"name": "x" * 51}, "name"), ({"name": "a\x07b"}, "name"),
    ({"phone": "12"}, "phone"), ({"phone": "call me maybe"}, "phone"), ({"phone": "1" * 21}, "phone"),
    ({"building": "0"}, "building"), ({"building": "70000"}, "building"), ({"room": "abc"}, "room"),
    ({"entrance": "-1"}, "entrance"), ({"role": "7"}, "role"), ({"role": "99"}, "role"), ({"consent": ""}, "consent"),
])
def test_bad_input_is_refused_with_a_message_and_nothing_stored(site, over, field):
    from gatepass.server.models import Declaration

    r = _declare(_client(), site["key"], **over)
    assert r.status_code == 200
    page = r.content.decode()
    assert 'class="errorlist' in page and "Traceback" not in page
    assert Declaration.objects.count() == 0


def test_unknown_or_closed_link_and_oversized_bodies(site):
    from gatepass.server.models import Declaration, DeclareLink

    cl = _client()
    assert cl.get("/declare/nope-not-a-key/").status_code == 404
    assert cl.post("/declare/nope-not-a-key/", DECL).status_code == 404
    r = cl.post("/declare/%s/" % site["key"], dict(DECL, name="x" * 5000))
    assert r.status_code == 413
    assert cl.put("/declare/%s/" % site["key"]).status_code == 405
    DeclareLink.objects.filter(community=site["c"]).update(enabled=False)
    r = _declare(cl, site["key"])
    assert r.status_code == 200 and Declaration.objects.count() == 0
    assert "does not take self-declarations" in r.content.decode()


def test_declarations_need_the_csrf_token(site):
    from gatepass.server.models import Declaration

    cl = _client(enforce_csrf_checks=True)
    assert cl.post("/declare/%s/" % site["key"], DECL).status_code == 403
    page = cl.get("/declare/%s/" % site["key"]).content.decode()
    tok = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert cl.post("/declare/%s/" % site["key"], dict(DECL, csrfmiddlewaretoken=tok)).status_code == 302
    assert Declaration.objects.count() == 1


def test_one_address_is_throttled(site):
    from gatepass.server.models import Declaration
    from gatepass.server.views_declare import DECLARE_PER_ADDR

    limit = DECLARE_PER_ADDR[0][1]
    cl = _client(addr="10.9.9.9")
    for i in range(limit):
        assert _declare(cl, site["key"], room=str(100 + i)).status_code == 302
    r = _declare(cl, site["key"], room="999")
    assert r.status_code == 429 and "try again later" in r.content.decode().lower()
    assert Declaration.objects.count() == limit
    # another address is not held up by it
    assert _declare(_client(addr="10.9.9.10"), site["key"]).status_code == 302


# ------------------------------------------------------------------ the staff queue


def test_queue_shows_the_roster_match_to_operators_only(site):
    from gatepass.server import declare

    _declare(_client(addr="10.0.1.1"), site["key"])  # Li Wei, phone written differently: full match
    _declare(_client(addr="10.0.1.2"), site["key"], name="Li  Wei", phone="13700000000")  # name only
    _declare(_client(addr="10.0.1.3"), site["key"], name="Wang Fang")  # phone only
    _declare(_client(addr="10.0.1.4"), site["key"], name="Wang Fang", phone="13700000001")  # unit only
    _declare(_client(addr="10.0.1.5"), site["key"], name="Zhou", phone="13800138000", building="8")  # none
    from gatepass.server.models import Declaration

    got = [declare.roster_match(d)["quality"] for d in Declaration.objects.order_by("created_at", "pk")]
    assert got == ["full", "name", "phone", "unit", "none"]
    m = declare.roster_match(Declaration.objects.order_by("pk").last())
    assert [p.name for p in m["elsewhere"]] == ["Li Wei"]  # same phone at another unit
    page = _client(site["users"]["op"]).get("/declarations/").content.decode()
    for text in ("name and phone match the resident list", "name matches, phone differs",
                 "phone matches, name differs", "unit on the list, nobody of this name or phone",
                 "unit not on the resident list", "same phone at 3-1-1203", "Wang Fang"):
        assert text in page, text
    assert _client(site["users"]["viewer"]).get("/declarations/").status_code == 403
    assert _client(site["users"]["oak-op"]).get("/declarations/?c=maple").status_code == 404
    oak_page = _client(site["users"]["oak-op"]).get("/declarations/").content.decode()
    assert "Wang Fang" not in oak_page and "Li Wei" not in oak_page


def _approve(site, d, **form):
    return _client(site["users"]["op"]).post("/declarations/%d/approve" % d.pk, form)


def test_approve_links_the_roster_person_issues_a_pass_and_the_phone_shows_it(site):
    from app import p256, passes

    from gatepass.server.models import AuditEntry, Declaration, IssuerKey, Pass, Person

    resident = _client(addr="10.0.2.1")
    token = _token(_declare(resident, site["key"]))
    d = Declaration.objects.get()
    r = _approve(site, d, person=str(site["roster"].pk), role="0", days="30")
    assert r.status_code == 200
    slip = r.content.decode()
    code = re.search(r'id="phone-code">(\d{4} \d{4})<', slip).group(1)
    staff_url = re.search(r'id="phone-url">([^<]+)<', slip).group(1)
    d.refresh_from_db()
    p = d.pass_obj
    assert d.status == "approved" and d.person == site["roster"] and p.person == site["roster"]
    assert Person.objects.count() == 1  # linked, not a second Li Wei
    assert (p.role, p.unit_text, p.revoked) == (0, "3-1-1203", False)
    assert AuditEntry.objects.filter(action="declaration_approve", community_id="maple").count() == 1
    audit_text = " ".join(AuditEntry.objects.values_list("detail", flat=True))
    assert "Li Wei" not in audit_text and "13800138000" not in audit_text
    # the resident's own session shows the pass now: the signed GP1 text as a QR, nothing personal
    page = resident.get("/m/%s/" % token).content.decode()
    assert 'id="pass-qr"' in page and "<svg" in page and "3-1-1203" in page
    assert "Li Wei" not in page and "13800138000" not in page and "138 0013 8000" not in page
    # the pass the phone shows is accepted by the firmware's own validation
    k = IssuerKey.objects.get(community=site["c"], kid=p.kid)
    got = passes.validate(p.text, {bytes.fromhex(k.kid): p256.PublicKey(bytes.fromhex(k.pub))}, "maple",
                          int(time.time()))
    assert not isinstance(got, int), got
    assert (got.role, got.unit()) == (0, "3-1-1203")
    # a second approval of the same declaration does nothing
    assert _approve(site, d).status_code == 302 and Pass.objects.count() == 1
    # the staff's link + code open the pass in another browser, once
    path = staff_url[staff_url.index("/m/"):]
    other = _client(addr="10.0.2.2")
    assert 'id="code-form"' in other.get(path).content.decode() and p.text[:20] not in other.get(path).content.decode()
    r = other.post(path, {"code": code})
    assert r.status_code == 302 and 'id="pass-qr"' in other.get(path).content.decode()
    third = _client(addr="10.0.2.3")
    r = third.post(path, {"code": code})
    assert r.status_code == 403 and "wrong, used or expired" in r.content.decode()


def test_approve_without_a_roster_match_makes_a_new_person(site):
    from gatepass.server.models import Declaration, Person

    _declare(_client(), site["key"], name="Wang Fang", phone="13700000001", building="5", entrance="2", room="501",
             role="1")
    d = Declaration.objects.get()
    assert _approve(site, d).status_code == 200
    d.refresh_from_db()
    assert d.person.name == "Wang Fang" and d.person.unit.building == 5 and Person.objects.count() == 2
    assert d.pass_obj.role == 1  # the claimed role unless staff pick another


def test_approve_and_reject_need_an_operator_of_that_community(site):
    from gatepass.server.models import Declaration

    _declare(_client(), site["key"])
    d = Declaration.objects.get()
    assert _client(site["users"]["viewer"]).post("/declarations/%d/approve" % d.pk).status_code == 403
    assert _client(site["users"]["oak-op"]).post("/declarations/%d/approve" % d.pk).status_code == 404
    assert _client(site["users"]["oak-op"]).post("/declarations/%d/reject" % d.pk, {"reason": "x"}).status_code == 404
    assert _client().post("/declarations/%d/approve" % d.pk).status_code == 302  # to the login page
    assert _client(site["users"]["op"]).get("/declarations/%d/approve" % d.pk).status_code == 405
    d.refresh_from_db()
    assert d.status == "pending"
    # another community's person cannot be linked
    from gatepass.server.models import Person

    stranger = Person.objects.create(community=site["oak"], name="Li Wei")
    r = _approve(site, d, person=str(stranger.pk))
    assert r.status_code == 302
    d.refresh_from_db()
    assert d.status == "pending"


def test_reject_needs_a_reason_which_the_resident_reads(site):
    from gatepass.server.models import AuditEntry, Declaration

    resident = _client()
    token = _token(_declare(resident, site["key"]))
    d = Declaration.objects.get()
    op = _client(site["users"]["op"])
    op.post("/declarations/%d/reject" % d.pk, {"reason": "  "})
    d.refresh_from_db()
    assert d.status == "pending"
    assert op.post("/declarations/%d/reject" % d.pk, {"reason": "not on the lease"}).status_code == 302
    d.refresh_from_db()
    assert d.status == "rejected" and d.decided_by == site["users"]["op"]
    page = resident.get("/m/%s/" % token).content.decode()
    assert "rejected" in page and "not on the lease" in page and "<svg" not in page
    assert AuditEntry.objects.filter(action="declaration_reject").count() == 1


# ------------------------------------------------------------------ codes


def _approved(site):
    from gatepass.server.models import Declaration

    token = _token(_declare(_client(addr="10.0.3.1"), site["key"]))
    d = Declaration.objects.get()
    slip = _approve(site, d).content.decode()
    code = re.search(r'id="phone-code">(\d{4} \d{4})<', slip).group(1).replace(" ", "")
    url = re.search(r'id="phone-url">([^<]+)<', slip).group(1)
    return token, url[url.index("/m/"):], code, Declaration.objects.get().pass_obj


def test_wrong_codes_lock_the_link_until_staff_give_a_new_code(site):
    from gatepass.server import declare
    from gatepass.server.models import AccessCode

    _token_, path, code, p = _approved(site)
    assert AccessCode.objects.filter(code_hash__contains=code).count() == 0  # stored hashed
    cl = _client(addr="10.0.4.1")
    for i in range(declare.MAX_FAILURES):
        r = cl.post(path, {"code": "%08d" % i if "%08d" % i != code else "99999999"})
        assert r.status_code == 403
    page = cl.get(path).content.decode()
    assert 'id="locked"' in page
    assert cl.post(path, {"code": code}).status_code == 403  # even the right code, now
    assert 'id="pass-qr"' not in cl.get(path).content.decode()
    # staff: a new link and code (the pass's old links unlock with a new code of their own)
    r = _client(site["users"]["op"]).post("/passes/%d/phone-code" % p.pk)
    assert r.status_code == 200
    new_code = re.search(r'id="phone-code">(\d{4} \d{4})<', r.content.decode()).group(1)
    new_url = re.search(r'id="phone-url">([^<]+)<', r.content.decode()).group(1)
    new_path = new_url[new_url.index("/m/"):]
    assert cl.post(new_path, {"code": new_code}).status_code == 302
    assert 'id="pass-qr"' in cl.get(new_path).content.decode()


def test_codes_expire_and_the_code_route_is_throttled(site):
    from django.utils import timezone

    from gatepass.server.models import AccessCode
    from gatepass.server.views_declare import CODE_PER_ADDR

    _t, path, code, _p = _approved(site)
    AccessCode.objects.update(expires_at=timezone.now())
    assert _client(addr="10.0.5.1").post(path, {"code": code}).status_code == 403
    cl = _client(addr="10.0.5.2")
    statuses = {cl.post(path, {"code": "1"}).status_code for _ in range(CODE_PER_ADDR[1] + 1)}
    assert 429 in statuses


def test_a_resident_makes_a_code_for_another_phone(site):
    token, _path, _code, _p = _approved(site)
    from gatepass.server.models import Declaration

    # the declaring session (opened by the declaration) makes a code for another phone
    cl = _client(addr="10.0.3.1")
    assert cl.post("/m/%s/code" % token).status_code == 302  # not opened in this new client
    d = Declaration.objects.get()
    from gatepass.server import declare

    s = cl.session
    declare.open_in_session(s, d.link)
    s.save()
    r = cl.post("/m/%s/code" % token)
    code = re.search(r'class="code">(\d{4} \d{4})<', r.content.decode()).group(1)
    other = _client(addr="10.0.3.9")
    assert other.post("/m/%s/" % token, {"code": code}).status_code == 302
    assert 'id="pass-qr"' in other.get("/m/%s/" % token).content.decode()


def test_unknown_links_say_nothing(site):
    cl = _client()
    for path in ("/m/AAAAAAAAAAAAAAAAAAAAAA/", "/m/short/", "/v/AAAAAAAAAAAAAAAAAAAAAA/", "/m/%s/" % ("x" * 200)):
        r = cl.get(path)
        assert r.status_code == 404 and "Maple" not in r.content.decode()
    assert cl.post("/m/AAAAAAAAAAAAAAAAAAAAAA/invite", {"hours": "2"}).status_code == 404


# ------------------------------------------------------------------ cards


def test_card_pdf_from_the_record(site):
    _t, _path, _code, p = _approved(site)
    r = _client(site["users"]["op"]).get("/passes/%d/card.pdf" % p.pk)
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    data = b"".join(r.streaming_content)
    assert data.startswith(b"%PDF") and b"Li Wei" not in data
    assert _client(site["users"]["viewer"]).get("/passes/%d/card.pdf" % p.pk).status_code == 403


def test_poster_and_new_link(site):
    from gatepass.server.models import DeclareLink

    op = _client(site["users"]["op"])
    page = op.get("/declarations/poster/").content.decode()
    assert "/declare/%s/" % site["key"] in page and "<svg" in page
    assert op.post("/declarations/poster/", {"rotate": "1"}).status_code == 403  # admins only
    adm = _client(site["users"]["adm"])
    assert adm.post("/declarations/poster/", {"rotate": "1"}).status_code == 302
    new = DeclareLink.objects.get(community=site["c"]).key
    assert new != site["key"]
    assert _client().get("/declare/%s/" % site["key"]).status_code == 404
    assert _client().get("/declare/%s/" % new).status_code == 200


# ------------------------------------------------------------------ visitors


def _open_pass_session(site):
    token, _path, _code, p = _approved(site)
    cl = _client(addr="10.0.3.1")
    from gatepass.server import declare
    from gatepass.server.models import Declaration

    s = cl.session
    declare.open_in_session(s, Declaration.objects.get().link)
    s.save()
    return cl, token, p


def test_a_resident_invites_a_visitor_for_two_hours(site):
    from app import p256, passes

    from gatepass.server import declare
    from gatepass.server.models import AuditEntry, IssuerKey, VisitorInvite

    cl, token, p = _open_pass_session(site)
    assert 'id="invite-form"' in cl.get("/m/%s/" % token).content.decode()
    t0 = int(time.time())
    r = cl.post("/m/%s/invite" % token, {"hours": "2"})
    assert r.status_code == 200, r.content[:1000]
    url = re.search(r'id="visitor-url">([^<]+)<', r.content.decode()).group(1)
    inv = VisitorInvite.objects.get()
    vp = inv.visitor_pass
    assert (vp.role, vp.unit_text, inv.by_pass, vp.person) == (declare.VISITOR, "3-1-1203", p, None)
    assert abs((inv.end - inv.start).total_seconds() - 7200) < 1
    assert abs(int(vp.exp.timestamp()) - (t0 + 7200)) <= 5 and int(vp.nbf.timestamp()) <= t0
    assert AuditEntry.objects.filter(action="visitor_invite").count() == 1
    # the visitor's page: the pass, the inviting unit, the window; nothing personal
    visitor = _client(addr="10.7.7.7")
    page = visitor.get(url[url.index("/v/"):]).content.decode()
    assert 'id="pass-qr"' in page and "3-1-1203" in page and "Li Wei" not in page and "1380013" not in page
    k = IssuerKey.objects.get(community=site["c"], kid=vp.kid)
    keys = {bytes.fromhex(k.kid): p256.PublicKey(bytes.fromhex(k.pub))}
    got = passes.validate(vp.text, keys, "maple", t0 + 60)
    assert not isinstance(got, int) and (got.role, got.unit()) == (declare.VISITOR, "3-1-1203")
    assert got.exp - got.nbf <= 2 * 3600 + 60
    assert passes.validate(vp.text, keys, "maple", t0 + 2 * 3600 + 10) == passes.reasons.EXPIRED
    # listed for staff (viewers read), with who invited
    page = _client(site["users"]["viewer"]).get("/visitors/").content.decode()
    assert "3-1-1203" in page and p.cti[:8] in page


def test_visitor_invitation_bounds_and_session(site):
    from gatepass.server import declare
    from gatepass.server.models import VisitorInvite

    cl, token, p = _open_pass_session(site)
    for bad in ({"hours": "0"}, {"hours": str(declare.MAX_VISIT_HOURS + 1)}, {"hours": "x"},
                {"hours": "2", "start": "yesterday"}, {"hours": "2", "start": "2001-01-01T10:00"},
                {"hours": "2", "start": "2999-01-01T10:00"}):
        r = cl.post("/m/%s/invite" % token, bad)
        assert r.status_code == 400 and 'id="invite-error"' in r.content.decode(), bad
    assert VisitorInvite.objects.count() == 0
    # not opened in this browser: no invitation
    assert _client(addr="10.1.1.1").post("/m/%s/invite" % token, {"hours": "2"}).status_code == 302
    # at most RESIDENT_INVITES_PER_DAY a day from one pass
    for _ in range(declare.RESIDENT_INVITES_PER_DAY):
        assert cl.post("/m/%s/invite" % token, {"hours": "1"}).status_code == 200
    assert cl.post("/m/%s/invite" % token, {"hours": "1"}).status_code == 400
    assert VisitorInvite.objects.count() == declare.RESIDENT_INVITES_PER_DAY
    # a revoked pass invites nobody
    p.revoked = True
    p.save()
    assert 'id="invite-form"' not in cl.get("/m/%s/" % token).content.decode()


def test_staff_invite_list_and_cancel(site):
    from gatepass.server import bundlesvc
    from gatepass.server.models import AuditEntry, VisitorInvite

    op = _client(site["users"]["op"])
    r = op.post("/visitors/", {"building": "3", "entrance": "1", "room": "1203", "hours": "2", "note": "plumber"})
    assert r.status_code == 200
    url = re.search(r'id="visitor-url">([^<]+)<', r.content.decode()).group(1)
    inv = VisitorInvite.objects.get()
    assert inv.by_user == site["users"]["op"] and inv.note == "plumber"
    visitor = _client(addr="10.7.7.8")
    page = visitor.get(url[url.index("/v/"):]).content.decode()
    assert 'id="pass-qr"' in page and "plumber" not in page
    for bad in ({"building": "0", "hours": "2"}, {"building": "3", "hours": "13"}, {"building": "x"}):
        assert op.post("/visitors/", bad).status_code == 302
    assert VisitorInvite.objects.count() == 1
    assert _client(site["users"]["viewer"]).post("/visitors/", {"building": "3", "hours": "2"}).status_code == 403
    assert _client(site["users"]["oak-op"]).post("/visitors/%d/cancel" % inv.pk).status_code == 404
    v0 = bundlesvc.current_version("maple")
    assert op.post("/visitors/%d/cancel" % inv.pk).status_code == 302
    inv.refresh_from_db()
    assert inv.visitor_pass.revoked and bundlesvc.current_version("maple") > v0
    assert 'id="pass-qr"' not in visitor.get(url[url.index("/v/"):]).content.decode()
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {"visitor_invite", "visitor_cancel"}


def test_a_resident_cancels_their_own_invitation_only(site):
    from gatepass.server import declare
    from gatepass.server.models import VisitorInvite

    cl, token, p = _open_pass_session(site)
    assert cl.post("/m/%s/invite" % token, {"hours": "2"}).status_code == 200
    mine = VisitorInvite.objects.get()
    other, _t = declare.invite(site["c"], (5, 1, 101), 2, by_user=site["users"]["op"])
    page = cl.get("/m/%s/" % token).content.decode()
    assert "/m/%s/invite/%d/cancel" % (token, mine.pk) in page
    # staff's invitation is not the resident's to cancel; nor from a browser the pass is not open in
    assert cl.post("/m/%s/invite/%d/cancel" % (token, other.pk)).status_code == 404
    assert _client(addr="10.1.2.3").post("/m/%s/invite/%d/cancel" % (token, mine.pk)).status_code == 302
    mine.refresh_from_db()
    assert not mine.visitor_pass.revoked
    assert cl.post("/m/%s/invite/%d/cancel" % (token, mine.pk)).status_code == 302
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.visitor_pass.revoked and not other.visitor_pass.revoked


def test_any_resident_pass_gets_a_phone_link_from_its_card(site):
    """A pass issued at the passes page or from the roster (no declaration) reaches a phone
    the same way: the card offers a new phone link + code, which opens the pass."""
    from gatepass.server import views

    p = views.issue_pass(site["c"], name="Zhang Min", phone="555-0199", role=0, building=3, entrance=1, room=1203)
    op = _client(site["users"]["op"])
    card = op.get("/passes/%d/card" % p.pk).content.decode()
    assert "/passes/%d/phone-code" % p.pk in card and "/passes/%d/card.pdf" % p.pk in card
    slip = op.post("/passes/%d/phone-code" % p.pk).content.decode()
    code = re.search(r'id="phone-code">(\d{4} \d{4})<', slip).group(1)
    url = re.search(r'id="phone-url">([^<]+)<', slip).group(1)
    phone = _client(addr="10.3.3.3")
    assert phone.post(url[url.index("/m/"):], {"code": code}).status_code == 302
    page = phone.get(url[url.index("/m/"):]).content.decode()
    assert 'id="pass-qr"' in page and "Zhang Min" not in page and "555-0199" not in page
