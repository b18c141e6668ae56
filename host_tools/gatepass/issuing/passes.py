"""Issue gate passes: claims, COSE_Sign1 (ES256), GP1 text (QR codes: qr.py, cards: cards.py,
rosters: roster.py).

The byte layout is specified in docs/pass-format.md; the device side is
firmware/app/passes.py. Encoding uses cbor2 (deterministic encoding: shortest
heads, sorted map keys) and cryptography (ECDSA P-256 with RFC 6979
deterministic nonces, so the same key and claims give the same pass).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field

import cbor2

from ..mp.fw import roles as fw_roles
from .cose import ALG_ES256, TAG_SIGN1, sig_structure, sign1  # noqa: F401  (one signer: passes and bundles)
from .cose import dumps as _dumps
from .keys import IssuerKey
from .messages import message

PREFIX = "GP1:"
# role names: firmware/app/roles.py (one source)
ROLES = fw_roles.NAMES
ROLE_VISITOR = fw_roles.VISITOR
DIR_IN = 1
DIR_OUT = 2
DIR_NAMES = {"in": DIR_IN, "out": DIR_OUT}

CLAIM_ISS, CLAIM_EXP, CLAIM_NBF, CLAIM_IAT, CLAIM_CTI = 1, 4, 5, 6, 7
CLAIM_GATEPASS = -65537
GP_ROLE, GP_UNIT, GP_DIRS, GP_LABEL = 1, 2, 3, 4

# limits the device enforces (firmware/app/passes.py)
ISS_MAX = 32
CTI_LEN = 8  # what we issue; the device accepts 8..16
CTI_MIN, CTI_MAX = 8, 16
LABEL_MAX = 16
UNIT_MAX = 65535
TIME_MAX = (1 << 40) - 1
MAX_TEXT = 512
DAY = 86400


class PassSpecError(ValueError):
    """A pass field is invalid; `field` names it (role, unit, dirs, label, ...)."""

    def __init__(self, field: str, message: str):
        super().__init__("%s: %s" % (field, message))
        self.field = field
        self.message = message


# ---------------------------------------------------------------- field parsing


# Chinese names: what cards print, and what rosters may say instead of the English ones
ROLES_ZH = ("居民", "医护", "防疫", "保供", "环卫", "物业", "应急", "访客")
ROLE_ALIASES = {
    "居民": 0, "住户": 0, "业主": 0, "租户": 0, "家属": 0,
    "医护": 1, "医护人员": 1, "医生": 1, "护士": 1, "医务": 1, "医务人员": 1,
    "防疫": 2, "防疫人员": 2, "核酸": 2, "核酸检测": 2, "疾控": 2, "社区工作者": 2, "网格员": 2,
    "保供": 3, "保供人员": 3, "配送": 3, "物资配送": 3, "快递": 3, "外卖": 3,
    "环卫": 4, "保洁": 4, "环卫工人": 4,
    "物业": 5, "物业人员": 5, "保安": 5,
    "应急": 6, "消防": 6, "救援": 6, "急救": 6, "公安": 6,
    "访客": 7, "来访": 7, "来访人员": 7, "访客人员": 7,
}
DIRS_ZH = {DIR_IN: "进", DIR_OUT: "出", DIR_IN | DIR_OUT: "进出"}


def _norm(text: str) -> str:
    """Full-width digits, letters and signs (３－１－１２０３) as ASCII; outer spaces off."""
    return unicodedata.normalize("NFKC", text).strip()


def parse_role(text: str) -> int:
    """'resident' / '居民' (or another common Chinese name for the role) -> role number."""
    t = _norm(text).lower()
    if t in ROLES:
        return ROLES.index(t)
    if t in ROLE_ALIASES:
        return ROLE_ALIASES[t]
    raise PassSpecError("role", message("unknown role %r (one of: %s; or %s)", text, ", ".join(ROLES), "、".join(ROLES_ZH)))


_UNIT_ZH = re.compile(r"(\d{1,5})\s*(?:栋|幢|座|号楼|楼)\s*(\d{1,5})\s*单元\s*(\d{1,5})\s*(?:室|号|户)?")


def parse_unit(text: str) -> tuple[int, int, int]:
    """'3-1-1203' or '3栋1单元1203室' (also 号楼/幢, full-width digits) -> (3, 1, 1203):
    building-entrance-room, each 0..65535."""
    t = _norm(text)
    m = re.fullmatch(r"(\d{1,5})-(\d{1,5})-(\d{1,5})", t) or _UNIT_ZH.fullmatch(t)
    if not m:
        raise PassSpecError("unit", message("%r is not building-entrance-room, e.g. 3-1-1203 or 3栋1单元1203室", text))
    unit = tuple(int(g) for g in m.groups())
    if max(unit) > UNIT_MAX:
        raise PassSpecError("unit", message("%r: each part must be 0..%d", text, UNIT_MAX))
    return unit  # type: ignore[return-value]


def unit_zh(unit: tuple[int, int, int]) -> str:
    """(3, 1, 1203) -> '3栋1单元1203室' (the room keeps its digits: 0501 stays 501)."""
    return "%d栋%d单元%d室" % tuple(unit)


def parse_dirs(text: str) -> int:
    """'in,out' / 'in' / 'out' / 'both' / '进' / '出' / '进出' -> direction bitmask."""
    t = _norm(text).lower()
    if t in ("both", "进出", "双向", "出入"):
        return DIR_IN | DIR_OUT
    if t in ("进", "入"):
        return DIR_IN
    if t == "出":
        return DIR_OUT
    bits = 0
    for part in t.replace("/", ",").replace("，", ",").split(","):
        part = part.strip()
        if part not in DIR_NAMES:
            raise PassSpecError("dirs", message("%r: use in, out or in,out (进, 出, 进出)", text))
        bits |= DIR_NAMES[part]
    return bits


def dirs_text(bits: int) -> str:
    return ",".join(n for n, b in DIR_NAMES.items() if bits & b)


def check_label(label: str) -> str:
    if len(label) > LABEL_MAX:
        raise PassSpecError("label", message("%r is longer than %d characters", label, LABEL_MAX))
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in label):
        raise PassSpecError("label", message("control characters are not allowed"))
    return label


def parse_tz(text: str | None) -> dt.tzinfo | None:
    """'local' (default: None, this machine's zone with its DST rules), 'UTC',
    '+08:00' / '-0530', or an IANA name like 'Asia/Shanghai'."""
    if not text or text.lower() == "local":
        return None
    if text.upper() in ("UTC", "Z"):
        return dt.timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip())
    if m:
        off = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return dt.timezone(-off if m.group(1) == "-" else off)
    try:
        import zoneinfo

        return zoneinfo.ZoneInfo(text)
    except (ImportError, ValueError, KeyError, OSError):
        raise PassSpecError("tz", message("%r: use local, UTC, an offset like +08:00 or a zone name", text)) from None


def parse_time(text: str, tz: dt.tzinfo | None = None, end: bool = False) -> int:
    """ISO date or date-time -> unix seconds. A bare date means its start (00:00),
    or with end=True the end of that day (00:00 of the next day, exclusive). Times
    without an offset are in `tz` (None: this machine's local time zone)."""
    t = text.strip()
    field_ = "until" if end else "from"
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            d = dt.date.fromisoformat(t) + dt.timedelta(days=1 if end else 0)
            when = dt.datetime(d.year, d.month, d.day)
        else:
            when = dt.datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith("Z") else t)
    except ValueError:
        raise PassSpecError(field_, message("%r is not a date (YYYY-MM-DD) or ISO date-time", text)) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)  # still naive for tz None: local time
    return int(when.timestamp())


