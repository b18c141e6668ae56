"""The staff API (django-ninja): remote device registration for `gatepass provision --register`.

Mounted at /api/staff/v1/ (OpenAPI document at /api/staff/v1/openapi.json). HTTP Basic
with an active account that is admin of the community it registers into (access.py;
superusers everywhere): a technician at the gate has a laptop and the server URL, not the
server's database. Kept apart from the device API (own NinjaAPI, own auth): device
requests stay HMAC-only. Failed logins count towards the lockout (staffauth.py).

Requests must say `Content-Type: application/json` (a cross-site page can only send
text/plain or form bodies without a preflight). The device secret is made here and
answered once; the fragment's server URL is GATEPASS_PUBLIC_URL, never the Host header.

Basic auth sends the password on every request: use it over https (`--ca`).
"""
from __future__ import annotations

import logging
from typing import Literal

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.conf import settings
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, ValidationError
from ninja.security.http import DecodeError, HttpBasicAuth
from pydantic import ConfigDict, Field

from . import access, apierrors, audit, dblock
from .apierrors import ApiError as _Err
from .apierrors import ErrorOut
from .apierrors import error as _error
from .deviceauth import _addr, _printable  # header values are attacker-chosen: same log hygiene

log = logging.getLogger("gatepass.auth")
REALM = 'Basic realm="gatepass staff", charset="UTF-8"'


class StaffBasicAuth(HttpBasicAuth):
    """HTTP Basic with an active Django account (its role is checked per community)."""

    def __call__(self, request: HttpRequest):
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            # bodies are JSON and say so: text/plain and form bodies (what a cross-site page
            # can send without a CORS preflight, with the browser's cached Basic
            # credentials) are refused before anything is parsed or authenticated
            ctype = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise UnsupportedMediaType(ctype)
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
        if user is None or not user.is_active or not access.communities_of(user).exists():
            log.warning("staff API request rejected: %s user=%r path=%s addr=%s",
                        "bad_credentials" if user is None else "no_community", _printable(username, 64),
                        _printable(request.path, 200), _addr(request))
            return None
        return user


class UnsupportedMediaType(Exception):
    pass


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
    # unknown fields are refused (422): the secret and the server URL are not the caller's choice
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=32, pattern=r"^[\x21-\x7e]+$",
                           description="printable ASCII, no spaces")
    community: str = Field(min_length=1, max_length=32)
    gate: str = Field(min_length=1, max_length=64, description="gate name shown on the board")
    direction: Literal["in", "out"]


class FragmentOut(Schema):
    device_id: str
    secret: str = Field(description="hex HMAC key, 32 random bytes made by the server: shown only in this answer")
    community: str
    gate: str
    direction: str
    bundle_keys: list[KeyOut]
    issuer_keys: list[KeyOut]
    firmware_keys: list[KeyOut] = Field([], description="release signing keys the gate trusts (OTA, docs/ota.md)")
    server: ServerOut | None = Field(None, description="GATEPASS_PUBLIC_URL of the server, when configured")


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    resp = _error(401, "unauthorized", "staff login required (HTTP Basic, active staff account)")
    resp["WWW-Authenticate"] = REALM
    return resp


@api.exception_handler(UnsupportedMediaType)
def _media_type(request, exc):
    return _error(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    fields = []
    for e in exc.errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "payload")]
        fields.append("%s: %s" % (".".join(loc) or "body", e.get("msg", "invalid")))
    return _error(422, "invalid", "; ".join(fields)[:500])


apierrors.install(api)


_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 415: ErrorOut, 422: ErrorOut,
           429: ErrorOut}


@api.post("/devices", response={201: FragmentOut, **_ERRORS},
          summary="Register a gate device; answers its config fragment (id, secret, trusted keys)")
def register_device(request, payload: DeviceIn):
    from . import cli
    from .models import Community, Device

    # a community the account does not belong to does not exist for it
    if (access.role_of(request.auth, payload.community) is None
            or not Community.objects.filter(pk=payload.community).exists()):
        raise _Err(404, "unknown_community", "community %r does not exist" % payload.community)
    if not access.has_role(request.auth, payload.community, access.ADMIN):
        raise _Err(403, "forbidden", "registering devices needs the admin role in %r" % payload.community)
    server_url = getattr(settings, "GATEPASS_PUBLIC_URL", None)
    with dblock.writer(), transaction.atomic():
        if Device.objects.filter(pk=payload.device_id).exists():
            raise _Err(409, "device_exists", "device %r is already registered: pick another id, or "
                       "provision with the fragment of the first registration" % payload.device_id)
        try:
            frag = cli.add_device(payload.device_id, payload.community, payload.gate, payload.direction,
                                  server_url=server_url)
        except DjangoValidationError as e:
            msgs = getattr(e, "message_dict", None) or {"device": e.messages}
            raise _Err(422, "invalid", "; ".join("%s: %s" % (k, " ".join(v)) for k, v in msgs.items())) from None
        except IntegrityError:  # a concurrent registration of the same id
            raise _Err(409, "device_exists", "device %r is already registered" % payload.device_id) from None
        audit.record(request, "device_add", payload.community, payload.device_id,
                     "staff API: %s %s" % (payload.gate, payload.direction))
    log.info("device %s registered by staff %s from %s", payload.device_id, request.auth.get_username(),
             _addr(request))
    return Status(201, frag)


# ------------------------------------------------------------------ people, units, passes
# (server/people.py does the work; `gatepass pass batch --server` and programs use these)


