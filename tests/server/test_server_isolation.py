"""Home isolation on the server (issue 14.4): the Isolation record, what the bundle carries
(pass ids and end times only), the device verifying and applying it with the gate's own
code, the staff page (list, isolate, extend, release, certificate) under the staff roles,
and the audit log."""
from __future__ import annotations

import datetime as dt
import os

import pytest

from server_helpers import db, dj, make_community  # noqa: F401
from gatepass.issuing import bundles
from gatepass.mp.fw import reasons, roles

PW = "iso-pass-123"


@pytest.fixture
def maple(db):
    from gatepass.server import access, views
    from django.contrib.auth.models import User

    c = make_community()
    li = views.issue_pass(c, name="Li Wei", phone="555-0101", role=0, building=3, entrance=1, room=1203)
    other = views.issue_pass(c, name="Zhang San", role=0, building=3, entrance=1, room=1204)
    users = {}
    for role in ("viewer", "operator", "admin"):
        users[role] = User.objects.create_user("maple-" + role, password=PW)
        access.add_member(users[role], "maple", role)
    return c, li, other, users


def _client(user):
    from django.test import Client

    cl = Client()
    cl.force_login(user)
    return cl


def _bundle_isolated(c):
    from gatepass.server import bundlesvc

    data, version = bundlesvc.current_bundle(c.pk)
    m = bundles.verify(data, {bytes.fromhex(bundlesvc.bundle_public(c)["kid"]):
                              bytes.fromhex(bundlesvc.bundle_public(c)["pub"])})
    return bundles.isolated_entries(m), version, data


