"""Per-community staff (issue 12, finding 5): every route of the URLconf, walked with an
account of another community, answers 403/404 and changes nothing; `?c=` picks only a
community the account belongs to; roles inside a community (viewer < operator < admin);
superusers see everything; `gatepass server staff NAME --community C --role R`."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time

import pytest

from gatepass.mp.fw import reasons, record
from server_helpers import IN, TRUSTED, db, dj, make_community, make_device, rec  # noqa: F401
from test_server_api import Dev

PW = "staff-pass-1234"

# Routes that show or change no community's data, with the reason. Every other route of
# the URLconf must refuse an account of another community.
NOT_COMMUNITY_DATA = {
    "login": "the login form",
    "logout": "ends the session",
    "static": "style sheets",
    "device-api": "HMAC-signed device requests, no staff session or password counts (test_server_api)",
    "staff-api-openapi": "the staff API's public schema",
    "language": "the account's own choice of language (saved on the account, not a community's)",
    "public-figures": "the daily public figures: aggregates only, at an unguessable link, answered only while an "
                      "admin publishes it (test_server_report: nothing personal on it)",
    "public-phone": "residents' and visitors' phone pages (self-declaration, phone pass with one-time code, "
                    "visitor pass): no account; throttled; nothing personal (test_server_declare)",
}


# a valid body for maple per staff API operation: only the account's community may refuse it
STAFF_API_BODIES = {
    "api/staff/v1/devices": {"device_id": "x-in", "community": "maple", "gate": "X", "direction": "in"},
    "api/staff/v1/roster": {"community": "maple", "content": "5aeT5ZCNLOaIv+WPtyzouqvku70K5YWl5L61LDEtMS0xLOWxheawkQo=",
                            "commit": True},
    "api/staff/v1/passes": {"community": "maple", "passes": [{"cti": "ab" * 8, "role": 0, "unit": "1-1-1", "nbf": 0,
                                                              "exp": 1, "name": "Intruder"}]},
}


def _kind(route: str) -> str | None:
    if route in ("login/", "logout/", "language/"):
        return route[:-1]
    if route.startswith("^static/"):
        return "static"
    if route.startswith("api/device/v1/"):
        return "device-api"
    if route == "api/staff/v1/openapi.json":
        return "staff-api-openapi"
    if route.startswith("public/figures/"):
        return "public-figures"
    if route.startswith(("declare/", "m/", "v/")):
        return "public-phone"
    return None


def _routes():
    """(route text, pattern) for every URL pattern, URLconf included ones flattened."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), p

    return list(walk(get_resolver().url_patterns, ""))


def _url(route: str, values: dict) -> str:
    """A concrete path for a route: path converters and regex groups filled from values."""

    def val(name):
        if name not in values:
            raise KeyError("route %r has a parameter %r the test does not know: add it" % (route, name))
        return str(values[name])

    s = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: val(m.group(1)), route)
    # regex groups (admin: (?P<app_label>auth|gatepass), catch-all (?P<url>.*))
    s = re.sub(r"\(\?P<(\w+)>[^()]*\)", lambda m: val(m.group(1)), s)
    s = s.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + s


