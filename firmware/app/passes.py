"""Gate passes: "GP1:" + base45(COSE_Sign1 ES256 over a CWT claims set).

validate(text, keys, community, now) -> Pass, or an int reason code from app.reasons
(MALFORMED, UNKNOWN_KID, BAD_SIGNATURE, WRONG_COMMUNITY, NOT_YET_VALID, EXPIRED).
It never raises. Checks run in this order and claims are only parsed once the
signature verified: size and prefix -> base45 -> COSE structure -> kid -> signature
-> claims structure -> issuer (community) -> validity window.
The byte layout is specified in docs/pass-format.md.
"""
from micropython import const

from app import base45, cbor, cose, reasons

PREFIX = b"GP1:"
MAX_TEXT = const(512)  # characters after stripping a trailing CR/LF

# CWT claim keys (RFC 8392) and the gatepass private claim
CLAIM_ISS = const(1)
CLAIM_EXP = const(4)
CLAIM_NBF = const(5)
CLAIM_IAT = const(6)
CLAIM_CTI = const(7)
CLAIM_GATEPASS = const(-65537)
# keys inside the gatepass claim
GP_ROLE = const(1)
GP_UNIT = const(2)
GP_DIRS = const(3)
GP_LABEL = const(4)

ISS_MAX = const(32)  # UTF-8 bytes
CTI_MIN = const(8)
CTI_MAX = const(16)
LABEL_MAX = const(16)  # characters
ROLE_MAX = const(255)
UNIT_MAX = const(65535)  # each of building, entrance, room
TIME_MAX = 0xFFFFFFFFFF  # 40 bits of unix seconds


class PassError(ValueError):
    pass


class Pass:
    """A verified pass. kid, cti: bytes; iss, label: str (label '' when absent);
    nbf, exp, iat: unix seconds; role: 0..255 (app.roles); building, entrance,
    room: 0..65535 (0-0-0: no home unit); dirs: app.roles IN/OUT/BOTH bitmask."""

    def __init__(self, kid, iss, cti, nbf, exp, iat, role, unit, dirs, label):
        self.kid = kid
        self.iss = iss
        self.cti = cti
        self.nbf = nbf
        self.exp = exp
        self.iat = iat
        self.role = role
        self.building = unit[0]
        self.entrance = unit[1]
        self.room = unit[2]
        self.dirs = dirs
        self.label = label

    def unit(self):
        """Home unit as text 'building-entrance-room', e.g. '3-1-1203'."""
        return "%d-%d-%d" % (self.building, self.entrance, self.room)

    def __repr__(self):
        return "<Pass %s role=%d unit=%s dirs=%d nbf=%d exp=%d>" % (
            self.iss, self.role, self.unit(), self.dirs, self.nbf, self.exp)


def _uint(v, top):
    # bool is an int subclass in CPython only: compare the exact type
    if type(v) is not int or v < 0 or v > top:
        raise PassError("range")
    return v


def _check_text(s, max_chars, max_bytes):
    if type(s) is not str or len(s) > max_chars or len(s.encode()) > max_bytes:
        raise PassError("text")
    for ch in s:
        c = ord(ch)
        if c < 0x20 or c == 0x7F:
            raise PassError("control character")
    return s


def parse_claims(payload, kid=b""):
    """Decode a CWT claims payload into a Pass; raise ValueError if malformed."""
    # depth: claims map > gatepass map > unit array; exactly 24 items with a label
    c = cbor.loads(payload, 3, 24)
    if type(c) is not dict or len(c) != 6:
        raise PassError("claims")
    iss = c.get(CLAIM_ISS)
    exp = _uint(c.get(CLAIM_EXP), TIME_MAX)
    nbf = _uint(c.get(CLAIM_NBF), TIME_MAX)
    iat = _uint(c.get(CLAIM_IAT), TIME_MAX)
    cti = c.get(CLAIM_CTI)
    gp = c.get(CLAIM_GATEPASS)
    _check_text(iss, ISS_MAX, ISS_MAX)
    if not iss:
        raise PassError("iss")
    if type(cti) is not bytes or not CTI_MIN <= len(cti) <= CTI_MAX:
        raise PassError("cti")
    if nbf > exp:
        raise PassError("nbf after exp")
    if type(gp) is not dict:
        raise PassError("gatepass claim")
    label = gp.get(GP_LABEL, "")
    if len(gp) != (4 if GP_LABEL in gp else 3):
        raise PassError("gatepass keys")
    role = _uint(gp.get(GP_ROLE), ROLE_MAX)
    dirs = _uint(gp.get(GP_DIRS), 3)
    if not dirs:
        raise PassError("dirs")
    unit = gp.get(GP_UNIT)
    if type(unit) is not list or len(unit) != 3:
        raise PassError("unit")
    for u in unit:
        _uint(u, UNIT_MAX)
    _check_text(label, LABEL_MAX, 4 * LABEL_MAX)
    return Pass(kid, iss, cti, nbf, exp, iat, role, unit, dirs, label)


def decode(text):
    """Strip a trailing CR/LF, check size and prefix, base45- and COSE-decode.
    Returns a cose.Sign1 (signature not verified); raises ValueError."""
    if isinstance(text, str):
        if len(text) > MAX_TEXT + 2:  # before encoding anything long
            raise PassError("too long")
        try:
            text = text.encode()
        except UnicodeError:  # CPython: lone surrogates
            raise PassError("bad character")
    elif not isinstance(text, (bytes, bytearray, memoryview)):
        raise PassError("type")
    n = len(text)
    if n > MAX_TEXT + 2:
        raise PassError("too long")
    mv = memoryview(text)
    end = n - 2  # scanners end a code with CR, LF or CR LF: strip two at most
    while n > end and n and (mv[n - 1] == 10 or mv[n - 1] == 13):
        n -= 1
    if n > MAX_TEXT:
        raise PassError("too long")
    if n < 4 or bytes(mv[:4]) != PREFIX:
        raise PassError("prefix")
    return cose.decode_sign1(base45.decode(mv[4:n]))


def validate(text, keys, community, now):
    """Check a scanned pass (str or bytes) against trusted keys {kid: PublicKey},
    this device's community id (str) and the time (unix seconds, or None when the
    clock is not trusted: the validity window is then not checked).
    Returns a Pass or a reason code (int); never raises."""
    try:
        s = decode(text)
    except ValueError:
        return reasons.MALFORMED
    key = keys.get(s.kid)
    if key is None:
        return reasons.UNKNOWN_KID
    if not key.verify(s.tbs(), s.signature):
        return reasons.BAD_SIGNATURE
    try:
        p = parse_claims(s.payload, s.kid)
    except ValueError:
        return reasons.MALFORMED
    if p.iss != community:
        return reasons.WRONG_COMMUNITY
    if now is not None:
        if now < p.nbf:
            return reasons.NOT_YET_VALID
        if now >= p.exp:
            return reasons.EXPIRED
    return p