class RosterIn(Schema):
    model_config = ConfigDict(extra="forbid")

    community: str = Field(min_length=1, max_length=32)
    filename: str = Field("roster.csv", max_length=200,
                          description="the file's name: .xlsx is read as a workbook, anything else as CSV text")
    content: str = Field(description="the file's bytes, base64")
    encoding: str | None = Field(None, max_length=32, description="CSV text encoding (default: detected)")
    commit: bool = Field(False, description="false: a preview (nothing written); true: import")
    issue_passes: bool = Field(True, description="issue a pass to each person without a valid one of the row's "
                                                 "role (needs a private issuer key on the server)")


class ProblemOut(Schema):
    line: int
    field: str
    message: str


class RowOut(Schema):
    line: int
    name: str
    unit: str
    role: int
    person: str = Field(description="new, changed, same")
    changes: list[str]
    unit_new: bool
    pass_state: str = Field(description="issued, kept, registered, same, relinked, none")
    cti: str


class ImportOut(Schema):
    committed: bool
    summary: dict
    rows: list[RowOut]


class RosterProblemsOut(Schema):
    detail: str
    code: str = Field(description="roster_problems (then `problems` lists them), or invalid (a bad request body)")
    problems: list[ProblemOut] = Field([], description="every problem of the roster, with its line")


class PassIn(Schema):
    model_config = ConfigDict(extra="forbid")

    line: int = Field(0, ge=0, description="the roster line, echoed in the answer")
    cti: str = Field(min_length=16, max_length=32, pattern=r"^[0-9a-fA-F]+$", description="pass id, hex")
    kid: str = Field("", max_length=32, pattern=r"^[0-9a-fA-F]*$")
    role: int = Field(ge=0, le=255)
    unit: str = Field("", max_length=20, description="building-entrance-room, empty: none")
    dirs: int = Field(3, ge=1, le=3)
    label: str = Field("", max_length=16)
    nbf: int = Field(ge=0, description="unix seconds")
    exp: int = Field(ge=0, description="unix seconds")
    text: str = Field("", max_length=600, description="the GP1: QR text (reprinting)")
    name: str = Field("", max_length=100, description="the holder (stays on the server)")
    phone: str = Field("", max_length=32)
    note: str = Field("", max_length=200)


class PassesIn(Schema):
    model_config = ConfigDict(extra="forbid")

    community: str = Field(min_length=1, max_length=32)
    source: str = Field("pass batch", max_length=200, description="what issued them (audit log)")
    passes: list[PassIn] = Field(max_length=1000)


def _community_for_operator(request, cid: str):
    from .models import Community

    c = Community.objects.filter(pk=cid).first() if access.role_of(request.auth, cid) is not None else None
    if c is None:
        raise _Err(404, "unknown_community", "community %r does not exist" % cid)
    if not access.has_role(request.auth, cid, access.OPERATOR):
        raise _Err(403, "forbidden", "importing people and passes needs the operator role in %r" % cid)
    return c


@api.post("/roster", response={200: ImportOut, 422: RosterProblemsOut, **{k: v for k, v in _ERRORS.items()
                                                                         if k != 422}},
          summary="Import a roster (people, units, passes): a preview, or with commit the import")
def import_roster(request, payload: RosterIn):
    import base64
    import binascii

    from . import people

    c = _community_for_operator(request, payload.community)
    try:
        data = base64.b64decode(payload.content, validate=True)
    except (binascii.Error, ValueError):
        raise _Err(422, "invalid", "content: not base64") from None
    rows, problems = people.read_roster(data, payload.filename, c.pk, payload.encoding)
    if problems:
        return Status(422, {"detail": "the roster has %d problem(s): nothing imported" % len(problems),
                            "code": "roster_problems", "problems": [p.as_dict() for p in problems]})
    res = people.apply(c, rows, issue_passes=payload.issue_passes, commit=payload.commit, request=request,
                       source="roster %s (staff API)" % payload.filename)
    return {"committed": res.committed, "summary": res.summary(), "rows": [r.as_dict() for r in res.rows]}


@api.post("/passes", response={200: ImportOut, **_ERRORS},
          summary="Register passes issued elsewhere (gatepass pass batch --server) with their holders")
def register_passes(request, payload: PassesIn):
    from ..issuing.passes import PassSpecError, parse_unit
    from . import people

    c = _community_for_operator(request, payload.community)
    rows = []
    for p in payload.passes:
        try:
            unit = parse_unit(p.unit) if p.unit else (0, 0, 0)
        except PassSpecError as e:
            raise _Err(422, "invalid", "line %d: unit: %s" % (p.line, e.message)) from None
        if p.exp <= p.nbf:
            raise _Err(422, "invalid", "line %d: exp must be after nbf" % p.line)
        rows.append(people.Row(line=p.line, name=" ".join(p.name.split()), role=p.role, unit=unit, phone=p.phone.strip(),
                               note=p.note.strip(), dirs=p.dirs, label=p.label, nbf=p.nbf, exp=p.exp, cti=p.cti,
                               kid=p.kid, text=p.text))
    try:
        res = people.apply(c, rows, commit=True, request=request, source=payload.source, action="pass_register")
    except people.RegistrationError as e:
        raise _Err(409, "pass_conflict", "%s: nothing registered" % e) from None
    return {"committed": True, "summary": res.summary(), "rows": [r.as_dict() for r in res.rows]}


from . import staffapi_release  # noqa: E402,F401  (firmware releases: routes on this api)