@pytest.fixture
def two(db):
    """maple (the target: a fever alert, a pass, a quarantine, two devices) and oak."""
    from django.contrib.auth.models import User

    from gatepass.server import access, views
    from gatepass.server.models import Alert, Quarantine

    maple = make_community("maple", "Maple Court")
    oak = make_community("oak", "Oak Yard")
    m_in = make_device(maple, "m-in", "Maple gate", "in")
    make_device(oak, "o-in", "Oak gate", "in")
    p = views.issue_pass(maple, name="Li Wei", phone="555-0101", role=0, building=3, entrance=1, room=1203)
    Dev(m_in).post(rec(1, reason=reasons.FEVER, flags=TRUSTED | IN | record.F_URGENT | record.F_ALARM, body=3850,
                       pid=bytes.fromhex(p.pid)))
    alert = Alert.objects.get(device_id="m-in")
    q = Quarantine.objects.create(community=maple, building=3)
    from gatepass.server import views_isolation

    iso = views_isolation.set_isolation(maple, person=p.person, note="returnee")
    from gatepass.server import declare

    decl, _token = declare.submit(maple, "Zhao Lei", "555-0177", (3, 1, 1203), 0, "127.0.0.1")
    inv, _vtoken = declare.invite(maple, (3, 1, 1203), 2, by_pass=p)
    users = {}
    for name, cid, role in [("oak-admin", "oak", "admin"), ("maple-viewer", "maple", "viewer"),
                            ("maple-operator", "maple", "operator"), ("maple-admin", "maple", "admin")]:
        # is_staff set on purpose: it must not open anything by itself
        users[name] = User.objects.create_user(name, password=PW, is_staff=True)
        access.add_member(users[name], cid, role)
    users["nobody"] = User.objects.create_user("nobody", password=PW, is_staff=True)
    users["root"] = User.objects.create_superuser("root", password=PW)
    # OTA: a firmware key, a published release and its rollout to m-in (issue 15)
    from gatepass.issuing import keys as ikeys
    from gatepass.issuing import release as irel
    from gatepass.server import releases
    from gatepass.server.models import FirmwareKey

    fk = ikeys.generate()
    FirmwareKey.objects.create(community=maple, kid=fk.kid.hex(), pub=fk.pub65.hex())
    blob = b"M\x06gate"
    rel = releases.publish_files("maple", irel.build(fk, {"app/gate.mpy": blob}, 1, 6), "mpy", [blob])
    rollout = releases.start(rel, ["m-in"])
    STAFF_API_BODIES["api/staff/v1/releases"] = {
        "community": "maple", "tier": "mpy",
        "manifest": base64.b64encode(irel.build(fk, {"app/gate.mpy": blob}, 2, 6)).decode()}
    STAFF_API_BODIES["api/staff/v1/releases/<community>/<version>/files/<index>"] = {
        "data": base64.b64encode(blob).decode()}
    STAFF_API_BODIES["api/staff/v1/releases/<community>/<version>/publish"] = {}
    return {"maple": maple, "oak": oak, "alert": alert, "pass": p, "quarantine": q, "isolation": iso, "users": users,
            "rollout": rollout, "decl": decl, "invite": inv}


def _client(user):
    from django.test import Client

    cl = Client()
    cl.force_login(user)
    return cl


def _state(two):
    from gatepass.server.models import (Alert, Community, Device, Isolation, Membership, Pass, Person, Quarantine,
                                        Release, RemoteCommand, Rollout)

    return (RemoteCommand.objects.count(), Alert.objects.get(pk=two["alert"].pk).acknowledged_at, Pass.objects.get(pk=two["pass"].pk).revoked,
            Quarantine.objects.get(pk=two["quarantine"].pk).end, Community.objects.get(pk="maple").mode,
            Community.objects.get(pk="maple").threshold_cc, sorted(Device.objects.values_list("id", flat=True)),
            sorted(Membership.objects.values_list("user__username", "community_id", "role")),
            Pass.objects.filter(community_id="maple").count(), Person.objects.count(),
            Isolation.objects.filter(community_id="maple").values_list("end", "released_at").first(), _decl_state(two),
            sorted(Rollout.objects.values_list("pk", "state")), sorted(Release.objects.values_list("version", flat=True)))


def _decl_state(two):
    from gatepass.server.models import AccessCode, Declaration, DeclareLink, PhoneAccess, VisitorInvite

    return (Declaration.objects.get(pk=two["decl"].pk).status, VisitorInvite.objects.count(),
            VisitorInvite.objects.get(pk=two["invite"].pk).visitor_pass.revoked, PhoneAccess.objects.count(),
            AccessCode.objects.count(), sorted(DeclareLink.objects.values_list("key", "enabled")))


