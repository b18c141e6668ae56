"""Failed-login lockout (issue 12, finding 6) on every login path: /login/, /admin/login/
and the staff API's HTTP Basic auth. 30 wrong passwords, then the right one: refused
(429, a clear message, Retry-After); other accounts and other addresses still log in;
`gatepass server unlock` lifts it."""
from __future__ import annotations

import base64
import itertools
import json

import pytest

from server_helpers import db, dj, make_community  # noqa: F401

PW = "right-pass-1234"


@pytest.fixture
def accounts(db):
    from django.contrib.auth.models import User

    from gatepass.server import access

    make_community()
    access.add_member(User.objects.create_user("guard", password=PW), "maple", "admin")
    access.add_member(User.objects.create_user("other", password=PW), "maple", "admin")
    User.objects.create_superuser("root", password=PW)
    yield


def _page_login(cl, user, pw, addr="10.0.0.5"):
    return cl.post("/login/", {"username": user, "password": pw}, REMOTE_ADDR=addr, HTTP_ACCEPT_LANGUAGE="en")


def _admin_login(cl, user, pw, addr="10.0.0.5"):
    return cl.post("/admin/login/", {"username": user, "password": pw, "next": "/admin/"}, REMOTE_ADDR=addr,
                   HTTP_ACCEPT_LANGUAGE="en")


_n = itertools.count()


def _api(cl, user, pw, addr="10.0.0.5"):
    cred = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
    n = next(_n)  # a new device and gate name each time (gate names are unique in a community)
    return cl.post("/api/staff/v1/devices", json.dumps({"device_id": "lock-%d" % n, "community": "maple",
                                                         "gate": "G%d" % n, "direction": "in"}),
                   content_type="application/json", headers={"Authorization": "Basic " + cred}, REMOTE_ADDR=addr)


def _ok(path, r):
    if path == "api":
        return r.status_code == 201
    return r.status_code == 302 and "login" not in r["Location"]


@pytest.mark.parametrize("path,user", [("page", "guard"), ("admin", "root"), ("api", "guard")])
def test_thirty_wrong_passwords_then_the_right_one_is_refused(accounts, path, user):
    from django.test import Client

    from gatepass.server import cli
    from gatepass.server.models import Device

    login = {"page": _page_login, "admin": _admin_login, "api": _api}[path]
    for i in range(30):
        r = login(Client(), user, "wrong-%d" % i)
        assert not _ok(path, r)
    r = login(Client(), user, PW)
    assert r.status_code == 429, (r.status_code, r.content[:300])
    text = r.content.decode()
    assert "Too many failed logins" in text and "locked for 15 minutes" in text
    assert int(r["Retry-After"]) == 15 * 60
    if path == "api":
        assert r.json()["code"] == "locked_out"
        assert not Device.objects.exists()
    else:
        assert "_auth_user_id" not in Client().session  # nobody logged in
    # the lockout is per (account, address): the others are not locked out with it
    other = "other" if user == "guard" else "guard"
    if path != "admin":
        assert _ok(path, login(Client(), other, PW))
    assert _ok(path, login(Client(), user, PW, addr="10.0.0.6"))
    # an administrator lifts it
    cli.unlock(user)
    assert _ok(path, login(Client(), user, PW))


def test_the_lockout_applies_across_login_paths(accounts):
    from django.test import Client

    for i in range(10):
        _api(Client(), "guard", "wrong-%d" % i)
    r = _page_login(Client(), "guard", PW)
    assert r.status_code == 429 and "Too many failed logins" in r.content.decode()
    # in the page's language
    r = Client().post("/login/", {"username": "guard", "password": PW}, REMOTE_ADDR="10.0.0.5",
                      HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert r.status_code == 429 and "登录失败次数过多" in r.content.decode() and "15" in r.content.decode()


def test_a_few_typos_do_not_lock(accounts):
    from django.test import Client

    for i in range(9):
        _page_login(Client(), "guard", "typo-%d" % i)
    assert _ok("page", _page_login(Client(), "guard", PW))
    # a success resets the count
    for i in range(9):
        _page_login(Client(), "guard", "typo-%d" % i)
    assert _ok("page", _page_login(Client(), "guard", PW))
