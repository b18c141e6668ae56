"""Device request authentication (HMAC-SHA256, docs/uplink.md) and answer signing.

Checks, in order: the three headers are present and well-formed; the device exists;
the signature matches (constant-time); the device is active; its timestamp is within
MAX_SKEW_S of server time; the signature was not used before (replay table). Every
rejection is logged (logger "gatepass.auth"), stored as an AuthFailure row and counted on
the device when the device is known.

Answers to requests whose signature verified are signed by ResponseSigningMiddleware,
including the 401 "stale_time" answer: it carries the server time for a device whose
clock is wrong, bound to the device's own request.
"""
from __future__ import annotations

import logging
import random
import re
import time

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from .. import hmacauth
from . import dblock

log = logging.getLogger("gatepass.auth")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
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


def _record(request, device, device_id: str, code: str) -> None:
    """Log a rejected request, store it and count it on the device (own transaction)."""
    from .models import AuthFailure, Device

    device_id = _printable(device_id, 64)
    path = _printable(request.path, 200)
    log.warning("device request rejected: %s device=%r path=%s addr=%s", code, device_id, path, _addr(request))
    try:
        with dblock.writer(), transaction.atomic():
            AuthFailure.objects.create(device_id=device_id, code=code, path=path, remote_addr=_addr(request))
            if device is not None:
                Device.objects.filter(pk=device.pk).update(
                    auth_failures=F("auth_failures") + 1, last_auth_failure=code,
                    last_auth_failure_at=timezone.now())
    except Exception:  # recording a failure must never turn a 401 into a 500
        log.exception("could not record the auth failure")


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
    if not dev_id or not ts or not sig:
        raise _reject(request, None, dev_id, 401, "missing_auth",
                      "X-Gatepass-Device, X-Gatepass-Time and X-Gatepass-Signature are required")
    if not _ID.match(dev_id) or not ts.isascii() or not ts.isdigit() or len(ts) > 12 or not _HEX64.match(sig):
        raise _reject(request, None, dev_id, 401, "bad_header", "malformed authentication header")
    try:
        device = Device.objects.get(pk=dev_id)
    except Device.DoesNotExist:
        device = None
    if device is None:
        raise _reject(request, None, dev_id, 401, "unknown_device", "unknown device")
    body = request.body
    if not hmacauth.verify_request(device.secret_bytes, request.method, request.get_full_path(), ts, body, sig):
        raise _reject(request, device, dev_id, 401, "bad_signature", "signature does not match")
    # from here on the request is authentic: answers get signed
    request.gatepass_device = device
    request.gatepass_signature = sig.lower()
    request.gatepass_consumed = False
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


class ResponseSigningMiddleware:
    """Adds X-Gatepass-Signature to every answer of an authenticated device request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
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