def _values(two, name):
    """Parameters of a route, pointing at maple's objects."""
    pk = {"gatepass:alert_ack": two["alert"].pk, "gatepass:pass_card": two["pass"].pk,
          "gatepass:pass_revoke": two["pass"].pk, "gatepass:quarantine_lift": two["quarantine"].pk,
          "gatepass:device_command": "m-in", "gatepass:isolation_extend": two["isolation"].pk,
          "gatepass:isolation_release": two["isolation"].pk, "gatepass:isolation_certificate": two["isolation"].pk,
          "gatepass:declaration_approve": two["decl"].pk,
          "gatepass:declaration_reject": two["decl"].pk, "gatepass:pass_phone_code": two["pass"].pk,
          "gatepass:pass_card_pdf": two["pass"].pk, "gatepass:visitor_cancel": two["invite"].pk,
          "gatepass:rollout_advance": two["rollout"].pk,
          "gatepass:rollout_stop": two["rollout"].pk}
    return {"pk": pk.get(name, 0), "object_id": two["pass"].pk, "id": two["users"]["maple-admin"].pk, "app_label": "gatepass",
            "content_type_id": 1, "url": "gatepass/pass/", "path": "gatepass/style.css",
            "fmt": "csv", "community": "maple", "version": 1, "index": 0}


# a body that would change maple if any check let it through (rules, passes, members, admin)
FORM = {"c": "maple", "set_mode": "1", "mode": "2", "threshold": "36.0", "add_quarantine": "1", "building": "7",
        "days": "3", "name": "Intruder", "role": "0", "entrance": "1", "room": "1", "dirs": "3",
        "username": "oak-admin", "remove": "1", "reason": "x", "kind": "open", "action": "delete_selected",
        "_selected_action": "1", "post": "yes"}


@pytest.mark.parametrize("who", ["oak-admin", "nobody"])
def test_every_route_refuses_an_account_of_another_community(two, who):
    from gatepass.server.models import AuditEntry

    user = two["users"][who]
    cl = _client(user)
    before = _state(two)
    audit_before = AuditEntry.objects.count()
    routes = _routes()
    assert len(routes) > 40  # the admin's too: the walk really enumerates the URLconf
    checked, kinds = [], set()
    for route, pattern in routes:
        kind = _kind(route)
        if kind is not None:
            kinds.add(kind)
            continue
        url = _url(route, _values(two, pattern.name and _ns(route, pattern)))
        for method in ("get", "post"):
            if route.startswith("api/staff/v1/"):
                body = json.dumps(STAFF_API_BODIES.get(route, STAFF_API_BODIES["api/staff/v1/devices"]))
                if method == "get":  # a read names its community in the query (GET /releases)
                    r = cl.get(url + "?community=maple", headers=_basic(who, PW))
                else:
                    r = cl.post(url, body, content_type="application/json", headers=_basic(who, PW))
                assert r.status_code in (401, 403, 404, 405) and r.status_code != 201, (route, method, r.content)
                # 401: "nobody" has no community at all; 405: a GET on a POST-only operation
                # (ninja checks the method before auth); never a 2xx
                continue
            r = getattr(cl, method)(url + "?c=maple", FORM if method == "post" else None)
            assert r.status_code in (403, 404), (route, method, url, r.status_code)
            body = r.content.decode(errors="replace")
            assert "Li Wei" not in body and "555-0101" not in body and two["pass"].text not in body, (route, method)
        checked.append(route)
    assert kinds == set(NOT_COMMUNITY_DATA), kinds
    assert _state(two) == before
    assert AuditEntry.objects.count() == audit_before
    # the staff pages, every pass/alert/quarantine action and the admin were among them
    for must in ("", "alerts/", "alerts/<int:pk>/ack", "events/", "events.csv", "devices/", "rules/",
                 "rules/quarantine/<int:pk>/lift", "rules/visitors", "passes/", "passes/<int:pk>/card", "passes/<int:pk>/revoke",
                 "members/", "audit/", "admin/", "api/staff/v1/devices", "devices/<str:pk>/command",
                 "api/staff/v1/roster", "api/staff/v1/passes", "live/alerts", "occupancy/",
                 "figures/", "figures/publish", "figures.<str:fmt>", "report.csv", "report.xlsx",
                 "isolation/", "isolation/<int:pk>/extend", "isolation/<int:pk>/release",
                 "isolation/<int:pk>/certificate",
                 "declarations/", "declarations/<int:pk>/approve", "declarations/<int:pk>/reject",
                 "declarations/poster/", "passes/<int:pk>/phone-code", "passes/<int:pk>/card.pdf", "visitors/",
                 "visitors/<int:pk>/cancel", "people/", "people/import",
                 "releases/", "releases/rollout", "releases/rollout/<int:pk>/advance",
                 "releases/rollout/<int:pk>/stop", "api/staff/v1/releases",
                 "api/staff/v1/releases/<community>/<version>/files/<index>",
                 "api/staff/v1/releases/<community>/<version>/publish"):
        assert must in checked, must