def test_bundle_lists_only_pass_ids_and_end_times_and_follows_every_change(maple):
    from django.utils import timezone

    from gatepass.server import views, views_isolation as vi
    from gatepass.server.models import AuditEntry, Community

    c, li, other, _users = maple
    assert _bundle_isolated(c)[0] == []
    v0 = Community.objects.get(pk=c.pk).bundle_version
    iso = vi.set_isolation(c, person=li.person, days=14, note="returned from Wuhan")
    ent, v1, data = _bundle_isolated(c)
    assert v1 > v0
    assert ent == [(bytes.fromhex(li.pid), int(iso.end.timestamp()))]
    for personal in (b"Li Wei", b"555-0101", b"Wuhan", "Li Wei".encode("utf-16-le")):
        assert personal not in data  # nothing personal in what the gates get
    # a new pass for the isolated person is listed too
    second = views.issue_pass(c, name="Li Wei (card 2)", role=0, building=3, entrance=1, room=1203)
    second.person = li.person
    second.save()
    from gatepass.server.models import Pass

    p2 = Pass.objects.create(community=c, cti="ab" * 8, person=li.person, role=0, building=3, entrance=1, room=1203,
                             nbf=timezone.now(), exp=timezone.now() + dt.timedelta(days=30))
    ent, v2, _ = _bundle_isolated(c)
    assert v2 > v1 and {e[0].hex() for e in ent} == {li.pid, second.pid, p2.pid}
    # extend: new end in the bundle
    new_end = iso.end + dt.timedelta(days=7)
    vi.extend(iso, new_end)
    ent, v3, _ = _bundle_isolated(c)
    assert v3 > v2 and {e[1] for e in ent} == {int(new_end.timestamp())}
    with pytest.raises(ValueError):
        vi.extend(iso, timezone.now() - dt.timedelta(minutes=1))
    # release: gone from the next bundle
    vi.release(iso)
    ent, v4, _ = _bundle_isolated(c)
    assert v4 > v3 and ent == []
    actions = list(AuditEntry.objects.filter(community_id="maple", action__startswith="isolation_")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["isolation_add", "isolation_extend", "isolation_release"]
    # a pass-only isolation (a pass with no person on record)
    vi.set_isolation(c, gate_pass=other, days=1)
    ent, _v, _ = _bundle_isolated(c)
    assert [e[0].hex() for e in ent] == [other.pid]


def test_device_verifies_and_applies_the_server_bundle_and_lifts_at_the_end(maple, tmp_path):
    """Server builds, the firmware's own bundle code verifies and stores it, the firmware
    policy refuses the exit until the end and allows it after, without another bundle."""
    from app import bundle as fwbundle, lists as fwlists, policy, settings as fwsettings

    from gatepass.server import bundlesvc, views_isolation as vi

    c, li, other, _users = maple
    iso = vi.set_isolation(c, person=li.person, days=3)
    data, version = bundlesvc.current_bundle(c.pk)
    pub = bundlesvc.bundle_public(c)
    store = fwbundle.Store(str(tmp_path), {bytes.fromhex(pub["kid"]): bytes.fromhex(pub["pub"])}, c.pk)
    assert store.apply(data) == (fwbundle.APPLIED, version)
    lk = fwlists.Lists(str(tmp_path))
    end = int(iso.end.timestamp())
    assert lk.isolated_until(bytes.fromhex(li.pid)) == end
    assert lk.isolated_until(bytes.fromhex(other.pid)) == 0

    class P:  # the verified pass, as far as the policy reads it
        role, building, entrance, room, dirs = roles.RESIDENT, 3, 1, 1203, roles.BOTH
        nbf, exp = end - 30 * 86400, end + 30 * 86400
        cti = bytes.fromhex(li.cti)

    s = fwsettings.Settings()
    ok = policy.Reading(3650)
    assert policy.decide(P, ok, roles.OUT, end - 60, True, s, lk).reason == reasons.ISOLATED
    assert policy.decide(P, ok, roles.IN, end - 60, True, s, lk).allow
    assert policy.decide(P, ok, roles.OUT, end, True, s, lk).allow
    assert policy.decide(P, ok, roles.OUT, end - 60, False, s, lk).reason == reasons.ISOLATED


def test_staff_page_roles_isolate_extend_release_and_certificate(maple):
    from django.utils import timezone

    from gatepass.server.models import Isolation

    c, li, other, users = maple
    viewer, op = _client(users["viewer"]), _client(users["operator"])
    page = viewer.get("/isolation/").content.decode()
    assert "isolate-form" not in page  # viewers read only
    assert viewer.post("/isolation/", {"who": li.pid, "days": "14"}).status_code == 403
    assert not Isolation.objects.exists()
    # operator: by pass id (the person is isolated) and by unit (everyone registered there)
    r = op.post("/isolation/", {"who": li.pid, "days": "14", "note": "returnee"})
    assert r.status_code == 302
    r = op.post("/isolation/", {"who": "3-1-1204", "days": "7"})
    assert r.status_code == 302
    assert sorted(Isolation.objects.values_list("person__name", flat=True)) == ["Li Wei", "Zhang San"]
    page = viewer.get("/isolation/").content.decode()
    assert "Li Wei" in page and "3-1-1203" in page and "Zhang San" in page
    assert ">14<" in page and ">7<" in page  # days left
    bad = op.post("/isolation/", {"who": "9-9-999", "days": "3"}).content.decode()
    assert "nobody is registered in 9-9-999" in bad
    iso = Isolation.objects.get(person__name="Li Wei")
    # extend
    new_end = timezone.localtime(iso.end + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    assert viewer.post("/isolation/%d/extend" % iso.pk, {"i%d-end" % iso.pk: new_end}).status_code == 403
    assert op.post("/isolation/%d/extend" % iso.pk, {"i%d-end" % iso.pk: new_end}).status_code == 302
    iso.refresh_from_db()
    assert timezone.localtime(iso.end).strftime("%Y-%m-%dT%H:%M") == new_end
    assert op.get("/isolation/%d/extend" % iso.pk).status_code == 405
    # release -> the certificate
    assert viewer.post("/isolation/%d/release" % iso.pk).status_code == 403
    r = op.post("/isolation/%d/release" % iso.pk)
    assert r.status_code == 302 and r["Location"].endswith("/isolation/%d/certificate" % iso.pk)
    iso.refresh_from_db()
    assert iso.released_at is not None and iso.released_by == "maple-operator"
    cert = viewer.get("/isolation/%d/certificate" % iso.pk).content.decode()
    assert "Li Wei" in cert and "maple-operator" in cert and "3-1-1203" in cert
    assert "Released from home isolation at" in cert
    page = viewer.get("/isolation/").content.decode()
    assert "Release certificate" in page


def test_another_community_sees_nothing(maple):
    from django.contrib.auth.models import User

    from gatepass.server import access, views_isolation as vi

    c, li, _o, _u = maple
    iso = vi.set_isolation(c, person=li.person)
    make_community("oak", "Oak Yard")
    u = User.objects.create_user("oak-admin", password=PW)
    access.add_member(u, "oak", "admin")
    cl = _client(u)
    assert "Li Wei" not in cl.get("/isolation/").content.decode()
    for url in ("/isolation/%d/certificate", "/isolation/%d/release", "/isolation/%d/extend"):
        r = cl.post(url % iso.pk) if not url.endswith("certificate") else cl.get(url % iso.pk)
        assert r.status_code == 404
    iso.refresh_from_db()
    assert iso.released_at is None


def test_a_visitor_passage_shows_the_inviting_unit(maple):
    """A visitor pass (role 7) carries the inviting unit; the gate logs its pass id and
    role; the event and alert pages say whose visitor it was."""
    from server_helpers import ALLOWED, IN, TRUSTED, make_device, rec
    from test_server_api import Dev

    from gatepass.server import views

    c, _li, _o, users = maple
    v = views.issue_pass(c, name="Visitor Zhao", role=roles.VISITOR, building=3, entrance=1, room=1203, days=1)
    dev = Dev(make_device(c, "v-in", "North gate", "in"))
    assert dev.post(rec(1, reason=reasons.OK, flags=TRUSTED | ALLOWED | IN, role=roles.VISITOR,
                        pid=bytes.fromhex(v.pid))).status_code == 200
    assert dev.post(rec(2, reason=reasons.VISITOR_USED, flags=TRUSTED | IN, role=roles.VISITOR,
                        pid=bytes.fromhex(v.pid))).status_code == 200
    page = _client(users["viewer"]).get("/events/").content.decode()
    assert page.count("visitor of 3-1-1203") == 2 and "Visitor pass used" in page


def test_rules_page_sets_the_modes_visitors_are_admitted_in_admins_only_never_sealed(maple):
    from gatepass.server import bundlesvc
    from gatepass.server.models import AuditEntry, Community

    c, _li, _o, users = maple
    admin, op = _client(users["admin"]), _client(users["operator"])
    page = admin.get("/rules/").content.decode()
    import re

    assert re.search(r'value="prevention"\s+checked', page) and re.search(r'value="control"\s*>', page)  # the default
    assert 'value="sealed"' not in page  # not even offered
    assert op.post("/rules/visitors", {"modes": ["prevention", "control"]}).status_code == 403
    v0 = Community.objects.get(pk="maple").bundle_version
    assert admin.post("/rules/visitors", {"modes": ["prevention", "control"]}).status_code == 302
    c = Community.objects.get(pk="maple")
    assert c.device_settings["visitor_modes"] == ["prevention", "control"] and c.bundle_version > v0
    data, _v = bundlesvc.current_bundle("maple")
    pub = bundlesvc.bundle_public(c)
    m = bundles.verify(data, {bytes.fromhex(pub["kid"]): bytes.fromhex(pub["pub"])})
    assert m[bundles.B_SETTINGS]["visitor_modes"] == ["prevention", "control"]  # to every gate
    assert "visitor_modes prevention -> prevention,control" in AuditEntry.objects.filter(
        action="mode").latest("id").detail
    r = admin.post("/rules/visitors", {"modes": ["sealed"]}, follow=True)
    assert "never admitted in sealed mode" in r.content.decode()
    assert Community.objects.get(pk="maple").device_settings["visitor_modes"] == ["prevention", "control"]
    assert admin.post("/rules/visitors", {}).status_code == 302  # none: no visitors in any mode
    assert Community.objects.get(pk="maple").device_settings["visitor_modes"] == []
    assert admin.get("/rules/visitors").status_code == 405
