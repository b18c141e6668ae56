"""The device API (django-ninja): event upload, bundle download, status heartbeat, peer
passages (cross-gate anti-passback sync).

Mounted at /api/device/v1/; OpenAPI document at /api/device/v1/openapi.json.
Wire protocol in docs/uplink.md.
"""
from __future__ import annotations

import time

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Header, NinjaAPI, Path, Query, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security.base import AuthBase
from pydantic import Field

from .. import hmacauth
from . import apierrors, bundlesvc, dblock, health, ingest, peers, releases, remote
from .apierrors import ApiError as _Err
from .apierrors import ErrorOut
from .apierrors import error as _error
from .deviceauth import DeviceAuthError, authenticate, consume_signature
from .models import Device

U32 = 0xFFFFFFFF


class DeviceSignature(AuthBase):
    """HMAC-SHA256 request signature (also needs X-Gatepass-Device and X-Gatepass-Time)."""

    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = hmacauth.H_SIGNATURE
    openapi_description = ("hex HMAC-SHA256(device secret, METHOD \\n PATH \\n TIME \\n BODY); "
                           "see docs/uplink.md")

    def __init__(self, consume: bool = True):
        super().__init__()
        self.consume = consume

    def __call__(self, request: HttpRequest):
        return authenticate(request, self.consume)


api = NinjaAPI(
    title="gatepass device API",
    version="1",
    description="Gate devices upload their event log and fetch signed bundles. "
                "Every request is HMAC-signed by the device (docs/uplink.md).",
    urls_namespace="device-api",
    docs_url=None,
    openapi_url="/openapi.json",
    auth=DeviceSignature(),
)


class AckOut(Schema):
    acked_seq: int = Field(description="highest contiguous seq the server holds (or knows lost)")
    time: int = Field(description="server unix time, seconds")
    bundle_version: int = Field(description="current bundle version of the device's community")
    stored: int = Field(description="records stored by this request")
    duplicates: int = Field(description="records already held with the same content (idempotent retry)")
    conflicts: int = Field(description="records whose seq is held with other content: kept aside, alerted")
    rejected: int = Field(description="records refused: CRC, seq 0 or 0xFFFFFFFF, unknown kind (not stored)")
    lost: int = Field(description="seqs below X-Gatepass-Base recorded as lost by this request")


class StatusIn(Schema):
    firmware: str = Field("", max_length=32, pattern=r"^[\x20-\x7e]*$", description="firmware version text")
    bundle_version: int = Field(0, ge=0, le=2**53, description="bundle version the device applied")
    backlog: int = Field(0, ge=0, le=U32, description="events not yet acknowledged")
    log_used_pct: int = Field(0, ge=0, le=100, description="log capacity holding unuploaded events")
    log_near_full: bool = False
    uptime_s: int = Field(0, ge=0, le=2**40)
    nonce: str = Field("", max_length=64, pattern=r"^[\x20-\x7e]*$",
                       description="random text; makes a time-sync request unique")
    cmd_seq: int | None = Field(None, ge=0, le=U32, description="last remote command the device accepted")
    health: dict | None = Field(None, description="device health (app/health.py): rssi, heap_free, sensor, "
                                                  "scanner, last_error, fire, held, release; each field is "
                                                  "stored when valid and ignored otherwise (docs/uplink.md)")


class StatusOut(Schema):
    time: int
    bundle_version: int
    acked_seq: int
    peer_seq: int = Field(description="highest Event id among the passages of the other gates of the "
                                      "community (GET /passages cursor space), 0 when none")
    commands: list[dict] = Field([], description="signed staff commands for this device (docs/uplink.md): "
                                                 "seq, kind, exp, by, sig")
    release: dict | None = Field(None, description='OTA (docs/ota.md): {"version": v} when this gate should fetch '
                                                   'release v (GET /release/v/manifest), else null')


_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut}


@api.exception_handler(DeviceAuthError)
def _auth_error(request, exc: DeviceAuthError):
    exc.record()  # a replay found inside a (now rolled back) transaction
    extra = {"time": int(time.time())} if exc.with_time else {}
    return _error(exc.status, exc.code, exc.detail, **extra)


@api.exception_handler(AuthenticationError)
def _auth_generic(request, exc):
    return _error(401, "missing_auth", "authentication required")


@api.exception_handler(ValidationError)
def _validation(request, exc: ValidationError):
    return _error(422, "invalid", "request does not match the schema: %s" % (exc.errors,)[:500])


apierrors.install(api)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    # ninja's own errors (a body that does not parse, ...) get a documented code too
    from .deviceauth import _ERROR_CODES

    return _error(exc.status_code, getattr(exc, "code", None) or _ERROR_CODES.get(exc.status_code, "error"), str(exc))




