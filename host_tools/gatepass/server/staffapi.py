"""The staff API (django-ninja): remote device registration for `gatepass provision --register`.

Mounted at /api/staff/v1/ (OpenAPI document at /api/staff/v1/openapi.json). HTTP Basic
with a Django staff account (active, is_staff): a technician at the gate has a laptop and
the server URL, not the server's database. Kept apart from the device API (own NinjaAPI,
own auth): device requests stay HMAC-only.

Basic auth sends the password on every request: use it over https (`--ca`).
"""
from __future__ import annotations

import logging
from typing import Literal

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, ValidationError
from ninja.security.http import DecodeError, HttpBasicAuth
from pydantic import Field

from . import apierrors, dblock
from .apierrors import ApiError as _Err
from .apierrors import ErrorOut
from .apierrors import error as _error
from .deviceauth import _addr, _printable  # header values are attacker-chosen: same log hygiene

log = logging.getLogger("gatepass.auth")
REALM = 'Basic realm="gatepass staff", charset="UTF-8"'


class StaffBasicAuth(HttpBasicAuth):
    """HTTP Basic with a Django account that is active and staff."""

    def __call__(self, request: HttpRequest):
        value = request.headers.get(self.header)
        try:
            if not value:
                raise DecodeError("no credentials")
            username, password = self.decode_authorization(value)
        except DecodeError as e:
            log.warning("staff API request rejected: %s path=%s addr=%s", e,
                        _printable(request.path, 200), _addr(request))
            return None
        return self.authenticate(request, username, password)

    def authenticate(self, request: HttpRequest, username: str, password: str):
        user = authenticate(request, username=username, password=password)
        if user is None or not user.is_active or not user.is_staff:
            log.warning("staff API request rejected: %s user=%r path=%s addr=%s",
                        "bad_credentials" if user is None else "not_staff", _printable(username, 64),
                        _printable(request.path, 200), _addr(request))
            return None
        return user


api = NinjaAPI(
    title="gatepass staff API",
    version="1",
    description="Staff operations from a technician's laptop (HTTP Basic, Django staff account).",
    urls_namespace="staff-api",
    docs_url=None,
    openapi_url="/openapi.json",
    auth=StaffBasicAuth(),
)


class KeyOut(Schema):
    kid: str
    pub: str


class ServerOut(Schema):
    url: str
    allow_http: bool


class DeviceIn(Schema):
    device_id: str = Field(min_length=1, max_length=32, pattern=r"^[\x21-\x7e]+$",
                           description="printable ASCII, no spaces")
    community: str = Field(min_length=1, max_length=32)
    gate: str = Field(min_length=1, max_length=64, description="gate name shown on the board")
    direction: Literal["in", "out"]
    secret: str | None = Field(None, min_length=32, max_length=128, pattern=r"^[0-9a-fA-F]+$",
                               description="hex HMAC key (>= 16 bytes); default: 32 new random bytes")
    server_url: str | None = Field(None, max_length=200, pattern=r"^https?://",
                                   description="server URL for the fragment; default: this request's")


class FragmentOut(Schema):
    device_id: str
    secret: str
    community: str
    gate: str
    direction: str
    bundle_keys: list[KeyOut]
    issuer_keys: list[KeyOut]
    server: ServerOut | None = None


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    resp = _error(401, "unauthorized", "staff login required (HTTP Basic, active staff account)")
    resp["WWW-Authenticate"] = REALM
    return resp


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    fields = []
    for e in exc.errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "payload")]
        fields.append("%s: %s" % (".".join(loc) or "body", e.get("msg", "invalid")))
    return _error(422, "invalid", "; ".join(fields)[:500])


apierrors.install(api)


_ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@api.post("/devices", response={201: FragmentOut, **_ERRORS},
          summary="Register a gate device; answers its config fragment (id, secret, trusted keys)")
def register_device(request, payload: DeviceIn):
    from . import cli
    from .models import Community, Device

    server_url = payload.server_url or request.build_absolute_uri("/").rstrip("/")
    with dblock.writer(), transaction.atomic():
        if not Community.objects.filter(pk=payload.community).exists():
            raise _Err(404, "unknown_community", "community %r does not exist" % payload.community)
        if Device.objects.filter(pk=payload.device_id).exists():
            raise _Err(409, "device_exists", "device %r is already registered: pick another id, or "
                       "provision with the fragment of the first registration" % payload.device_id)
        try:
            frag = cli.add_device(payload.device_id, payload.community, payload.gate, payload.direction,
                                  secret=payload.secret, server_url=server_url)
        except DjangoValidationError as e:
            msgs = getattr(e, "message_dict", None) or {"device": e.messages}
            raise _Err(422, "invalid", "; ".join("%s: %s" % (k, " ".join(v)) for k, v in msgs.items())) from None
        except IntegrityError:  # a concurrent registration of the same id
            raise _Err(409, "device_exists", "device %r is already registered" % payload.device_id) from None
    log.info("device %s registered by staff %s from %s", payload.device_id, request.auth.get_username(),
             _addr(request))
    return Status(201, frag)
