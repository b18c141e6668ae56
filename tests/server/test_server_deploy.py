"""Deployment settings (issue 12, finding 7): safe by default (loopback hosts only, never
`*`), Secure cookies + HSTS when configured for https, the proxy's X-Forwarded-* headers
trusted only when configured; the loopback demo and tests keep working over plain http."""
from __future__ import annotations

import pytest

from server_helpers import db, dj  # noqa: F401


def test_defaults_are_loopback_only_and_plain_http():
    from gatepass.server.settings import deployment

    d = deployment({})
    assert d["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"] and "*" not in d["ALLOWED_HOSTS"]
    assert not d["SESSION_COOKIE_SECURE"] and not d["CSRF_COOKIE_SECURE"] and d["SECURE_HSTS_SECONDS"] == 0
    assert d["SECURE_PROXY_SSL_HEADER"] is None and d["GATEPASS_PROXY_HOPS"] == 0
    assert d["GATEPASS_PUBLIC_URL"] is None


def test_https_deployment_behind_a_proxy():
    from gatepass.server.settings import deployment

    d = deployment({"GATEPASS_PUBLIC_URL": "https://gate.maple.example/", "GATEPASS_ALLOWED_HOSTS": "10.0.0.2, gp",
                    "GATEPASS_PROXY_HOPS": "1"})
    assert d["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]", "10.0.0.2", "gp", "gate.maple.example"]
    assert d["GATEPASS_PUBLIC_URL"] == "https://gate.maple.example"
    assert d["SESSION_COOKIE_SECURE"] and d["CSRF_COOKIE_SECURE"] and d["SECURE_HSTS_SECONDS"] == 31536000
    assert d["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert d["CSRF_TRUSTED_ORIGINS"] == ["https://gate.maple.example"]
    assert deployment({"GATEPASS_HTTPS": "1", "GATEPASS_HSTS_SECONDS": "600"})["SECURE_HSTS_SECONDS"] == 600
    with pytest.raises(ValueError):
        deployment({"GATEPASS_PUBLIC_URL": "gate.maple.example"})


def test_an_unknown_host_header_is_refused(db):
    from django.test import Client

    assert Client().get("/login/", HTTP_HOST="attacker.example").status_code == 400
    assert Client().get("/login/", HTTP_HOST="127.0.0.1:8000").status_code == 200


def test_https_answers_carry_hsts_and_secure_cookies(db):
    from django.contrib.auth.models import User
    from django.test import Client, override_settings

    User.objects.create_superuser("root", password="root-pass-1234")
    with override_settings(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True, SECURE_HSTS_SECONDS=31536000,
                           SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        cl = Client()
        r = cl.get("/login/", HTTP_X_FORWARDED_PROTO="https")
        assert r["Strict-Transport-Security"] == "max-age=31536000"
        assert r.cookies["csrftoken"]["secure"]
        r = cl.post("/login/", {"username": "root", "password": "root-pass-1234"}, HTTP_X_FORWARDED_PROTO="https")
        assert r.status_code == 302 and r.cookies["sessionid"]["secure"]
    # the default (plain http on loopback): no HSTS, cookies usable over http
    r = Client().get("/login/")
    assert "Strict-Transport-Security" not in r and not r.cookies["csrftoken"]["secure"]
