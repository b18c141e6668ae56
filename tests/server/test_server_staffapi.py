"""Staff API (POST /api/staff/v1/devices) through Django's test client: HTTP Basic with an
admin of the community, the fragment it answers (secret made by the server, server URL
from configuration), and that the registered secret works on the device API; refusals
(401, 403, 404, 409, 415, 422) create nothing."""
from __future__ import annotations

import base64
import json
import logging
import secrets

import pytest

from gatepass import hmacauth
from server_helpers import db, dj, make_community, make_device  # noqa: F401

DEVICES = "/api/staff/v1/devices"
STATUS = "/api/device/v1/status"


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


@pytest.fixture
def staff(db):
    from django.contrib.auth import get_user_model

    from gatepass.server import access

    User = get_user_model()
    pw = secrets.token_urlsafe(12)
    c = make_community()
    make_community("oak", "Oak Yard")
    access.add_member(User.objects.create_user(username="tech", password=pw), "maple", "admin")
    access.add_member(User.objects.create_user(username="guard", password=pw), "maple", "operator")
    access.add_member(User.objects.create_user(username="oak-tech", password=pw), "oak", "admin")
    User.objects.create_user(username="resident", password=pw, is_staff=True)  # no community
    access.add_member(User.objects.create_user(username="gone", password=pw, is_active=False), "maple", "admin")
    return c, pw


def post(body: dict, headers: dict, csrf: bool = True, content_type="application/json", **extra):
    from django.test import Client

    # enforce_csrf_checks: an API client has no CSRF cookie; the endpoint must not need one
    return Client(enforce_csrf_checks=csrf).post(DEVICES, json.dumps(body), content_type=content_type,
                                                 headers=headers, **extra)


def body(**kw) -> dict:
    b = {"device_id": "gate-w-in", "community": "maple", "gate": "West gate", "direction": "in"}
    b.update(kw)
    return b


def device_status(did: str, secret_hex: str):
    from django.test import Client

    payload = json.dumps({"firmware": "test"}).encode()
    h = hmacauth.signed_headers(did, bytes.fromhex(secret_hex), "POST", STATUS, payload)
    r = Client().post(STATUS, payload, content_type="application/json", headers=h)
    return r, h


def test_registration_answers_the_fragment_and_the_device_then_authenticates(staff):
    from gatepass.server import bundlesvc
    from gatepass.server.models import Device, IssuerKey

    c, pw = staff
    r = post(body(), basic("tech", pw))
    assert r.status_code == 201, r.content
    frag = r.json()
    secret = frag["secret"]
    assert frag["device_id"] == "gate-w-in" and len(bytes.fromhex(secret)) == 32
    assert frag["community"] == "maple" and frag["gate"] == "West gate" and frag["direction"] == "in"
    assert frag["bundle_keys"] == [bundlesvc.bundle_public(c)]
    want_issuers = [{"kid": k.kid, "pub": k.pub} for k in IssuerKey.objects.filter(community=c, active=True)]
    assert want_issuers and frag["issuer_keys"] == want_issuers
    # no GATEPASS_PUBLIC_URL configured: no server block (the technician's --server is used)
    assert frag.get("server") is None
    d = Device.objects.get(pk="gate-w-in")
    assert d.secret.lower() == secret and d.community_id == "maple" and d.gate == "West gate"
    # the secret the fragment carries is the one the device API checks
    ok, h = device_status("gate-w-in", frag["secret"])
    assert ok.status_code == 200, ok.content
    assert hmacauth.verify_response(bytes.fromhex(secret), h[hmacauth.H_SIGNATURE], ok.content,
                                    ok.headers.get(hmacauth.H_SIGNATURE))
    bad, _ = device_status("gate-w-in", secrets.token_hex(32))
    assert bad.status_code == 401


def test_the_server_url_comes_from_configuration_never_from_the_host_header(staff):
    from django.test import override_settings

    from gatepass.server.models import Device

    _, pw = staff
    # even on a server that answers any Host
    with override_settings(ALLOWED_HOSTS=["*"], GATEPASS_PUBLIC_URL="https://gp.example.org"):
        r = post(body(direction="out"), basic("tech", pw), HTTP_HOST="attacker.example")
    assert r.status_code == 201, r.content
    frag = r.json()
    assert frag["server"] == {"url": "https://gp.example.org", "allow_http": False}
    assert "attacker" not in r.content.decode()
    assert Device.objects.get(pk="gate-w-in").secret == frag["secret"]


