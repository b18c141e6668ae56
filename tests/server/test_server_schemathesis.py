"""schemathesis against the device API's own OpenAPI document, over real HTTP.

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
from hypothesis import HealthCheck, settings
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
    srv = LiveServer(db, home, seed={"community": "maple", "devices": [["st-gate", "Gate", "in"]]}).start()
    yield srv
    srv.stop()


def _openapi() -> dict:
    # the same document the server serves (checked below), built at collection time:
    # schemathesis' lazy fixture loader does not work with pytest 9
    configure_inprocess()
    from gatepass.server.api import api

    return json.loads(json.dumps(api.get_openapi_schema()))


@pytest.fixture(scope="module")
def signed_session(live):
    cfg = live.seeded["devices"]["st-gate"]
    # a real device never signs twice in one second: at least one second further per
    # request, and never behind real time (a slow run must not drift out of the window)
    last = [0]

    def clock() -> int:
        last[0] = max(int(time.time()), last[0] + 1)
        return last[0]

    s = requests.Session()
    s.auth = hmacauth.DeviceAuth("st-gate", bytes.fromhex(cfg["secret"]), clock=clock)
    return s


schema = schemathesis.openapi.from_dict(_openapi())


def test_schema_is_served_and_names_every_operation(live):
    doc = requests.get(live.url + "/api/device/v1/openapi.json", timeout=10).json()
    assert doc == _openapi()
    assert set(doc["paths"]) == {"/api/device/v1/events", "/api/device/v1/bundle", "/api/device/v1/status",
                                 "/api/device/v1/passages"}
    assert doc["components"]["securitySchemes"]["DeviceSignature"]["name"] == hmacauth.H_SIGNATURE


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_signed_requests_conform(case, live, signed_session):
    r = case.call_and_validate(base_url=live.url, session=signed_session, checks=CHECKS)
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
