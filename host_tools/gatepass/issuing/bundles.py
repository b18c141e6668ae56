"""Signed community bundles: what every gate of a community must know (docs/uplink.md).

A bundle is a tagged COSE_Sign1 (tag 18, protected {1: -7 (ES256), 4: kid}, empty
unprotected map, 64-byte raw r||s signature) over a deterministic CBOR map:

    1: version        uint, +1 on every change (the device rejects <= its own)
    2: issued_at      uint, unix seconds
    3: community      text (the pass issuer `iss` the devices accept)
    4: mode           uint 0 prevention, 1 control, 2 sealed
    5: threshold      uint, centi-degrees C (3730 = 37.30 C), fever at or above
    6: revoked        bstr: sorted, duplicate-free concatenation of 8-byte pass ids
                      (record.pass_id(cti): first 8 bytes of cti, zero padded)
    7: quarantined    array of [building, entrance, room] uints, sorted; 0 = wildcard
    8: settings       map text -> value: every other device setting (app/settings.py),
                      floats as RFC 8949 decimal fractions (tag 4 [exponent, mantissa])
                      or as ints when integral: the device's CBOR has no floats
    9: issuer keys    array of [kid bstr, pub bstr (65-byte uncompressed P-256 point)],
                      sorted by kid: the pass issuers the device trusts
   10: isolated       bstr: 12-byte entries, pass id (8) + end (u32 big-endian unix s),
                      sorted by pass id, one per pass; home isolation (no exit before the
                      end; the gate lifts it itself). Absent when nobody is isolated.

No floats anywhere: the device's CBOR decoder (firmware/app/cbor.py) rejects them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..mp.fw import settings as fw_settings
from . import cose
from .cose import ALG_ES256, TAG_SIGN1, sig_structure  # noqa: F401
from .keys import IssuerKey

TAG_DECIMAL = 4

B_VERSION, B_ISSUED, B_COMMUNITY, B_MODE, B_THRESHOLD = 1, 2, 3, 4, 5
B_REVOKED, B_QUARANTINED, B_SETTINGS, B_KEYS = 6, 7, 8, 9
B_ISOLATED = 10

MODES = fw_settings.MODES
PID_LEN = 8
# settings carried in their own keys (4, 5), never in the settings map
_OWN_KEYS = ("mode", "threshold")


def check_device_settings(overrides) -> dict:
    """Validate device setting overrides exactly as the device will; returns the complete
    canonical map without mode and threshold (those travel in bundle keys 4 and 5)."""
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ValueError("device settings must be a JSON object")
    for k in _OWN_KEYS:
        if k in overrides:
            raise ValueError("set %s on the community, not in device settings" % k)
    full = fw_settings.validate(overrides)
    for k in _OWN_KEYS:
        full.pop(k, None)
    return full


class BundleError(ValueError):
    """A bundle is malformed or its signature does not verify."""


def pass_id(cti: bytes) -> bytes:
    """8-byte pass id as the device lists and logs it (same as app.record.pass_id)."""
    return bytes(cti[:PID_LEN]).ljust(PID_LEN, b"\x00")


_dumps = cose.dumps


def _decimal(v: float):
    """Exact CBOR for a setting value: int when integral, else tag 4 decimal fraction."""
    if isinstance(v, bool) or isinstance(v, int):
        return v
    if isinstance(v, float):
        d = Decimal(repr(v)).normalize()
        sign, digits, exp = d.as_tuple()
        if exp >= 0:
            return int(d)
        if exp < -6:  # settings have at most a few decimals: keep it bounded
            d = d.quantize(Decimal("0.000001")).normalize()
            sign, digits, exp = d.as_tuple()
            if exp >= 0:
                return int(d)
        mant = int("".join(map(str, digits)) or "0")
        return cbor2.CBORTag(TAG_DECIMAL, [exp, -mant if sign else mant])
    if isinstance(v, (list, tuple)):
        return [_decimal(x) for x in v]
    return v


def undecimal(v):
    """Inverse of the settings encoding: tag 4 -> float (what the device does too)."""
    if isinstance(v, Decimal):  # cbor2 decodes tag 4 itself
        return int(v) if v == v.to_integral_value() and v.as_tuple().exponent >= 0 else float(v)
    if isinstance(v, cbor2.CBORTag) and v.tag == TAG_DECIMAL:
        e, m = v.value
        return m * 10.0 ** e if e < 0 else float(m * 10 ** e)
    if isinstance(v, list):
        return [undecimal(x) for x in v]
    if isinstance(v, dict):
        return {k: undecimal(x) for k, x in v.items()}
    return v


@dataclass
class Content:
    """Everything a bundle says except its version and issue time."""

    community: str
    mode: int = 0
    threshold_cc: int = 3730
    revoked: list[bytes] = field(default_factory=list)  # ctis or pass ids
    quarantined: list[tuple[int, int, int]] = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # device settings other than mode/threshold
    keys: list[tuple[bytes, bytes]] = field(default_factory=list)  # (kid, pub65)
    # home isolation: (cti or pass id, end unix s); one entry per pass (the latest end wins)
    isolated: list[tuple[bytes, int]] = field(default_factory=list)

    def normalized(self) -> dict:
        """The CBOR map (keys 3..10) in canonical form."""
        if self.mode not in (0, 1, 2):
            raise BundleError("mode must be 0, 1 or 2")
        if not 3500 <= int(self.threshold_cc) <= 4000:
            raise BundleError("threshold must be 35.00..40.00 C")
        pids = sorted({pass_id(c) for c in self.revoked})
        units = sorted({(int(b), int(e), int(r)) for b, e, r in self.quarantined})
        for u in units:
            if not (0 < u[0] <= 0xFFFF and 0 <= u[1] <= 0xFFFF and 0 <= u[2] <= 0xFFFF):
                raise BundleError("quarantined unit out of range: %r" % (u,))
            if u[1] == 0 and u[2] != 0:
                raise BundleError("a room needs its entrance: %r" % (u,))
        for k in self.settings:
            if k in _OWN_KEYS:
                raise BundleError("settings map must not hold %s (bundle key 4/5)" % k)
        keys = sorted({(bytes(k), bytes(p)) for k, p in self.keys})
        for kid, pub in keys:
            if not 0 < len(kid) <= 16 or len(pub) != 65 or pub[0] != 4:
                raise BundleError("issuer key: kid 1..16 bytes, pub 65-byte uncompressed point")
        iso: dict[bytes, int] = {}
        for c, end in self.isolated:
            end = int(end)
            if not 0 < end <= 0xFFFFFFFF:
                raise BundleError("isolation end out of range: %r" % end)
            pid = pass_id(c)
            iso[pid] = max(end, iso.get(pid, 0))
        m = {
            B_COMMUNITY: self.community,
            B_MODE: int(self.mode),
            B_THRESHOLD: int(self.threshold_cc),
            B_REVOKED: b"".join(pids),
            B_QUARANTINED: [list(u) for u in units],
            B_SETTINGS: {str(k): _decimal(v) for k, v in sorted(self.settings.items())},
            B_KEYS: [[k, p] for k, p in keys],
        }
        if iso:  # absent when empty: bundles without isolation stay byte-identical
            m[B_ISOLATED] = b"".join(pid + iso[pid].to_bytes(4, "big") for pid in sorted(iso))
        return m

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical content: equal digests, equal bundles."""
        return hashlib.sha256(_dumps(self.normalized())).hexdigest()


