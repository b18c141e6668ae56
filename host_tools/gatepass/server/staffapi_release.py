"""Staff API for firmware releases (OTA): list, and publish in steps so each request stays
small and a technician's upload shows real progress (`gatepass release publish`):

    POST /releases                               {community, tier, manifest (base64), note}
    POST /releases/{community}/{version}/files/{index}   {data (base64)}   one per manifest file
    POST /releases/{community}/{version}/publish  {}

The manifest is checked first (the community's firmware keys, .mpy layout, a version
above every published one, the tier), each file against the manifest, and publish needs
all of them (server/releases.py). Reading needs any role in the community; publishing
the admin role. Registered on staffapi.api (imported at its end).
"""
from __future__ import annotations

import base64
import binascii
from typing import Literal

from ninja import Path, Query, Schema, Status
from pydantic import ConfigDict, Field

from . import access, audit, releases
from .apierrors import ApiError as _Err
from .models import Community, Release, Rollout
from .staffapi import _ERRORS, api

VERSION = Path(..., ge=1, le=releases.VERSION_MAX)
# a file is at most 64 KB (app/release.py FILE_MAX): its base64 text fits the request limit
MAX_FILE_B64 = (65536 + 2) // 3 * 4
MAX_MANIFEST_B64 = 32 * 1024


class ReleaseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    community: str = Field(min_length=1, max_length=32)
    tier: Literal["mpy", "frozen"] = Field(description="board tier the release is for (docs/ota.md)")
    manifest: str = Field(min_length=4, max_length=MAX_MANIFEST_B64, description="base64 of manifest.cose")
    note: str = Field("", max_length=200)


class FileIn(Schema):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(max_length=MAX_FILE_B64, description="base64 of the file's bytes")


class PublishIn(Schema):
    model_config = ConfigDict(extra="forbid")  # {}: the request says nothing more than its path


class FileOut(Schema):
    index: int
    path: str
    size: int
    sha256: str


class DraftOut(Schema):
    community: str
    version: int
    tier: str
    mpy: int
    files: list[FileOut]


class StoredOut(Schema):
    community: str
    version: int
    index: int
    path: str
    stored: bool


class ReleaseOut(Schema):
    community: str
    version: int
    tier: str
    mpy: int
    kid: str
    files: int
    bytes: int
    note: str
    published_at: str | None
    published_by: str
    rollout: str = Field("", description="state of its latest rollout: first, rest, done, stopped, or empty")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise _Err(422, "invalid", "%s: not base64" % what) from None


def _community(request, cid: str, role: str) -> Community:
    if access.role_of(request.auth, cid) is None or not Community.objects.filter(pk=cid).exists():
        raise _Err(404, "unknown_community", "community %r does not exist" % cid)
    if not access.has_role(request.auth, cid, role):
        raise _Err(403, "forbidden", "publishing releases needs the admin role in %r" % cid)
    return Community.objects.get(pk=cid)


def _draft(request, cid: str, version: int) -> Release:
    _community(request, cid, access.ADMIN)
    r = Release.objects.filter(community_id=cid, version=version).first()
    if r is None:
        raise _Err(404, "unknown_release", "no release %d in %s: POST /releases with its manifest first"
                   % (version, cid))
    return r


def _raise(e: releases.ReleaseError):
    raise _Err(e.status, e.code, e.detail) from None


def release_out(r: Release) -> dict:
    ro = Rollout.objects.filter(release=r).order_by("-created_at", "-id").first()
    return {"community": r.community_id, "version": r.version, "tier": r.tier, "mpy": r.mpy, "kid": r.kid,
            "files": r.file_count, "bytes": r.total_bytes, "note": r.note,
            "published_at": r.published_at.isoformat() if r.published_at else None,
            "published_by": r.published_by.get_username() if r.published_by else "",
            "rollout": ro.state if ro else ""}


@api.get("/releases", response={200: list[ReleaseOut], **_ERRORS},
         summary="Published firmware releases of a community (newest first)")
def list_releases(request, community: str = Query(..., min_length=1, max_length=32)):
    _community(request, community, access.VIEWER)
    rs = Release.objects.filter(community_id=community, published_at__isnull=False).select_related("published_by")
    return [release_out(r) for r in rs[:100]]


@api.post("/releases", response={201: DraftOut, **_ERRORS},
          summary="Start publishing a release: its signed manifest (checked at once)")
def begin_release(request, payload: ReleaseIn):
    _community(request, payload.community, access.ADMIN)
    data = _b64(payload.manifest, "manifest")
    try:
        r = releases.begin(payload.community, data, payload.tier, request.auth, payload.note)
    except releases.ReleaseError as e:
        _raise(e)
    m = releases.manifest_of(r)
    return Status(201, {"community": r.community_id, "version": r.version, "tier": r.tier, "mpy": r.mpy,
                        "files": [{"index": i, "path": p, "size": s, "sha256": h.hex()}
                                  for i, (p, s, h) in enumerate(m.files)]})


@api.post("/releases/{community}/{version}/files/{index}", response={200: StoredOut, **_ERRORS},
          summary="Upload one file of a release being published (checked against its manifest)")
def put_release_file(request, payload: FileIn, community: str = Path(..., max_length=32), version: int = VERSION,
                     index: int = Path(..., ge=0, le=63)):
    r = _draft(request, community, version)
    try:
        f = releases.put_file(r, index, _b64(payload.data, "data"))
    except releases.ReleaseError as e:
        _raise(e)
    return {"community": community, "version": version, "index": index, "path": f.path, "stored": True}


@api.post("/releases/{community}/{version}/publish", response={200: ReleaseOut, **_ERRORS},
          summary="Publish a release whose files are all uploaded: it can be rolled out from then on")
def publish_release(request, payload: PublishIn, community: str = Path(..., max_length=32), version: int = VERSION):
    r = _draft(request, community, version)
    was = r.published_at
    try:
        r = releases.publish(r)
    except releases.ReleaseError as e:
        _raise(e)
    if was is None:
        audit.record(request, "release_publish", community, "v%d" % r.version,
                     "staff API: tier %s, %d files, %d bytes, key %s" % (r.tier, r.file_count, r.total_bytes, r.kid))
    return release_out(r)
