"""COSE_Sign1 (RFC 9052 section 4.2) with ES256, strict structure only.

decode_sign1() checks the envelope and returns a Sign1; it does not verify the
signature (the caller picks the key by kid and calls key.verify(s.tbs(), s.signature)).
Accepted: CBOR tag 18 around [protected: bstr, unprotected: {} (empty map),
payload: bstr, signature: bstr of 64 bytes (r || s)], where protected decodes to a
map with exactly alg (1) = -7 (ES256) and kid (4) = bstr of 1..16 bytes. Anything
else raises COSEError (a ValueError). Unprotected headers must be empty: they are
not signed, so accepting them would let anyone change the bytes of a valid pass.
"""
from micropython import const

from app import cbor

TAG_SIGN1 = const(18)
ALG_ES256 = const(-7)
HDR_ALG = const(1)
HDR_KID = const(4)
KID_MAX = const(16)
SIG_LEN = const(64)

_CONTEXT = b"\x6aSignature1"  # CBOR text "Signature1"


class COSEError(ValueError):
    pass


class Sign1:
    """A structurally valid COSE_Sign1: protected (bytes as received), alg, kid,
    payload (bytes) and signature (64 bytes r || s)."""

    def __init__(self, protected, alg, kid, payload, signature):
        self.protected = protected
        self.alg = alg
        self.kid = kid
        self.payload = payload
        self.signature = signature

    def tbs(self):
        """Bytes the signature covers (the encoded Sig_structure)."""
        return sig_structure(self.protected, self.payload)


def _bstr_head(out, n):
    if n < 24:
        out.append(0x40 | n)
    elif n < 0x100:
        out.append(0x58)
        out.append(n)
    elif n < 0x10000:
        out.append(0x59)
        out.append(n >> 8)
        out.append(n & 0xFF)
    else:
        out.append(0x5A)
        out.extend(n.to_bytes(4, "big"))


def sig_structure_head(protected, payload_len):
    """The encoded Sig_structure up to (not including) the payload's bytes: hash this,
    then the payload piece by piece (a streamed bundle is never in RAM whole)."""
    if len(protected) > 0xFFFF or not 0 <= payload_len <= 0xFFFFFFFF:
        raise COSEError("too long")
    out = bytearray(b"\x84")
    out.extend(_CONTEXT)
    _bstr_head(out, len(protected))
    out.extend(protected)
    out.append(0x40)  # external_aad: empty
    _bstr_head(out, payload_len)
    return out


def sig_structure(protected, payload, external_aad=b""):
    """Encode ["Signature1", protected, external_aad, payload] (each bstr < 64 KiB) as a
    bytearray."""
    if len(protected) > 0xFFFF or len(payload) > 0xFFFF or len(external_aad) > 0xFFFF:
        raise COSEError("too long")
    out = bytearray(b"\x84")
    out.extend(_CONTEXT)
    _bstr_head(out, len(protected))
    out.extend(protected)
    _bstr_head(out, len(external_aad))
    out.extend(external_aad)
    _bstr_head(out, len(payload))
    out.extend(payload)
    return out  # no bytes() copy: a bundle's payload is tens of KB of a ~100 KB heap


def decode_sign1(data):
    """Decode tagged COSE_Sign1 bytes into a Sign1; raise COSEError."""
    try:
        # tag, array, unprotected map: 3 levels; 6 items when the unprotected map is empty
        top = cbor.loads(data, 3, 6)
    except cbor.CBORError as e:
        raise COSEError("cbor: " + str(e))
    if not isinstance(top, cbor.Tag) or top.tag != TAG_SIGN1:
        raise COSEError("not tag 18")
    msg = top.value
    if type(msg) is not list or len(msg) != 4:
        raise COSEError("not a 4-array")
    protected = msg[0]
    payload = msg[2]
    sig = msg[3]
    if type(protected) is not bytes or type(payload) is not bytes or type(sig) is not bytes:
        raise COSEError("not bstr")
    if type(msg[1]) is not dict or msg[1]:
        raise COSEError("unprotected not empty")
    if len(sig) != SIG_LEN:
        raise COSEError("signature length")
    alg, kid = check_protected(protected)
    return Sign1(protected, alg, kid, payload, sig)


def check_protected(protected):
    """(alg, kid) of a protected header: exactly {1: -7, 4: kid of 1..16 bytes}."""
    try:
        hdr = cbor.loads(protected, 1, 5)
    except cbor.CBORError as e:
        raise COSEError("protected: " + str(e))
    if type(hdr) is not dict or len(hdr) != 2:
        raise COSEError("protected header")
    alg = hdr.get(HDR_ALG)
    kid = hdr.get(HDR_KID)
    if alg != ALG_ES256 or type(alg) is not int:
        raise COSEError("alg")
    if type(kid) is not bytes or not 0 < len(kid) <= KID_MAX:
        raise COSEError("kid")
    return alg, kid