def encode_payload(content: Content, version: int, issued_at: int) -> bytes:
    if version < 1 or issued_at < 0:
        raise BundleError("version must be >= 1")
    m = content.normalized()
    m[B_VERSION] = int(version)
    m[B_ISSUED] = int(issued_at)
    return _dumps(m)


def sign(key: IssuerKey, payload: bytes) -> bytes:
    """Tagged COSE_Sign1 over payload (issuing/cose.py: the signer passes use too)."""
    return cose.sign1(key, payload)


def build(key: IssuerKey, content: Content, version: int, issued_at: int) -> bytes:
    return sign(key, encode_payload(content, version, issued_at))


def _loads(data: bytes, what: str):
    try:
        return cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types for malformed input
        raise BundleError("%s: not CBOR (%s)" % (what, e)) from None


def verify(data: bytes, trusted: dict[bytes, bytes]) -> dict:
    """Check a bundle against {kid: pub65}; returns the decoded payload map (settings
    decoded back to floats). Raises BundleError."""
    top = _loads(data, "bundle")
    if not isinstance(top, cbor2.CBORTag) or top.tag != TAG_SIGN1:
        raise BundleError("not a tagged COSE_Sign1")
    msg = top.value
    if not isinstance(msg, list) or len(msg) != 4:
        raise BundleError("not a 4-array")
    protected, unprotected, payload, sig = msg
    if not isinstance(protected, bytes) or not isinstance(payload, bytes) or not isinstance(sig, bytes):
        raise BundleError("not byte strings")
    if unprotected != {} or len(sig) != 64:
        raise BundleError("unprotected header or signature length")
    hdr = _loads(protected, "protected header")
    if not isinstance(hdr, dict) or hdr.get(1) != ALG_ES256 or not isinstance(hdr.get(4), bytes) or len(hdr) != 2:
        raise BundleError("protected header")
    pub = trusted.get(hdr[4])
    if pub is None:
        raise BundleError("unknown kid %s" % hdr[4].hex())
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, sig_structure(protected, payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BundleError("bad signature") from None
    m = _loads(payload, "payload")
    if not isinstance(m, dict) or not isinstance(m.get(B_VERSION), int):
        raise BundleError("payload is not a bundle map")
    m[B_SETTINGS] = undecimal(m.get(B_SETTINGS, {}))
    return m


def isolated_entries(m: dict) -> list[tuple[bytes, int]]:
    """(pass id, end) of a decoded bundle's key 10 (empty when absent)."""
    raw = m.get(B_ISOLATED, b"")
    if len(raw) % 12:
        raise BundleError("isolated list length")
    return [(raw[i:i + 8], int.from_bytes(raw[i + 8:i + 12], "big")) for i in range(0, len(raw), 12)]


def revoked_ids(m: dict) -> list[bytes]:
    """The 8-byte pass ids of a decoded bundle's key 6."""
    raw = m[B_REVOKED]
    if len(raw) % PID_LEN:
        raise BundleError("revoked list length")
    return [raw[i:i + PID_LEN] for i in range(0, len(raw), PID_LEN)]