# uploads and heartbeats consume their signature inside their own write transaction
_IN_TRANSACTION = DeviceSignature(consume=False)


@api.post(
    "/events",
    auth=_IN_TRANSACTION,
    response={200: AckOut, **_ERRORS},
    summary="Upload a batch of event records",
    description="Body: concatenated raw 32-byte records (firmware/app/record.py), at most %d. "
                "Stored idempotently by (device, seq); records failing their CRC are counted, "
                "not stored." % ingest.MAX_RECORDS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def post_events(
    request,
    x_gatepass_device: str = Header(..., alias="X-Gatepass-Device", description="device id"),
    x_gatepass_time: str = Header(..., alias="X-Gatepass-Time", description="unix seconds, decimal"),
    x_gatepass_epoch: str = Header(..., alias="X-Gatepass-Epoch", pattern="^[0-9a-f]{16}$",
                                   description="the device log's identity (signed)"),
    x_gatepass_base: int | None = Header(
        None, alias="X-Gatepass-Base", ge=0, le=U32,
        description="lowest seq the device still holds; seqs below it that never arrived are lost (signed)"),
):
    device = request.auth
    data = request.body
    if len(data) % ingest.RECORD:
        raise _Err(400, "bad_length", "body length %d is not a multiple of 32" % len(data))
    if len(data) // ingest.RECORD > ingest.MAX_RECORDS:
        raise _Err(413, "too_many", "at most %d records per batch" % ingest.MAX_RECORDS)
    # the signed header values (deviceauth), never a re-parse of what ninja saw
    res = ingest.ingest(device, data, request.gatepass_base, request.META.get("REMOTE_ADDR", ""),
                        getattr(request, "gatepass_skew", 0), request=request, epoch=request.gatepass_epoch)
    res["time"] = int(time.time())
    res["bundle_version"] = bundlesvc.current_version(device.community_id)
    return res


@api.get(
    "/bundle",
    response={**_ERRORS},
    summary="Download the current signed bundle (application/cbor)",
    description="COSE_Sign1 (ES256) over the CBOR bundle map; layout in docs/uplink.md. "
                "Header X-Gatepass-Bundle-Version gives its version.",
    openapi_extra={
        "responses": {
            "200": {
                "description": "the signed bundle",
                "content": {"application/cbor": {"schema": {"type": "string", "format": "binary"}}},
                "headers": {"X-Gatepass-Bundle-Version": {"schema": {"type": "integer"}}},
            }
        }
    },
)
def get_bundle(
    request,
    x_gatepass_device: str = Header(..., alias="X-Gatepass-Device", description="device id"),
    x_gatepass_time: str = Header(..., alias="X-Gatepass-Time", description="unix seconds, decimal"),
    x_gatepass_epoch: str = Header(..., alias="X-Gatepass-Epoch", pattern="^[0-9a-f]{16}$",
                                   description="the device log's identity (signed)"),
):
    device = request.auth
    data, version = bundlesvc.current_bundle(device.community_id)
    resp = HttpResponse(data, content_type="application/cbor")
    resp["X-Gatepass-Bundle-Version"] = str(version)
    with dblock.writer():
        Device.objects.filter(pk=device.pk).update(last_seen=timezone.now())
    return resp


@api.post(
    "/status",
    auth=_IN_TRANSACTION,
    response={200: StatusOut, **_ERRORS},
    summary="Heartbeat: device health; answers server time, bundle version and ack",
)
def post_status(
    request,
    payload: StatusIn,
    x_gatepass_device: str = Header(..., alias="X-Gatepass-Device", description="device id"),
    x_gatepass_time: str = Header(..., alias="X-Gatepass-Time", description="unix seconds, decimal"),
    x_gatepass_epoch: str = Header(..., alias="X-Gatepass-Epoch", pattern="^[0-9a-f]{16}$",
                                   description="the device log's identity (signed)"),
):
    device = request.auth
    with dblock.writer(), transaction.atomic():
        consume_signature(request)
        d = Device.objects.select_for_update().only("id", "epoch").get(pk=device.pk)
        le = ingest.enter_epoch(d, request.gatepass_epoch, timezone.now())
        acked = le.acked_seq
        hf = health.fields(payload.health)
        Device.objects.filter(pk=device.pk).update(
            firmware=payload.firmware, bundle_version=payload.bundle_version, backlog=payload.backlog,
            log_used_pct=payload.log_used_pct, log_near_full=payload.log_near_full, uptime_s=payload.uptime_s,
            last_seen=timezone.now(), last_addr=request.META.get("REMOTE_ADDR", "")[:64],
            last_skew_s=getattr(request, "gatepass_skew", 0), **hf)
        remote.acknowledge(device, payload.cmd_seq)
        commands = remote.pending(device, payload.cmd_seq)
        release = releases.on_heartbeat(device, hf)
    version = bundlesvc.current_version(device.community_id)
    return {"time": int(time.time()), "bundle_version": version, "acked_seq": acked,
            "peer_seq": peers.peer_seq(device), "commands": commands, "release": release}


@api.get(
    "/passages",
    response={**_ERRORS},
    summary="Allowed passages at the other gates of the community (anti-passback sync)",
    description="Binary, little-endian: next cursor u64, then 0..%d entries of %d bytes: pass id (8 bytes), "
                "unix seconds u32, direction u8 (1 in, 2 out). Entries are the allowed passages of the "
                "community's other devices with Event id > `after`, within the community's "
                "passback_window_s, in id order; send `next` as `after` next time. Layout in docs/uplink.md."
                % (peers.PAGE, peers.ENTRY),
    openapi_extra={
        "responses": {
            "200": {
                "description": "next cursor and the passages",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def get_passages(
    request,
    after: int = Query(0, ge=0, le=2**53, description="cursor: the `next` of the previous answer (0 at first)"),
    x_gatepass_device: str = Header(..., alias="X-Gatepass-Device", description="device id"),
    x_gatepass_time: str = Header(..., alias="X-Gatepass-Time", description="unix seconds, decimal"),
    x_gatepass_epoch: str = Header(..., alias="X-Gatepass-Epoch", pattern="^[0-9a-f]{16}$",
                                   description="the device log's identity (signed)"),
):
    device = request.auth
    nxt, entries = peers.page(device, after)
    resp = HttpResponse(peers.encode(nxt, entries), content_type="application/octet-stream")
    with dblock.writer():
        Device.objects.filter(pk=device.pk).update(last_seen=timezone.now())
    return resp


_V = Path(..., ge=1, le=releases.VERSION_MAX, description="release version (the heartbeat's release.version)")
_BINARY = {"200": {"description": "the bytes, as published",
                   "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


def _offered(device, version: int):
    got = releases.offered(device, version)
    if got is None:
        raise _Err(404, "unknown_release", "release %d is not offered to this gate" % version)
    return got


@api.get(
    "/release/{version}/manifest",
    response={404: ErrorOut, **_ERRORS},
    summary="OTA: the signed manifest of a release offered to this gate (COSE_Sign1 bytes)",
    description="Only while the gate's rollout stage offers it (the heartbeat answer's release.version); "
                "404 unknown_release otherwise. Checked on the device by app/release.verify (docs/ota.md).",
    openapi_extra={"responses": _BINARY},
)
def get_release_manifest(
    request,
    version: int = _V,
    x_gatepass_device: str = Header(..., alias="X-Gatepass-Device", description="device id"),
    x_gatepass_time: str = Header(..., alias="X-Gatepass-Time", description="unix seconds, decimal"),
    x_gatepass_epoch: str = Header(..., alias="X-Gatepass-Epoch", pattern="^[0-9a-f]{16}$",
                                   description="the device log's identity (signed)"),
):
    rel, rd = _offered(request.auth, version)
    data = bytes(rel.manifest)
    with dblock.writer():
        releases.note_download(rd, None)
    resp = HttpResponse(data, content_type="application/octet-stream")
    resp["X-Gatepass-Release-Version"] = str(rel.version)
    return resp


@api.get(
    "/release/{version}/file/{index}",
    response={404: ErrorOut, **_ERRORS},
    summary="OTA: file `index` (its place in the manifest's file list) of a release offered to this gate",
    description="The bytes the manifest lists (size and sha256 checked at publish time; the device checks them "
                "again while it writes them to flash). 404 unknown_release / unknown_file.",
    openapi_extra={"responses": _BINARY},
)
def get_release_file(
    request,
    version: int = _V,
    index: int = Path(..., ge=0, le=63, description="0-based index in the manifest's file list"),
    x_gatepass_device: str = Header(..., alias="X-Gatepass-Device", description="device id"),
    x_gatepass_time: str = Header(..., alias="X-Gatepass-Time", description="unix seconds, decimal"),
    x_gatepass_epoch: str = Header(..., alias="X-Gatepass-Epoch", pattern="^[0-9a-f]{16}$",
                                   description="the device log's identity (signed)"),
):
    from .models import ReleaseFile

    rel, rd = _offered(request.auth, version)
    f = ReleaseFile.objects.filter(release=rel, index=index).only("path", "data").first()
    if f is None:
        raise _Err(404, "unknown_file", "release %d has files 0..%d" % (rel.version, rel.file_count - 1))
    with dblock.writer():
        releases.note_download(rd, index)
    resp = HttpResponse(bytes(f.data), content_type="application/octet-stream")
    resp["X-Gatepass-Release-Version"] = str(rel.version)
    resp["X-Gatepass-Path"] = f.path
    return resp
