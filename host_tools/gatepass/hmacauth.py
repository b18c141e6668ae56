"""Request and response signing for the device API (docs/uplink.md).

Every device request carries four headers (five for uploads):

    X-Gatepass-Device     device id (text)
    X-Gatepass-Time       unix seconds, decimal ASCII, as the device believes it is now
    X-Gatepass-Epoch      16 lower-case hex digits: the identity of the device's event log
    X-Gatepass-Base       (POST /events) lowest seq the device can still upload, decimal
    X-Gatepass-Signature  hex(HMAC-SHA256(secret, METHOD "\\n" PATH "\\n" TIME "\\n" EPOCH "\\n"
                                             BASE "\\n" BODY))

METHOD is upper case, PATH is the request target as sent (path plus "?query" when there
is one), TIME, EPOCH and BASE are the header values byte for byte (BASE empty when the
header is absent), BODY the raw request body (empty for GET). Every header that changes
server state is covered.
The secret is the device's raw secret bytes (configured as hex). The server's answer
carries

    X-Gatepass-Signature  hex(HMAC-SHA256(secret, "resp\\n" REQUEST_SIGNATURE "\\n" BODY))

where REQUEST_SIGNATURE is the lower-case hex signature of the request it answers, so an
answer (and the server time in it) cannot be replayed to another request.

Used by the server (gatepass.server) and by CPython simulated devices; the firmware has
its own MicroPython implementation of the same strings.
"""
from __future__ import annotations

import hashlib
import hmac
import time as _time

H_DEVICE = "X-Gatepass-Device"
H_TIME = "X-Gatepass-Time"
H_SIGNATURE = "X-Gatepass-Signature"
H_BASE = "X-Gatepass-Base"
H_EPOCH = "X-Gatepass-Epoch"
LEGACY_EPOCH = "0" * 16  # the seq space of logs made before epochs existed

MAX_SKEW_S = 300  # accepted |server time - request time|
SIG_HEX_LEN = 64


def request_message(method: str, path: str, timestamp: str | int, body: bytes, epoch: str = LEGACY_EPOCH,
                    base: str | int | None = None) -> bytes:
    """The exact bytes a request signature covers."""
    return b"%s\n%s\n%s\n%s\n%s\n" % (
        method.upper().encode("ascii"), path.encode("utf-8"), str(timestamp).encode("ascii"),
        epoch.encode("ascii"), b"" if base is None else str(base).encode("ascii")) + bytes(body)


def sign_request(secret: bytes, method: str, path: str, timestamp: str | int, body: bytes = b"",
                 epoch: str = LEGACY_EPOCH, base: str | int | None = None) -> str:
    """Lower-case hex HMAC-SHA256 of request_message()."""
    return hmac.new(secret, request_message(method, path, timestamp, body, epoch, base), hashlib.sha256).hexdigest()


def response_message(request_signature: str, body: bytes) -> bytes:
    return b"resp\n" + request_signature.lower().encode("ascii") + b"\n" + bytes(body)


def sign_response(secret: bytes, request_signature: str, body: bytes) -> str:
    return hmac.new(secret, response_message(request_signature, body), hashlib.sha256).hexdigest()


def equal(a: str, b: str) -> bool:
    """Constant-time comparison of two hex signatures (case-insensitive)."""
    return hmac.compare_digest(a.lower().encode("ascii", "replace"), b.lower().encode("ascii", "replace"))


def verify_request(secret: bytes, method: str, path: str, timestamp: str, body: bytes, signature: str,
                   epoch: str = LEGACY_EPOCH, base: str | None = None) -> bool:
    return equal(sign_request(secret, method, path, timestamp, body, epoch, base), signature)