def _ns(route, pattern):
    if route.startswith("admin/"):
        return "admin:" + (pattern.name or "")
    return "gatepass:" + (pattern.name or "")


def _basic(user, pw):
    import base64

    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}


def test_c_picks_only_a_community_of_the_account(two):
    cl = _client(two["users"]["oak-admin"])
    assert cl.get("/?c=maple").status_code == 404
    assert cl.get("/events.csv?c=maple").status_code == 404
    page = cl.get("/").content.decode()
    assert "Oak Yard" in page and "Maple Court" not in page  # no switcher entry for maple either
    assert cl.get("/?c=oak").status_code == 200
    # a session that chose maple before (e.g. as superuser) cannot keep showing it
    s = cl.session
    s["community"] = "maple"
    s.save()
    page = cl.get("/alerts/").content.decode()
    assert "Oak Yard" in page and "Maple" not in page


def test_an_account_of_no_community_sees_nothing(two):
    cl = _client(two["users"]["nobody"])
    for url in ("/", "/alerts/", "/events/", "/devices/", "/rules/", "/passes/"):
        r = cl.get(url)
        assert r.status_code == 403, url
        assert "Maple" not in r.content.decode() and "Oak" not in r.content.decode()


def test_superuser_sees_every_community_and_the_admin(two):
    cl = _client(two["users"]["root"])
    page = cl.get("/?c=maple").content.decode()
    assert "Maple Court" in page and "Oak Yard" in page  # the switcher offers both
    assert cl.get("/?c=oak").status_code == 200
    assert cl.get("/passes/%d/card" % two["pass"].pk).status_code == 200
    assert cl.get("/admin/gatepass/pass/").status_code == 200
    # a community admin is not a superuser: no Django admin (it is not scoped)
    assert _client(two["users"]["maple-admin"]).get("/admin/").status_code == 403


@pytest.mark.parametrize("who,read,act,admin", [
    ("maple-viewer", True, False, False),
    ("maple-operator", True, True, False),
    ("maple-admin", True, True, True),
])
def test_roles_inside_the_community(two, who, read, act, admin):
    from django.utils import timezone

    from gatepass.server.models import Alert, Community, Pass, Quarantine

    cl = _client(two["users"][who])
    for url in ("/", "/alerts/", "/events/", "/events.csv", "/devices/", "/rules/", "/passes/", "/people/"):
        assert cl.get(url).status_code == 200, url
    assert "Li Wei" in cl.get("/alerts/").content.decode()  # viewers read the alert's person
    assert "Li Wei" in cl.get("/people/").content.decode()
    # operators and admins import rosters (people and passes)
    assert (cl.get("/people/import").status_code == 200) == act
    ok = (200, 302)
    # operator: prints the card (its QR opens maple's gates), acknowledges, issues and revokes
    assert (cl.get("/passes/%d/card" % two["pass"].pk).status_code in ok) == act
    assert (cl.post("/alerts/%d/ack" % two["alert"].pk).status_code == 302) == act
    assert (Alert.objects.get(pk=two["alert"].pk).acknowledged_at is not None) == act
    r = cl.post("/passes/", {"name": "New One", "role": "0", "building": "1", "entrance": "1", "room": "1",
                             "dirs": "3", "days": "30"})
    assert (r.status_code == 302) == act and Pass.objects.filter(person__name="New One").exists() == act
    assert (cl.post("/passes/%d/revoke" % two["pass"].pk).status_code == 302) == act
    # home isolation: everyone reads the list and the certificate, operators release
    from gatepass.server.models import Isolation

    assert cl.get("/isolation/").status_code == 200
    assert cl.get("/isolation/%d/certificate" % two["isolation"].pk).status_code == 200
    assert (cl.post("/isolation/%d/release" % two["isolation"].pk).status_code == 302) == act
    assert (Isolation.objects.get(pk=two["isolation"].pk).released_at is not None) == act
    # admin: rules, quarantines, members, audit log
    r = cl.post("/rules/", {"set_mode": "1", "mode": "1", "threshold": "37.0"})
    assert (Community.objects.get(pk="maple").mode == 1) == admin, r.status_code
    cl.post("/rules/quarantine/%d/lift" % two["quarantine"].pk)
    assert (Quarantine.objects.get(pk=two["quarantine"].pk).end <= timezone.now()) == admin
    assert (cl.get("/members/").status_code == 200) == admin
    assert (cl.get("/audit/").status_code == 200) == admin
    if not admin:
        assert cl.post("/rules/", {"set_mode": "1", "mode": "1", "threshold": "37.0"}).status_code == 403


