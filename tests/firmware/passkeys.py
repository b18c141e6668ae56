"""Trusted keys for the pass vectors, and plain-value wrappers for batches run through
mpy.map (results travel by repr, so Pass objects become dicts)."""
from binascii import hexlify, unhexlify

import passvectors as V
from app import base45, p256, passes


class LazyKeys:
    """{kid: p256.PublicKey} building each key's tables on first use only."""

    def __init__(self, pairs):
        self._pub = {}
        self._keys = {}
        for kid, pub in pairs:
            self._pub[unhexlify(kid)] = unhexlify(pub)

    def get(self, kid, default=None):
        k = self._keys.get(kid)
        if k is None:
            pub = self._pub.get(kid)
            if pub is None:
                return default
            k = self._keys[kid] = p256.PublicKey(pub)
        return k


TRUSTED = LazyKeys(V.KEYS)


def plain(r):
    """A validate() result as plain values: the reason code, or a dict of the fields."""
    if isinstance(r, int):
        return r
    return {
        "kid": hexlify(r.kid).decode(), "iss": r.iss, "cti": hexlify(r.cti).decode(), "nbf": r.nbf,
        "exp": r.exp, "iat": r.iat, "role": r.role, "building": r.building, "entrance": r.entrance,
        "room": r.room, "dirs": r.dirs, "label": r.label,
    }


def validate(text, community=V.COMMUNITY, now=V.NOW):
    return plain(passes.validate(text, TRUSTED, community, now))


def flip(cose_hex, bit):
    """validate() of the pass whose COSE bytes have bit `bit` inverted."""
    raw = bytearray(unhexlify(cose_hex))
    raw[bit >> 3] ^= 0x80 >> (bit & 7)
    return validate("GP1:" + base45.encode(raw))