def verify_response(secret: bytes, request_signature: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return equal(sign_response(secret, request_signature, body), signature)


def parse_secret(secret: str | bytes) -> bytes:
    """A secret given as hex text (config, database) or raw bytes."""
    if isinstance(secret, (bytes, bytearray)):
        return bytes(secret)
    return bytes.fromhex(secret)


def signed_headers(device_id: str, secret: bytes, method: str, path: str, body: bytes = b"",
                   now: int | None = None, base: int | None = None, epoch: str = LEGACY_EPOCH) -> dict[str, str]:
    """Headers for one signed device request (CPython simulated devices, tests, bench)."""
    t = str(int(_time.time()) if now is None else int(now))
    b = None if base is None else str(int(base))
    h = {H_DEVICE: device_id, H_TIME: t, H_EPOCH: epoch,
         H_SIGNATURE: sign_request(secret, method, path, t, body, epoch, b)}
    if b is not None:
        h[H_BASE] = b
    return h


class DeviceAuth:
    """`requests`-style auth hook: signs the prepared request's final bytes.

    Usable as `requests.Session().auth = DeviceAuth(id, secret)`; keeps the last
    request signature so the caller can check the response signature.
    """

    def __init__(self, device_id: str, secret: bytes, clock=None, epoch: str = LEGACY_EPOCH):
        self.device_id = device_id
        self.secret = secret
        self.clock = clock or _time.time
        self.epoch = epoch
        self.last_signature: str | None = None

    def __call__(self, r):
        from urllib.parse import urlsplit

        u = urlsplit(r.url)
        path = u.path + ("?" + u.query if u.query else "")
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        t = str(int(self.clock()))
        base = r.headers.get(H_BASE)  # signed as sent, whatever it is
        h = {H_DEVICE: self.device_id, H_TIME: t, H_EPOCH: self.epoch,
             H_SIGNATURE: sign_request(self.secret, r.method, path, t, body, self.epoch, base)}
        r.headers.update(h)
        self.last_signature = h[H_SIGNATURE]
        return r


class Response:
    """A device API answer: status, headers (lower-case names), body, and whether its
    X-Gatepass-Signature verified against the request it answers."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes, signed: bool):
        self.status = status
        self.headers = headers
        self.body = body
        self.signed = signed

    def json(self):
        import json

        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r%s)" % (self.status, self.body[:200], "" if self.signed else ", unsigned")


class DeviceClient:
    """Minimal CPython device-side client over http.client (tests, bench, simulated gates).

    Keeps one keep-alive connection; reconnects once when the server closed it. `clock`
    returns the unix time the device believes (default: time.time).
    """

    PREFIX = "/api/device/v1"

    def __init__(self, base_url: str, device_id: str, secret: bytes | str, clock=None, timeout: float = 30.0,
                 epoch: str = LEGACY_EPOCH):
        from urllib.parse import urlsplit

        u = urlsplit(base_url)
        self.scheme, self.host, self.port = u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80)
        self.root = u.path.rstrip("/")
        self.device_id = device_id
        self.secret = parse_secret(secret)
        self.clock = clock or _time.time
        self.timeout = timeout
        self.epoch = epoch
        self._conn = None

    def _connection(self):
        import http.client

        if self._conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes = b"", content_type: str | None = None,
                base: int | None = None, headers: dict[str, str] | None = None, sign: bool = True) -> Response:
        """Send one signed request (path relative to /api/device/v1 unless absolute)."""
        import http.client

        full = path if path.startswith("/") else self.root + self.PREFIX + "/" + path
        h = signed_headers(self.device_id, self.secret, method, full, body, int(self.clock()), base,
                           self.epoch) if sign else {}
        if content_type:
            h["Content-Type"] = content_type
        if headers:
            h.update(headers)
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, full, body=body or None, headers=h)
                r = conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        rh = {k.lower(): v for k, v in r.getheaders()}
        if rh.get("connection", "").lower() == "close":
            self.close()
        sig = h.get(H_SIGNATURE, "")
        signed = bool(sig) and verify_response(self.secret, sig, data, rh.get(H_SIGNATURE.lower()))
        return Response(r.status, rh, data, signed)

    def post_events(self, records: bytes, base: int | None = None) -> Response:
        return self.request("POST", "events", records, "application/octet-stream", base)

    def get_bundle(self) -> Response:
        return self.request("GET", "bundle")

    def status(self, **fields) -> Response:
        import json

        return self.request("POST", "status", json.dumps(fields).encode(), "application/json")