def test_members_page_adds_changes_and_removes_only_in_its_community(two):
    from django.contrib.auth.models import User

    from gatepass.server.models import Membership

    cl = _client(two["users"]["maple-admin"])
    r = cl.post("/members/", {"username": "guard7", "role": "operator"})
    assert r.status_code == 302
    page = cl.get("/members/").content.decode()
    assert "guard7" in page and "password (shown once)" in page
    assert Membership.objects.get(user__username="guard7").role == "operator"
    assert User.objects.get(username="guard7").has_usable_password()
    cl.post("/members/", {"username": "guard7", "role": "viewer"})
    assert Membership.objects.get(user__username="guard7").role == "viewer"
    # oak-admin's membership is not maple's to remove
    oak_m = Membership.objects.get(user__username="oak-admin")
    assert cl.post("/members/", {"remove": str(oak_m.pk)}).status_code == 404
    assert Membership.objects.filter(pk=oak_m.pk).exists()
    m = Membership.objects.get(user__username="guard7")
    assert cl.post("/members/", {"remove": str(m.pk)}).status_code == 302
    assert not Membership.objects.filter(pk=m.pk).exists()


def _gatepass(home, *args):
    env = {"GATEPASS_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", "from gatepass.cli import main; main()", "server", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_staff_creates_a_community_account_with_a_role(tmp_path):
    import sqlite3

    assert _gatepass(tmp_path, "community", "maple", "Maple Court").returncode == 0
    r = _gatepass(tmp_path, "staff", "guard2", "--community", "maple", "--role", "operator")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "guard2: created, operator of maple" in r.stdout and "password: " in r.stdout
    r = _gatepass(tmp_path, "staff", "guard2", "--community", "maple", "--role", "viewer")
    assert r.returncode == 0 and "updated, viewer of maple" in r.stdout and "password" not in r.stdout
    for bad, want in [(["staff", "x"], "--community ID --role"), (["staff", "x", "--community", "maple"],
                                                                   "go together"),
                      (["staff", "x", "--community", "oak", "--role", "admin"], "community 'oak' does not exist")]:
        r = _gatepass(tmp_path, *bad)
        assert r.returncode != 0 and want in r.stdout + r.stderr and "Traceback" not in r.stderr, (bad, r.stderr)
    with sqlite3.connect(tmp_path / "gatepass.sqlite3") as conn:
        assert conn.execute("SELECT u.username, u.is_superuser, m.community_id, m.role FROM auth_user u "
                            "JOIN gatepass_membership m ON m.user_id = u.id").fetchall() == [
                                ("guard2", 0, "maple", "viewer")]
        acts = [a for (a,) in conn.execute("SELECT action FROM gatepass_auditentry ORDER BY id")]
    assert acts == ["staff_add", "member_add", "member_change"]