def validity(
    days: int | None = None,
    start: str | None = None,
    until: str | None = None,
    now: int | None = None,
    tz: dt.tzinfo | None = None,
) -> tuple[int, int]:
    """(nbf, exp) in unix seconds. start defaults to 00:00 today, so a pass printed now
    scans at once even on a gate whose clock runs a little behind; `days` whole days
    from the start (default 30 when `until` is not given); `until` an end date
    (inclusive) or date-time (exclusive)."""
    now = int(time.time()) if now is None else now
    if days is not None and until is not None:
        raise PassSpecError("days", message("give either days or until, not both"))
    if days is not None and not 1 <= days <= 3660:
        raise PassSpecError("days", message("%r: must be 1..3660", days))
    if start:
        nbf = parse_time(start, tz)
    else:
        today = dt.datetime.fromtimestamp(now, tz).date()
        nbf = int(dt.datetime(today.year, today.month, today.day, tzinfo=tz).timestamp())
    if until:
        exp = parse_time(until, tz, end=True)
    else:
        # wall-clock arithmetic: whole calendar days, also across a DST change
        first = dt.datetime.fromtimestamp(nbf, tz)
        exp = int((first + dt.timedelta(days=30 if days is None else days)).timestamp())
    if exp <= nbf:
        raise PassSpecError("until", message("the pass would end before it starts"))
    return nbf, exp


def expired(exp: int, now: int | None = None) -> bool:
    """True when a pass ending at `exp` is already expired (every gate refuses it: EXPIRED)."""
    return exp <= (int(time.time()) if now is None else now)


# ---------------------------------------------------------------- the pass