@pytest.mark.parametrize("field,value", [("secret", "ab" * 32), ("server_url", "http://attacker.example")])
def test_the_caller_cannot_choose_the_secret_or_the_server_url(staff, field, value):
    from gatepass.server.models import Device

    _, pw = staff
    r = post(body(**{field: value}), basic("tech", pw))
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "invalid" and field in r.json()["detail"]
    assert not Device.objects.exists()


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                   "application/json-patch+json", ""])
def test_a_body_that_is_not_declared_json_is_refused(staff, ctype):
    """A cross-site page can POST text/plain or a form without a CORS preflight, and the
    browser adds cached Basic credentials: such a body must never register a device."""
    from gatepass.server.models import Device

    _, pw = staff
    r = post(body(), basic("tech", pw), content_type=ctype)
    assert r.status_code == 415, r.content
    assert r.json()["code"] == "unsupported_media_type"
    assert not Device.objects.exists()
    assert post(body(), basic("tech", pw), content_type="application/json; charset=utf-8").status_code == 201


def test_only_an_admin_of_that_community_registers(staff):
    from gatepass.server.models import AuditEntry, Device

    _, pw = staff
    r = post(body(), basic("guard", pw))  # operator of maple
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = post(body(), basic("oak-tech", pw))  # admin, of another community: maple does not exist for it
    assert r.status_code == 404 and r.json()["code"] == "unknown_community"
    assert not Device.objects.exists()
    assert post(body(community="oak", device_id="oak-1"), basic("oak-tech", pw)).status_code == 201
    e = AuditEntry.objects.get(action="device_add")
    assert (e.actor, e.community_id, e.target, e.remote_addr) == ("oak-tech", "oak", "oak-1", "127.0.0.1")


@pytest.mark.parametrize("who", ["wrong-password", "not-staff", "inactive", "unknown-user", "no-auth",
                                 "not-basic", "garbage"])
def test_refused_logins_get_401_with_a_challenge_are_logged_and_create_nothing(staff, who, caplog):
    from gatepass.server.models import Device

    _, pw = staff
    headers = {
        "wrong-password": basic("tech", pw + "x"),
        "not-staff": basic("resident", pw),  # an account of no community
        "inactive": basic("gone", pw),
        "unknown-user": basic("nobody", pw),
        "no-auth": {},
        "not-basic": {"Authorization": "Bearer " + pw},
        "garbage": {"Authorization": "Basic !!!not-base64"},
    }[who]
    caplog.set_level(logging.WARNING, logger="gatepass.auth")
    r = post(body(), headers)
    assert r.status_code == 401, r.content
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert r.json()["code"] == "unauthorized"
    assert not Device.objects.filter(pk="gate-w-in").exists()
    assert any("staff API request rejected" in m for m in caplog.messages)


def test_a_bad_body_from_an_unauthenticated_client_is_still_401(staff):
    # auth is checked before the body: no schema details for strangers
    r = post({"device_id": ""}, {})
    assert r.status_code == 401


def test_duplicate_device_is_409_and_keeps_the_first_secret(staff):
    from gatepass.server.models import Device

    c, pw = staff
    first = make_device(c, did="gate-w-in")
    r = post(body(), basic("tech", pw))
    assert r.status_code == 409, r.content
    assert r.json()["code"] == "device_exists" and "gate-w-in" in r.json()["detail"]
    assert Device.objects.get(pk="gate-w-in").secret == first.secret


def test_unknown_community_is_404(staff):
    from gatepass.server.models import Device

    _, pw = staff
    r = post(body(community="elm"), basic("tech", pw))
    assert r.status_code == 404, r.content
    assert r.json()["code"] == "unknown_community" and "elm" in r.json()["detail"]
    assert not Device.objects.exists()


@pytest.mark.parametrize("field,value", [
    ("device_id", "has space"), ("device_id", "x" * 33), ("direction", "both"),
    ("gate", ""), ("community", ""),
])
def test_invalid_fields_are_422_naming_the_field(staff, field, value):
    from gatepass.server.models import Device

    _, pw = staff
    r = post(body(**{field: value}), basic("tech", pw))
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "invalid" and field in r.json()["detail"]
    assert not Device.objects.exists()


def test_the_device_api_does_not_accept_staff_credentials(staff):
    c, pw = staff
    make_device(c, did="gate-w-in")
    from django.test import Client

    r = Client().post(STATUS, b"{}", content_type="application/json", headers=basic("tech", pw))
    assert r.status_code == 401 and r.json()["code"] == "missing_auth"
