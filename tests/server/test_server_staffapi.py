"""Staff API (POST /api/staff/v1/devices) through Django's test client: HTTP Basic with a
staff account, the fragment it answers, and that the registered secret works on the
device API; refusals (401, 404, 409, 422) create nothing."""
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

    User = get_user_model()
    pw = secrets.token_urlsafe(12)
    User.objects.create_user(username="tech", password=pw, is_staff=True)
    User.objects.create_user(username="resident", password=pw, is_staff=False)
    User.objects.create_user(username="gone", password=pw, is_staff=True, is_active=False)
    c = make_community()
    return c, pw


def post(body: dict, headers: dict, csrf: bool = True):
    from django.test import Client

    # enforce_csrf_checks: an API client has no CSRF cookie; the endpoint must not need one
    return Client(enforce_csrf_checks=csrf).post(DEVICES, json.dumps(body), content_type="application/json",
                                                 headers=headers)


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
    secret = secrets.token_hex(32)
    r = post(body(secret=secret.upper()), basic("tech", pw))
    assert r.status_code == 201, r.content
    frag = r.json()
    assert frag["device_id"] == "gate-w-in" and frag["secret"].lower() == secret
    assert frag["community"] == "maple" and frag["gate"] == "West gate" and frag["direction"] == "in"
    assert frag["bundle_keys"] == [bundlesvc.bundle_public(c)]
    want_issuers = [{"kid": k.kid, "pub": k.pub} for k in IssuerKey.objects.filter(community=c, active=True)]
    assert want_issuers and frag["issuer_keys"] == want_issuers
    # no server_url in the body: the URL this request came to
    assert frag["server"] == {"url": "http://testserver", "allow_http": True}
    d = Device.objects.get(pk="gate-w-in")
    assert d.secret.lower() == secret and d.community_id == "maple" and d.gate == "West gate"
    # the secret the fragment carries is the one the device API checks
    ok, h = device_status("gate-w-in", frag["secret"])
    assert ok.status_code == 200, ok.content
    assert hmacauth.verify_response(bytes.fromhex(secret), h[hmacauth.H_SIGNATURE], ok.content,
                                    ok.headers.get(hmacauth.H_SIGNATURE))
    bad, _ = device_status("gate-w-in", secrets.token_hex(32))
    assert bad.status_code == 401


def test_without_a_secret_the_server_makes_one_and_server_url_is_taken_from_the_body(staff):
    from gatepass.server.models import Device

    _, pw = staff
    r = post(body(direction="out", server_url="https://gp.example.org"), basic("tech", pw))
    assert r.status_code == 201, r.content
    frag = r.json()
    assert len(bytes.fromhex(frag["secret"])) == 32 and frag["direction"] == "out"
    assert frag["server"] == {"url": "https://gp.example.org", "allow_http": False}
    assert Device.objects.get(pk="gate-w-in").secret == frag["secret"]


@pytest.mark.parametrize("who", ["wrong-password", "not-staff", "inactive", "unknown-user", "no-auth",
                                 "not-basic", "garbage"])
def test_refused_logins_get_401_with_a_challenge_are_logged_and_create_nothing(staff, who, caplog):
    from gatepass.server.models import Device

    _, pw = staff
    headers = {
        "wrong-password": basic("tech", pw + "x"),
        "not-staff": basic("resident", pw),
        "inactive": basic("gone", pw),
        "unknown-user": basic("nobody", pw),
        "no-auth": {},
        "not-basic": {"Authorization": "Bearer " + pw},
        "garbage": {"Authorization": "Basic !!!not-base64"},
    }[who]
    caplog.set_level(logging.WARNING, logger="gatepass.auth")
    r = post(body(secret=secrets.token_hex(32)), headers)
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
    r = post(body(secret=secrets.token_hex(32)), basic("tech", pw))
    assert r.status_code == 409, r.content
    assert r.json()["code"] == "device_exists" and "gate-w-in" in r.json()["detail"]
    assert Device.objects.get(pk="gate-w-in").secret == first.secret


def test_unknown_community_is_404(staff):
    from gatepass.server.models import Device

    _, pw = staff
    r = post(body(community="oak"), basic("tech", pw))
    assert r.status_code == 404, r.content
    assert r.json()["code"] == "unknown_community" and "oak" in r.json()["detail"]
    assert not Device.objects.exists()


@pytest.mark.parametrize("field,value", [
    ("device_id", "has space"), ("device_id", "x" * 33), ("direction", "both"), ("secret", "abcd"),
    ("secret", "zz" * 32), ("gate", ""), ("server_url", "ftp://x"),
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