@dataclass(frozen=True)
class PassSpec:
    """Everything a pass says. unit (0, 0, 0) means no home unit (staff roles)."""

    community: str
    role: int
    unit: tuple[int, int, int]
    dirs: int
    nbf: int
    exp: int
    iat: int
    cti: bytes
    label: str = ""

    def check(self) -> None:
        """Raise PassSpecError unless the device would accept these fields."""
        if not self.community or len(self.community.encode()) > ISS_MAX:
            raise PassSpecError("community", message("must be 1..%d bytes of UTF-8", ISS_MAX))
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in self.community):
            raise PassSpecError("community", message("control characters are not allowed"))
        if not 0 <= self.role <= 255:
            raise PassSpecError("role", message("must be 0..255"))
        if self.role == 0 and self.unit == (0, 0, 0):
            raise PassSpecError("unit", message("a resident pass needs a home unit"))
        if self.role == ROLE_VISITOR and self.unit == (0, 0, 0):
            # the inviting unit is registered with every visitor passage (issue 14.3)
            raise PassSpecError("unit", message("a visitor pass needs the inviting unit"))
        if len(self.unit) != 3 or not all(0 <= u <= UNIT_MAX for u in self.unit):
            raise PassSpecError("unit", message("must be three numbers 0..%d", UNIT_MAX))
        if not 1 <= self.dirs <= 3:
            raise PassSpecError("dirs", message("must be in, out or in,out"))
        for name in ("nbf", "exp", "iat"):
            if not 0 <= getattr(self, name) <= TIME_MAX:
                raise PassSpecError(name, message("out of range"))
        if self.nbf > self.exp:
            raise PassSpecError("until", message("the pass would end before it starts"))
        if not CTI_MIN <= len(self.cti) <= CTI_MAX:
            raise PassSpecError("cti", message("must be %d..%d bytes", CTI_MIN, CTI_MAX))
        check_label(self.label)

    def claims(self) -> dict:
        gp = {GP_ROLE: self.role, GP_UNIT: list(self.unit), GP_DIRS: self.dirs}
        if self.label:
            gp[GP_LABEL] = self.label
        return {
            CLAIM_ISS: self.community,
            CLAIM_EXP: self.exp,
            CLAIM_NBF: self.nbf,
            CLAIM_IAT: self.iat,
            CLAIM_CTI: self.cti,
            CLAIM_GATEPASS: gp,
        }

    @property
    def role_name(self) -> str:
        return ROLES[self.role] if self.role < len(ROLES) else "role%d" % self.role

    @property
    def unit_text(self) -> str:
        return "%d-%d-%d" % self.unit

    @property
    def role_zh(self) -> str:
        return ROLES_ZH[self.role] if self.role < len(ROLES_ZH) else "角色%d" % self.role


@dataclass(frozen=True)
class IssuedPass:
    spec: PassSpec
    kid: bytes
    cose: bytes
    text: str


def new_spec(
    community: str,
    role: str | int,
    unit: str | tuple[int, int, int] | None = None,
    dirs: str | int = "in,out",
    label: str = "",
    nbf: int | None = None,
    exp: int | None = None,
    iat: int | None = None,
    cti: bytes | None = None,
) -> PassSpec:
    """A checked PassSpec from command-line style values (validity default: 30 days)."""
    role_n = parse_role(role) if isinstance(role, str) else role
    unit_t = parse_unit(unit) if isinstance(unit, str) else (unit or (0, 0, 0))
    dirs_n = parse_dirs(dirs) if isinstance(dirs, str) else dirs
    if nbf is None or exp is None:
        nbf, exp = validity()
    spec = PassSpec(
        community=community,
        role=role_n,
        unit=tuple(unit_t),  # type: ignore[arg-type]
        dirs=dirs_n,
        nbf=nbf,
        exp=exp,
        iat=int(time.time()) if iat is None else iat,
        cti=os.urandom(CTI_LEN) if cti is None else cti,
        label=label or "",
    )
    spec.check()
    return spec


def base45_encode(data: bytes) -> str:
    """RFC 9285 base45."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    out = []
    for i in range(0, len(data) - 1, 2):
        v = data[i] * 256 + data[i + 1]
        v, c = divmod(v, 45)
        e, d = divmod(v, 45)
        out += (alphabet[c], alphabet[d], alphabet[e])
    if len(data) % 2:
        e, d = divmod(data[-1], 45)
        out += (alphabet[d], alphabet[e])
    return "".join(out)


def encode_pass(key: IssuerKey, spec: PassSpec, payload: bytes | None = None) -> IssuedPass:
    """Sign `spec` (or, for tests, an arbitrary raw payload) into a pass."""
    if payload is None:
        spec.check()
        payload = _dumps(spec.claims())
    cose = sign1(key, payload)
    return IssuedPass(spec, key.kid, cose, PREFIX + base45_encode(cose))


def issue(key: IssuerKey, spec: PassSpec) -> IssuedPass:
    p = encode_pass(key, spec)
    if len(p.text) > MAX_TEXT:
        raise PassSpecError("label", message("pass text too long (%d > %d characters)", len(p.text), MAX_TEXT))
    return p
