"""The serving path (issue 12, finding 4): read timeouts on both servers (Django's threaded
one and gunicorn workers), and the documented JSON error for oversized, malformed and
misrouted device API requests over real HTTP."""
from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from gatepass import hmacauth
from gatepass.hmacauth import DeviceClient
from gatepass.server.testing import LiveServer
from server_helpers import passages

TIMEOUT_S = 2


@pytest.fixture(scope="module", params=[0, 2], ids=["threaded", "gunicorn"])
def live(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("serving-%d" % request.param)
    db = "sqlite:///" + str(home / "gatepass.sqlite3")
    server = LiveServer(db, home, workers=request.param, env={"GATEPASS_READ_TIMEOUT_S": str(TIMEOUT_S)},
                        seed={"community": "maple", "name": "Maple Court", "devices": [["g-in", "Gate", "in"]]}
                        ).start()
    yield server
    server.stop()


def _raw(server, head: bytes, body: bytes = b"", wait: float = 12.0) -> tuple[bytes, float]:
    """Send raw bytes, read until the server closes; (answer, seconds until closed)."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=wait)
    t0 = time.monotonic()
    try:
        s.sendall(head + body)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                return out, float("inf")
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
        return out, time.monotonic() - t0
    finally:
        s.close()


def test_a_body_shorter_than_its_content_length_does_not_hold_the_server(live):
    head = (b"POST /api/device/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"X-Gatepass-Device: g-in\r\nContent-Length: 1000\r\n\r\n")
    _, took = _raw(live, head, b"x" * 10)
    assert took < TIMEOUT_S + 6, "connection held open"
    # headers never finished
    _, took = _raw(live, b"POST /api/device/v1/events HTTP/1.1\r\nHost: x\r\n")
    assert took < TIMEOUT_S + 6, "connection held open"
    # and the server still answers
    c = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    c.request("GET", "/api/device/v1/openapi.json")
    assert c.getresponse().status == 200


def test_an_oversized_body_gets_the_documented_json_413(live):
    did = "g-in"
    secret = live.seeded["devices"][did]["secret"]
    body = passages(range(1, 20000))  # 640 KB > 512 KiB
    r = DeviceClient(live.url, did, secret).post_events(body, base=1)
    assert r.status == 413, r
    a = r.json()
    assert a["code"] == "too_large" and a["detail"]
    assert r.headers["content-type"].startswith("application/json")


def test_device_api_errors_are_json_with_a_code(live):
    did = "g-in"
    secret = live.seeded["devices"][did]["secret"]
    c = DeviceClient(live.url, did, secret)
    # unknown path under the API, signed: JSON, and signed like every answer to an
    # authentic request would be if the route existed
    r = c.request("GET", "/api/device/v1/nothing-here")
    assert r.status == 404 and r.json()["code"] == "not_found"
    # a malformed JSON heartbeat, correctly signed: the documented error, signed
    time.sleep(1.05)
    r = c.request("POST", "status", b"{not json", "application/json")
    assert 400 <= r.status < 500 and r.json()["code"] in ("invalid", "bad_request"), r
    assert r.signed
    # a wrong method
    time.sleep(1.05)
    r = c.request("DELETE", "events")
    assert r.status in (401, 405) and json.loads(r.body)["code"]
