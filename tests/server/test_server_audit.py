"""The audit log (issue 12): who changed mode, quarantines, revocations, devices, acked
alerts and memberships; when; from which address. Append-only: the application, the
admin and the database itself refuse changes and deletes. Shown on a staff page scoped
by community."""
from __future__ import annotations

import pytest

from server_helpers import db, dj, fever, make_community, make_device  # noqa: F401
from test_server_api import Dev

PW = "staff-pass-1234"


@pytest.fixture
def site(db):
    from django.contrib.auth.models import User

    from gatepass.server import access

    maple = make_community("maple", "Maple Court")
    make_community("oak", "Oak Yard")
    dev = make_device(maple, "m-in", "Maple gate", "in")
    Dev(dev).post(fever(1))
    admin = User.objects.create_user("boss", password=PW)
    access.add_member(admin, "maple", "admin")
    oak = User.objects.create_user("oak-boss", password=PW)
    access.add_member(oak, "oak", "admin")
    root = User.objects.create_superuser("root", password=PW)
    return maple, admin, oak, root


def _client(user, addr="192.0.2.7"):
    from django.test import Client

    cl = Client(REMOTE_ADDR=addr)
    cl.force_login(user)
    return cl


def test_staff_changes_are_recorded_with_who_when_and_where(site):
    from django.utils import timezone

    from gatepass.server import views
    from gatepass.server.models import Alert, AuditEntry, Pass, Quarantine

    maple, admin, _, _ = site
    t0 = timezone.now()
    cl = _client(admin)
    cl.post("/rules/", {"set_mode": "1", "mode": "2", "threshold": "37.5"})
    cl.post("/rules/", {"add_quarantine": "1", "building": "3", "entrance": "1", "days": "14"})
    cl.post("/rules/quarantine/%d/lift" % Quarantine.objects.get().pk)
    p = views.issue_pass(maple, name="Li Wei", role=0, building=3, entrance=1, room=1)
    cl.post("/passes/%d/revoke" % p.pk, {"reason": "lost card"})
    cl.post("/alerts/%d/ack" % Alert.objects.get().pk)
    cl.post("/members/", {"username": "guard9", "role": "operator"})
    got = [(e.actor, e.action, e.community_id, e.remote_addr) for e in AuditEntry.objects.order_by("id")]
    assert got == [("boss", a, "maple", "192.0.2.7") for a in
                   ("mode", "quarantine_add", "quarantine_lift", "pass_revoke", "alert_ack", "staff_add",
                    "member_add")]
    e = {e.action: e for e in AuditEntry.objects.all()}
    assert "prevention 37.30 -> sealed 37.50" in e["mode"].detail
    assert e["quarantine_add"].target == "3-1-0"  # building-entrance-room, 0 = all
    assert e["pass_revoke"].target == Pass.objects.get().cti and e["pass_revoke"].detail == "lost card"
    assert e["member_add"].target == "guard9" and e["member_add"].detail == "operator"
    assert all(t0 <= x.at <= timezone.now() for x in e.values())


def test_the_audit_page_shows_only_its_community(site):
    from gatepass.server import audit

    maple, admin, oak, _ = site
    _client(admin).post("/rules/", {"set_mode": "1", "mode": "1", "threshold": "37.0"})
    audit.record(None, "mode", "oak", "oak", "oak's own change", actor="oak-boss")
    page = _client(admin).get("/audit/").content.decode()
    assert 'data-action="mode"' in page and "boss" in page and "192.0.2.7" in page
    assert "oak&#x27;s own change" not in page and "oak's own change" not in page
    oak_page = _client(oak).get("/audit/").content.decode()
    assert "oak&#x27;s own change" in oak_page and "192.0.2.7" not in oak_page
    assert _client(oak).get("/audit/?c=maple").status_code == 404


def test_the_log_is_append_only_in_the_app_the_admin_and_the_database(site):
    from django.db import DatabaseError, connection, transaction

    from gatepass.server import audit
    from gatepass.server.models import AppendOnlyError, AuditEntry

    _, _, _, root = site
    e = audit.record(None, "mode", "maple", "maple", "x")
    e.detail = "rewritten"
    with pytest.raises(AppendOnlyError):
        e.save()
    with pytest.raises(AppendOnlyError):
        e.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=e.pk).update(detail="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    # below the ORM: the database's triggers
    for sql in ("UPDATE gatepass_auditentry SET detail = 'rewritten'", "DELETE FROM gatepass_auditentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(sql)
    assert AuditEntry.objects.get(pk=e.pk).detail == "x"
    # the admin shows it read-only
    cl = _client(root)
    assert cl.get("/admin/gatepass/auditentry/").status_code == 200
    assert cl.get("/admin/gatepass/auditentry/%d/change/" % e.pk).status_code == 200  # a view, no form
    assert cl.post("/admin/gatepass/auditentry/%d/change/" % e.pk, {"detail": "rewritten"}).status_code == 403
    assert cl.post("/admin/gatepass/auditentry/%d/delete/" % e.pk, {"post": "yes"}).status_code == 403
    assert cl.get("/admin/gatepass/auditentry/add/").status_code == 403
    assert AuditEntry.objects.get(pk=e.pk).detail == "x"


def test_admin_changes_are_recorded(site):
    from gatepass.server.models import AuditEntry, Device

    maple, _, _, root = site
    cl = _client(root)
    r = cl.post("/admin/gatepass/device/m-in/change/", {"id": "m-in", "community": "maple", "gate": "Renamed gate",
                                                         "direction": "1", "active": ""})
    assert r.status_code == 302, r.content[:500]
    assert Device.objects.get(pk="m-in").active is False
    e = AuditEntry.objects.get(action="device_change")
    assert (e.actor, e.community_id, e.remote_addr) == ("root", "maple", "192.0.2.7") and "m-in" in e.target
