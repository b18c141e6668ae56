"""Device request authentication (HMAC-SHA256, docs/uplink.md) and answer signing.

Checks, in order: the auth headers are present and well-formed; the device exists;
the signature matches (constant-time); the device is active; its timestamp is within
MAX_SKEW_S of server time; the signature was not used before (replay table). An unknown
device and a bad signature get the same answer (`bad_signature`): the API does not tell
which ids exist. Every rejection is counted per (device id, reason, minute): one
AuthFailure row with a count, at most FAILURE_KEYS_PER_MINUTE rows a minute per process
(further ids fold into the "*" row), written at the first occurrence and then at most
every FAILURE_FLUSH_S, so a flood of bogus requests costs neither a row nor a write
under the writer lock each. The same goes for the log line (logger "gatepass.auth") and
the device's counter.

Answers to requests whose signature verified are signed by ResponseSigningMiddleware,
including the 401 "stale_time" answer: it carries the server time for a device whose
clock is wrong, bound to the device's own request.
"""
from __future__ import annotations

import logging
import random
import re
import threading
import time

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from .. import hmacauth
from . import dblock

log = logging.getLogger("gatepass.auth")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
_EPOCH = re.compile(r"^[0-9a-f]{16}$")
_BASE = re.compile(r"^[0-9]{1,10}$")
API_PREFIX = "/api/device/"


