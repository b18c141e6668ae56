"""The one COSE_Sign1 signer (RFC 9052) for passes and bundles: protected header
{1: ES256, 4: kid}, empty unprotected header, a raw 64-byte r||s signature, deterministic
ECDSA (RFC 6979: the same key and payload give the same bytes) and deterministic CBOR."""
from __future__ import annotations

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .keys import IssuerKey

TAG_SIGN1 = 18
ALG_ES256 = -7


def dumps(obj) -> bytes:
    # deterministic encoding (RFC 8949 4.2.1): shortest heads, keys sorted bytewise
    return cbor2.dumps(obj, canonical=True)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    return dumps(["Signature1", protected, b"", payload])


def sign1(key: IssuerKey, payload: bytes) -> bytes:
    """Tagged COSE_Sign1 over payload."""
    protected = dumps({1: ALG_ES256, 4: key.kid})
    der = key.private.sign(sig_structure(protected, payload), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return dumps(cbor2.CBORTag(TAG_SIGN1, [protected, {}, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")]))
