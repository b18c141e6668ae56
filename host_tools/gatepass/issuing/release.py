"""Firmware release manifests (firmware/app/release.py checks them on the device).

    data = release.build(firmware_key, {"app/gate.mpy": b"...", ...}, version=7, mpy=6)

COSE_Sign1 (ES256) by a firmware key -- a key of its own, never a pass issuer or bundle
key -- over a CBOR map {1: version, 2: mpy version, 3: [[path, size, sha256], ...],
4: issued_at}. Paths are app/<name> or drivers/<name> (.mpy or .py).
"""
from __future__ import annotations

import hashlib
import time

from .bundles import _dumps, sign
from .keys import IssuerKey


def payload(files: dict[str, bytes], version: int, mpy: int, issued_at: int | None = None) -> bytes:
    entries = [[p, len(b), hashlib.sha256(b).digest()] for p, b in sorted(files.items())]
    return _dumps({1: version, 2: mpy & 0xFF, 3: entries, 4: int(time.time()) if issued_at is None else issued_at})


def build(key: IssuerKey, files: dict[str, bytes], version: int, mpy: int, issued_at: int | None = None) -> bytes:
    return sign(key, payload(files, version, mpy, issued_at))