class DeviceAuthError(Exception):
    """A rejected device request: HTTP status, stable code, message."""

    def __init__(self, status: int, code: str, detail: str, with_time: bool = False, unlogged=None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.with_time = with_time
        # (request, device, device_id) when raised inside a transaction that will roll
        # back: the exception handler records the failure afterwards
        self.unlogged = unlogged

    def record(self) -> None:
        if self.unlogged is not None:
            request, device, device_id = self.unlogged
            self.unlogged = None
            _record(request, device, device_id, self.code)


def _addr(request) -> str:
    return request.META.get("REMOTE_ADDR", "")[:64]


def _printable(text: str, n: int) -> str:
    # header values are attacker-chosen: keep logs and the table free of control bytes
    return "".join(c if " " <= c <= "~" else "?" for c in text[:n])


FAILURE_KEYS_PER_MINUTE = 50  # distinct (device id, reason) rows a minute, per process
FAILURE_FLUSH_S = 5.0  # repeated failures are written at most this often

_fail_lock = threading.Lock()
# (device id, code, minute) -> [count not yet written, path, addr, device pk or None]
_fail_pending: dict = {}
_fail_keys: dict = {}  # minute -> set of (device id, code) seen this minute (written at once)
_fail_flushed = [0.0]
_clock = time.time  # (tests hold it still)


def _record(request, device, device_id: str, code: str) -> None:
    """Count a rejected request per (device id, code, minute); log and store the first
    of each at once, the rest at most every FAILURE_FLUSH_S (flush_failures)."""
    device_id = _printable(device_id, 64)
    path = _printable(request.path, 200)
    now = _clock()
    minute = int(now // 60) * 60
    with _fail_lock:
        seen = _fail_keys.setdefault(minute, set())
        for m in [m for m in _fail_keys if m < minute - 60]:
            del _fail_keys[m]
        k = (device_id, code)
        first = k not in seen
        if first and len(seen) >= FAILURE_KEYS_PER_MINUTE:
            k = ("*", code)  # a flood of invented ids: one row per reason
            first = k not in seen
        seen.add(k)
        p = _fail_pending.setdefault((k[0], k[1], minute), [0, path, _addr(request), None])
        p[0] += 1
        if device is not None and k[0] == device_id:
            p[3] = device.pk
        due = first or now - _fail_flushed[0] >= FAILURE_FLUSH_S
    if first:
        log.warning("device request rejected: %s device=%r path=%s addr=%s", code, k[0], path, _addr(request))
    if due:
        flush_failures()


def reset_failures() -> None:
    """Forget the counted failures not yet written and this minute's keys (tests)."""
    with _fail_lock:
        _fail_pending.clear()
        _fail_keys.clear()
        _fail_flushed[0] = 0.0


def flush_failures() -> None:
    """Write the counted failures: AuthFailure rows (one per device id, reason, minute,
    with a count) and the devices' counters, in one transaction."""
    import datetime as dt

    from .models import AuthFailure, Device

    with _fail_lock:
        batch = list(_fail_pending.items())
        _fail_pending.clear()
        _fail_flushed[0] = _clock()
    if not batch:
        return
    try:
        with dblock.writer(), transaction.atomic():
            for (device_id, code, minute), (n, path, addr, pk) in batch:
                at = dt.datetime.fromtimestamp(minute, dt.timezone.utc)
                row = AuthFailure.objects.select_for_update().filter(device_id=device_id, code=code, at=at).first()
                if row is None:
                    AuthFailure.objects.create(device_id=device_id, code=code, at=at, count=n, path=path,
                                               remote_addr=addr, last_at=timezone.now())
                else:
                    AuthFailure.objects.filter(pk=row.pk).update(count=F("count") + n, path=path, remote_addr=addr,
                                                                 last_at=timezone.now())
                if pk is not None:
                    Device.objects.filter(pk=pk).update(
                        auth_failures=F("auth_failures") + n, last_auth_failure=code,
                        last_auth_failure_at=timezone.now())
        if any(n > 1 for _, (n, *_r) in batch):
            log.warning("device requests rejected: %s", ", ".join(
                "%s %r x%d" % (code, did, n) for (did, code, _m), (n, *_r) in batch))
    except Exception:  # recording a failure must never turn a 401 into a 500
        log.exception("could not record the auth failures")


def _reject(request, device, device_id: str, status: int, code: str, detail: str, with_time=False):
    _record(request, device, device_id, code)
    return DeviceAuthError(status, code, detail, with_time)


def _purge_seen(now: int) -> None:
    from .models import SeenSignature

    SeenSignature.objects.filter(expires__lt=now).delete()


def consume_signature(request) -> None:
    """Record the request's signature as used; DeviceAuthError("replay") if it was.

    Called inside the view's own write transaction where there is one (uploads, status):
    one commit per request, and a replayed upload is rolled back whole."""
    from .models import SeenSignature

    sig = request.gatepass_signature
    conn = connections[SeenSignature.objects.db]
    # ON CONFLICT DO NOTHING instead of catching IntegrityError: no savepoint round trips
    with conn.cursor() as cur:
        cur.execute("INSERT INTO %s (signature, expires) VALUES (%%s, %%s) ON CONFLICT DO NOTHING"
                    % conn.ops.quote_name(SeenSignature._meta.db_table),
                    [sig, request.gatepass_time + hmacauth.MAX_SKEW_S + 1])
        fresh = cur.rowcount == 1
    if not fresh:
        dev = request.gatepass_device
        raise DeviceAuthError(401, "replay", "signature already used", unlogged=(request, dev, dev.pk))
    request.gatepass_consumed = True


def authenticate(request, consume: bool = True):
    """The Device a request comes from, or raise DeviceAuthError. With consume=False the
    caller must call consume_signature(request) itself before it answers."""
    from .models import Device

    meta = request.META
    dev_id = meta.get("HTTP_X_GATEPASS_DEVICE", "")
    ts = meta.get("HTTP_X_GATEPASS_TIME", "")
    sig = meta.get("HTTP_X_GATEPASS_SIGNATURE", "")
    epoch = meta.get("HTTP_X_GATEPASS_EPOCH", "")
    base = meta.get("HTTP_X_GATEPASS_BASE")
    if not dev_id or not ts or not sig or not epoch:
        raise _reject(request, None, dev_id, 401, "missing_auth",
                      "X-Gatepass-Device, X-Gatepass-Time, X-Gatepass-Epoch and X-Gatepass-Signature are required")
    if (not _ID.match(dev_id) or not ts.isascii() or not ts.isdigit() or len(ts) > 12 or not _HEX64.match(sig)
            or not _EPOCH.match(epoch) or (base is not None and not base.isascii())):
        raise _reject(request, None, dev_id, 401, "bad_header", "malformed authentication header")
    try:
        device = Device.objects.get(pk=dev_id)
    except Device.DoesNotExist:
        device = None
    if device is None:
        # the same answer as a bad signature: the API does not tell which ids exist
        # (the AuthFailure row keeps the real reason for staff)
        _record(request, None, dev_id, "unknown_device")
        raise DeviceAuthError(401, "bad_signature", "unknown device or signature does not match")
    body = request.body
    if not hmacauth.verify_request(device.secret_bytes, request.method, request.get_full_path(), ts, body, sig,
                                   epoch, base):
        raise _reject(request, device, dev_id, 401, "bad_signature", "unknown device or signature does not match")
    # from here on the request is authentic: answers get signed
    request.gatepass_device = device
    request.gatepass_signature = sig.lower()
    request.gatepass_consumed = False
    request.gatepass_epoch = epoch
    if base is not None and (not _BASE.match(base) or int(base) > 0xFFFFFFFF):
        # signed, so the device's own bug: the documented 422, signed
        raise DeviceAuthError(422, "invalid", "X-Gatepass-Base must be a decimal integer 0..4294967295")
    request.gatepass_base = None if base is None else int(base)
    if not device.active:
        raise _reject(request, device, dev_id, 403, "device_disabled", "device disabled by staff")
    now = int(time.time())
    t = int(ts)
    if abs(now - t) > hmacauth.MAX_SKEW_S:
        raise _reject(request, device, dev_id, 401, "stale_time",
                      "timestamp %d is %+d s from server time" % (t, t - now), with_time=True)
    request.gatepass_time = t
    if consume:
        with dblock.writer(), transaction.atomic():
            consume_signature(request)
    if random.random() < 0.01:
        with dblock.writer():
            _purge_seen(now)
    request.gatepass_skew = t - now
    return device


_ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
                415: "unsupported_media_type", 500: "internal"}


def _json_error(status: int, detail: str):
    from .apierrors import error

    return error(status, _ERROR_CODES.get(status, "error" if status < 500 else "internal"), detail)


class DeviceApiGuardMiddleware:
    """First in MIDDLEWARE: device API requests whose body is too large (more than
    DATA_UPLOAD_MAX_MEMORY_SIZE) or whose Content-Length is malformed are answered at once
    with the documented JSON error (413 `too_large`, 400 `bad_request`), unsigned (the
    body, and so the signature, is never looked at), and counted like an authentication
    failure. Django would answer an HTML 400 after the view started."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            from django.conf import settings

            cl = request.META.get("CONTENT_LENGTH") or "0"
            n = int(cl) if cl.isascii() and cl.isdigit() else -1
            dev_id = request.META.get("HTTP_X_GATEPASS_DEVICE", "")
            resp = None
            if n < 0:
                _record(request, None, dev_id, "bad_request")
                resp = _json_error(400, "malformed Content-Length")
            elif n > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                _record(request, None, dev_id, "too_large")
                resp = _json_error(413, "request body of %d bytes is larger than %d" % (
                    n, settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
            if resp is not None:
                return resp
        return self.get_response(request)


class ResponseSigningMiddleware:
    """Adds X-Gatepass-Signature to every answer of an authenticated device request.
    Device API answers that are not the documented JSON error (Django's own HTML 400,
    404, 405, 500 pages) are turned into it first, so they get signed too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (request.path.startswith(API_PREFIX) and response.status_code >= 400 and not response.streaming
                and not response.get("Content-Type", "").startswith("application/json")):
            response = _json_error(response.status_code, (response.reason_phrase or "error").lower())
        device = getattr(request, "gatepass_device", None)
        if (device is not None and 200 <= response.status_code < 300
                and not getattr(request, "gatepass_consumed", False)):
            # a view that forgot consume_signature() would open the door to replays
            log.error("device answer without a consumed signature: %s", request.path)
            from django.http import JsonResponse

            response = JsonResponse({"detail": "internal error", "code": "internal"}, status=500)
        if device is not None and request.path.startswith(API_PREFIX) and not response.streaming:
            response[hmacauth.H_SIGNATURE] = hmacauth.sign_response(
                device.secret_bytes, request.gatepass_signature, response.content)
        return response
