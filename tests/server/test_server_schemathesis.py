"""schemathesis against the device API's and the staff API's own OpenAPI documents, over
real HTTP, on a server with two communities (a device and an admin account in each).

Signed run: every generated request is signed like a device would (requests auth hook
over the final bytes), so generation reaches the handlers; unsigned run: everything must
be refused with a documented 401. Either way: no 5xx, documented status codes, content
types, headers and response bodies matching the schemas.
"""
from __future__ import annotations

import json
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from gatepass import hmacauth
from gatepass.server.testing import LiveServer, configure_inprocess
from server_helpers import pg  # noqa: F401

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("schemathesis")
    if request.param == "sqlite":
        db = "sqlite:///" + str(home / "gatepass.sqlite3")
    else:
        db = request.getfixturevalue("pg").create_db("gatepass_schemathesis")
    srv = LiveServer(db, home, seed={
        "community": "maple", "devices": [["st-gate", "Gate", "in"]],
        "more": [{"community": "oak", "devices": [["oak-gate", "Oak gate", "in"]]}],
        "staff": [["tech-maple", "maple", "admin"], ["tech-oak", "oak", "admin"]]}).start()
    yield srv
    srv.stop()


def _openapi(which: str = "device") -> dict:
    # the same document the server serves (checked below), built at collection time:
    # schemathesis' lazy fixture loader does not work with pytest 9
    configure_inprocess()
    if which == "device":
        from gatepass.server.api import api
    else:
        from gatepass.server.staffapi import api

    return json.loads(json.dumps(api.get_openapi_schema()))


# per test: the clock below runs ahead of real time by a second per request made within
# one second; shared by the whole module it drifted past the server's 300 s window
@pytest.fixture(params=["st-gate", "oak-gate"])
def signed_session(live, request):
    did = request.param
    cfg = live.seeded["devices"][did]
    # a real device never signs twice in one second: at least one second further per
    # request, and never behind real time (a slow run must not drift out of the window)
    last = [0]

    def clock() -> int:
        last[0] = max(int(time.time()), last[0] + 1)
        return last[0]

    s = requests.Session()
    s.auth = hmacauth.DeviceAuth(did, bytes.fromhex(cfg["secret"]), clock=clock)
    return s


schema = schemathesis.openapi.from_dict(_openapi())
staff_schema = schemathesis.openapi.from_dict(_openapi("staff"))
STAFF = {"tech-maple": "maple", "tech-oak": "oak"}


def test_schema_is_served_and_names_every_operation(live):
    doc = requests.get(live.url + "/api/device/v1/openapi.json", timeout=10).json()
    assert doc == _openapi()
    assert set(doc["paths"]) == {"/api/device/v1/events", "/api/device/v1/bundle", "/api/device/v1/status",
                                 "/api/device/v1/passages", "/api/device/v1/release/{version}/manifest",
                                 "/api/device/v1/release/{version}/file/{index}"}
    assert doc["components"]["securitySchemes"]["DeviceSignature"]["name"] == hmacauth.H_SIGNATURE


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_signed_requests_conform(case, live, signed_session):
    r = case.call_and_validate(base_url=live.url, session=signed_session, checks=CHECKS)
    if "%" in r.request.path_url.split("?")[0] and r.status_code == 401:
        # a path parameter that is not a number (release/{version}): the device signs the
        # percent-encoded path it sends, the server sees the decoded one; no gate sends one
        assert r.json()["code"] == "bad_signature", r.text
        return
    # correctly signed: past authentication, whatever else the request gets wrong
    assert r.status_code not in (401, 403), r.text
    if r.status_code == 200 and case.method == "POST" and case.path.endswith("/events"):
        assert r.json()["acked_seq"] >= 0


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_unsigned_requests_are_refused(case, live):
    r = case.call_and_validate(base_url=live.url, checks=CHECKS)
    assert r.status_code in (401, 405), r.text
    if r.status_code == 401:
        assert hmacauth.H_SIGNATURE not in r.headers or r.json()["code"] == "stale_time"


@pytest.fixture(scope="module", params=sorted(STAFF))
def staff_session(live, request):
    s = requests.Session()
    s.auth = (request.param, live.seeded["staff"][request.param])
    s.community = STAFF[request.param]
    return s


def test_staff_schema_is_served(live):
    doc = requests.get(live.url + "/api/staff/v1/openapi.json", timeout=10).json()
    assert doc == _openapi("staff")
    assert set(doc["paths"]) == {"/api/staff/v1/devices", "/api/staff/v1/roster", "/api/staff/v1/passes",
                                 "/api/staff/v1/releases", "/api/staff/v1/releases/{community}/{version}/publish",
                                 "/api/staff/v1/releases/{community}/{version}/files/{index}"}


# generated examples only: the coverage phase's ~40 explicit examples cost a password hash
# each (~0.5 s on a loaded machine) for every user and database
@staff_schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.generate, Phase.shrink])
def test_staff_requests_conform(case, live, staff_session):
    r = case.call_and_validate(base_url=live.url, session=staff_session, checks=CHECKS)
    if "Authorization" not in r.request.headers:
        # schemathesis' own "without credentials" example
        assert r.status_code == 401, r.text
        return
    # a valid login: past authentication (and never locked out), whatever else is wrong
    assert r.status_code not in (401, 429), (r.text, case.body)
    if r.status_code == 201 and case.path.endswith("/devices"):
        # only into the account's own community, with a secret the server made
        assert r.json()["community"] == staff_session.community, r.text
        assert case.body.get("secret") is None and len(bytes.fromhex(r.json()["secret"])) == 32


@staff_schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate, Phase.shrink])
def test_staff_requests_without_a_login_are_refused(case, live):
    r = case.call_and_validate(base_url=live.url, checks=CHECKS)
    # generated credentials: refused (415 first when the body is not declared JSON), and
    # after 10 failures of one user name locked out
    assert r.status_code in (401, 405, 415, 429), (r.status_code, r.text, case.headers)
    if r.status_code == 429:
        assert r.json()["code"] == "locked_out"


@pytest.mark.parametrize("user,other", [("tech-maple", "oak"), ("tech-oak", "maple")])
def test_staff_cannot_register_into_the_other_community(live, user, other):
    auth = (user, live.seeded["staff"][user])
    body = {"device_id": "x-%s" % user, "community": other, "gate": "X", "direction": "in"}
    r = requests.post(live.url + "/api/staff/v1/devices", json=body, auth=auth, timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "unknown_community", r.text
    body["community"] = STAFF[user]
    r = requests.post(live.url + "/api/staff/v1/devices", json=body, auth=auth, timeout=10)
    assert r.status_code == 201 and r.json()["community"] == STAFF[user], r.text
    # a text/plain body (what a cross-site form can send) is refused
    r = requests.post(live.url + "/api/staff/v1/devices", data=json.dumps(dict(body, device_id="y-" + user)),
                      headers={"Content-Type": "text/plain"}, auth=auth, timeout=10)
    assert r.status_code == 415, r.text
