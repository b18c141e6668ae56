"""Issue gate passes: claims, COSE_Sign1 (ES256), GP1 text, QR codes, PDF cards, rosters.

The byte layout is specified in docs/pass-format.md; the device side is
firmware/app/passes.py. Encoding uses cbor2 (deterministic encoding: shortest
heads, sorted map keys) and cryptography (ECDSA P-256 with RFC 6979
deterministic nonces, so the same key and claims give the same pass).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cbor2
import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .keys import IssuerKey

PREFIX = "GP1:"
# same numbers as firmware/app/roles.py (tests check they agree)
ROLES = ("resident", "medical", "epidemic", "supply", "sanitation", "property", "emergency")
DIR_IN = 1
DIR_OUT = 2
DIR_NAMES = {"in": DIR_IN, "out": DIR_OUT}

TAG_SIGN1 = 18
ALG_ES256 = -7
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


def parse_role(text: str) -> int:
    t = text.strip().lower()
    if t in ROLES:
        return ROLES.index(t)
    raise PassSpecError("role", "unknown role %r (one of: %s)" % (text, ", ".join(ROLES)))


def parse_unit(text: str) -> tuple[int, int, int]:
    """'3-1-1203' -> (3, 1, 1203): building-entrance-room, each 0..65535."""
    m = re.fullmatch(r"\s*(\d{1,5})-(\d{1,5})-(\d{1,5})\s*", text)
    if not m:
        raise PassSpecError("unit", "%r is not building-entrance-room, e.g. 3-1-1203" % text)
    unit = tuple(int(g) for g in m.groups())
    if max(unit) > UNIT_MAX:
        raise PassSpecError("unit", "%r: each part must be 0..%d" % (text, UNIT_MAX))
    return unit  # type: ignore[return-value]


def parse_dirs(text: str) -> int:
    """'in,out' / 'in' / 'out' / 'both' -> direction bitmask."""
    t = text.strip().lower()
    if t == "both":
        return DIR_IN | DIR_OUT
    bits = 0
    for part in t.replace("/", ",").split(","):
        part = part.strip()
        if part not in DIR_NAMES:
            raise PassSpecError("dirs", "%r: use in, out or in,out" % text)
        bits |= DIR_NAMES[part]
    return bits


def dirs_text(bits: int) -> str:
    return ",".join(n for n, b in DIR_NAMES.items() if bits & b)


def check_label(label: str) -> str:
    if len(label) > LABEL_MAX:
        raise PassSpecError("label", "%r is longer than %d characters" % (label, LABEL_MAX))
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in label):
        raise PassSpecError("label", "control characters are not allowed")
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
        raise PassSpecError("tz", "%r: use local, UTC, an offset like +08:00 or a zone name" % text) from None


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
        raise PassSpecError(field_, "%r is not a date (YYYY-MM-DD) or ISO date-time" % text) from None
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
        raise PassSpecError("days", "give either days or until, not both")
    if days is not None and not 1 <= days <= 3660:
        raise PassSpecError("days", "%r: must be 1..3660" % days)
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
        raise PassSpecError("until", "the pass would end before it starts")
    return nbf, exp


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
            raise PassSpecError("community", "must be 1..%d bytes of UTF-8" % ISS_MAX)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in self.community):
            raise PassSpecError("community", "control characters are not allowed")
        if not 0 <= self.role <= 255:
            raise PassSpecError("role", "must be 0..255")
        if self.role == 0 and self.unit == (0, 0, 0):
            raise PassSpecError("unit", "a resident pass needs a home unit")
        if len(self.unit) != 3 or not all(0 <= u <= UNIT_MAX for u in self.unit):
            raise PassSpecError("unit", "must be three numbers 0..%d" % UNIT_MAX)
        if not 1 <= self.dirs <= 3:
            raise PassSpecError("dirs", "must be in, out or in,out")
        for name in ("nbf", "exp", "iat"):
            if not 0 <= getattr(self, name) <= TIME_MAX:
                raise PassSpecError(name, "out of range")
        if self.nbf > self.exp:
            raise PassSpecError("until", "the pass would end before it starts")
        if not CTI_MIN <= len(self.cti) <= CTI_MAX:
            raise PassSpecError("cti", "must be %d..%d bytes" % (CTI_MIN, CTI_MAX))
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


def _dumps(obj) -> bytes:
    # deterministic encoding (RFC 8949 4.2.1): shortest heads, keys sorted bytewise
    return cbor2.dumps(obj, canonical=True)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    return _dumps(["Signature1", protected, b"", payload])


def sign1(key: IssuerKey, payload: bytes) -> bytes:
    """Tagged COSE_Sign1 with protected {1: -7, 4: kid}, empty unprotected, ES256."""
    protected = _dumps({1: ALG_ES256, 4: key.kid})
    der = key.private.sign(sig_structure(protected, payload), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return _dumps(cbor2.CBORTag(TAG_SIGN1, [protected, {}, payload, sig]))


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
        raise PassSpecError("label", "pass text too long (%d > %d characters)" % (len(p.text), MAX_TEXT))
    return p


# ---------------------------------------------------------------- QR codes


def qr_code(text: str) -> segno.QRCode:
    """Alphanumeric-mode QR code, error correction M (boosted when free)."""
    return segno.make_qr(text, error="m", mode="alphanumeric")


def write_qr(text: str, path: Path, scale: int = 8) -> Path:
    """Write a .png or .svg QR code of `text` (4-module quiet zone)."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise PassSpecError("out", "%s: use a .png or .svg file name" % path)
    path.parent.mkdir(parents=True, exist_ok=True)
    qr_code(text).save(str(path), scale=scale, border=4)
    return path


# ---------------------------------------------------------------- PDF cards


def validity_text(nbf: int, exp: int, tz: dt.tzinfo | None = None) -> tuple[str, str]:
    """(first, last) for people: dates when the window is whole days (the last day
    inclusive), else date and time."""
    start = dt.datetime.fromtimestamp(nbf, tz)
    end = dt.datetime.fromtimestamp(exp, tz)
    a = start.strftime("%Y-%m-%d") if start.time() == dt.time(0) else start.strftime("%Y-%m-%d %H:%M")
    if end.time() == dt.time(0):  # exclusive midnight: show the last valid day
        b = (end - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    else:
        b = end.strftime("%Y-%m-%d %H:%M")
    return a, b


def write_cards_pdf(passes: Sequence[IssuedPass], path: Path, tz: dt.tzinfo | None = None) -> int:
    """A4 sheets of ID-1 sized cards (85.6 x 54 mm, 2 x 5 per page) with the QR code,
    community, role, unit, optional label, directions, validity and the pass id. No
    personal data: the roster's names never reach a card. Returns the page count."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if not passes:
        raise PassSpecError("roster", "no passes to print")
    cols, rows = 2, 5
    card_w, card_h = 85.6 * mm, 54 * mm
    page_w, page_h = A4
    x0 = (page_w - cols * card_w) / 2
    y0 = (page_h - rows * card_h) / 2
    cjk = "STSong-Light"

    def font_for(text: str, bold: bool = False) -> str:
        if all(ord(c) < 256 for c in text):
            return "Helvetica-Bold" if bold else "Helvetica"
        # other scripts: an embedded TrueType font when GATEPASS_CARD_FONT names one,
        # else Adobe's CID font (shown by readers that have the Asian font pack)
        ttf = os.environ.get("GATEPASS_CARD_FONT")
        if ttf:
            if "CardFont" not in pdfmetrics.getRegisteredFontNames():
                from reportlab.pdfbase.ttfonts import TTFont

                pdfmetrics.registerFont(TTFont("CardFont", ttf))
            return "CardFont"
        if cjk not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(cjk))
        return cjk

    c = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    c.setTitle("gatepass cards")
    per_page = cols * rows
    pages = 0
    for i, p in enumerate(passes):
        slot = i % per_page
        if slot == 0 and i:
            c.showPage()
        if slot == 0:
            pages += 1
        col, row = slot % cols, slot // cols
        x = x0 + col * card_w
        y = page_h - y0 - (row + 1) * card_h
        c.setStrokeGray(0.75)
        c.setLineWidth(0.3)
        c.rect(x, y, card_w, card_h)  # cut line
        # QR: dark modules drawn as horizontal runs, quiet zone kept white
        qr = qr_code(p.text)
        matrix = [list(r) for r in qr.matrix]
        n = len(matrix)
        size = 50 * mm
        mod = size / (n + 8)
        qx, qy = x + 2 * mm, y + (card_h - size) / 2
        c.setFillGray(0)
        for r_i, line in enumerate(matrix):
            j = 0
            while j < n:
                if line[j]:
                    k = j
                    while k < n and line[k]:
                        k += 1
                    c.rect(qx + (4 + j) * mod, qy + size - (5 + r_i) * mod, (k - j) * mod, mod, stroke=0, fill=1)
                    j = k
                else:
                    j += 1
        s = p.spec
        tx = x + 54 * mm
        ty = y + card_h - 8 * mm
        lines = [
            (s.community, 9, True),
            (s.role_name.upper(), 11, True),
            ("Unit " + s.unit_text if s.unit != (0, 0, 0) else "", 10, False),
            (s.label, 10, False),
            ("Dir: " + dirs_text(s.dirs).replace(",", " + "), 8, False),
        ]
        start, last = validity_text(s.nbf, s.exp, tz)
        lines += [("Valid " + start, 7, False), ("to " + last, 7, False), ("ID " + s.cti.hex()[:8], 6, False)]
        for text, sizept, bold in lines:
            if text:
                c.setFont(font_for(text, bold), sizept)
                c.drawString(tx, ty, text)
                ty -= sizept * 1.35  # points
    c.showPage()
    c.save()
    return pages


# ---------------------------------------------------------------- rosters

ROSTER_COLUMNS = ("unit", "role", "label", "days", "from", "until", "dirs")
# columns a roster may carry for the community server; they never reach a pass or card
ROSTER_IGNORED = ("name", "phone", "id_number", "email", "note", "notes")


@dataclass
class RosterRow:
    line: int
    spec: PassSpec
    extra: dict = field(default_factory=dict)


class RosterError(ValueError):
    """Bad roster rows: `problems` is a list of (line, field, message)."""

    def __init__(self, path: str, problems: list[tuple[int, str, str]]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join("%s:%d: %s: %s" % (path, ln, f, m) for ln, f, m in problems))


def load_roster(
    source: str | Path | io.TextIOBase,
    community: str,
    days: int | None = None,
    start: str | None = None,
    until: str | None = None,
    dirs: str = "in,out",
    now: int | None = None,
    tz: dt.tzinfo | None = None,
    cti_source: Callable[[], bytes] = lambda: os.urandom(CTI_LEN),
) -> list[RosterRow]:
    """Parse and check a roster CSV (header row: see ROSTER_COLUMNS). Every row is
    checked before anything is issued; all problems are reported together."""
    if isinstance(source, (str, Path)):
        name = str(source)
        fh = open(source, newline="", encoding="utf-8-sig")
    else:
        name, fh = "<roster>", source
    problems: list[tuple[int, str, str]] = []
    rows: list[RosterRow] = []
    now = int(time.time()) if now is None else now
    with fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        for cells in reader:
            ln = reader.line_num
            if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                for col in header:
                    if col not in ROSTER_COLUMNS and col not in ROSTER_IGNORED:
                        problems.append((ln, col or "(empty)", "unknown column (known: %s)" % ", ".join(ROSTER_COLUMNS)))
                if "role" not in header:
                    problems.append((ln, "role", "missing column"))
                if len(set(header)) != len(header):
                    problems.append((ln, "header", "duplicate column"))
                if problems:
                    break
                continue
            if len(cells) != len(header):
                problems.append((ln, "row", "%d cells, header has %d" % (len(cells), len(header))))
                continue
            rec = {k: v.strip() for k, v in zip(header, cells)}
            try:
                role = parse_role(rec.get("role", ""))
                unit_s = rec.get("unit", "")
                unit = parse_unit(unit_s) if unit_s else (0, 0, 0)
                row_days = rec.get("days") or None
                if row_days is not None and not row_days.isdigit():
                    raise PassSpecError("days", "%r is not a whole number of days" % row_days)
                row_until = rec.get("until") or None
                row_start = rec.get("from") or None
                if row_days is None and row_until is None:
                    row_days_n, row_until = days, until
                else:
                    row_days_n = int(row_days) if row_days else None
                nbf, exp = validity(row_days_n, row_start or start, row_until, now=now, tz=tz)
                spec = PassSpec(
                    community=community,
                    role=role,
                    unit=unit,
                    dirs=parse_dirs(rec.get("dirs") or dirs),
                    nbf=nbf,
                    exp=exp,
                    iat=now,
                    cti=cti_source(),
                    label=rec.get("label", ""),
                )
                spec.check()
            except PassSpecError as e:
                problems.append((ln, e.field, e.message))
                continue
            extra = {k: rec[k] for k in header if k in ROSTER_IGNORED}
            rows.append(RosterRow(ln, spec, extra))
    if not rows and not problems:
        problems.append((0, "roster", "no rows (a header line and one row per pass)"))
    if problems:
        raise RosterError(name, problems)
    return rows


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def batch(
    key: IssuerKey,
    rows: Iterable[RosterRow],
    out_dir: Path,
    tz: dt.tzinfo | None = None,
    progress: Callable[[IssuedPass], None] | None = None,
) -> tuple[list[IssuedPass], Path]:
    """Issue one pass per row: <NNN>-<unit>-<role>.png/.svg, passes.csv (manifest:
    roster line, pass fields and text, no personal data) and cards.pdf."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    issued: list[IssuedPass] = []
    manifest = out_dir / "passes.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as mf:
        w = csv.writer(mf)
        w.writerow(["roster_line", "file", "cti", "kid", "role", "unit", "dirs", "label", "nbf", "exp", "iat", "text"])
        for i, row in enumerate(rows, 1):
            p = issue(key, row.spec)
            s = p.spec
            stem = "%03d-%s-%s" % (i, safe_name(s.unit_text), s.role_name)
            write_qr(p.text, out_dir / (stem + ".png"))
            write_qr(p.text, out_dir / (stem + ".svg"))
            w.writerow([row.line, stem, s.cti.hex(), p.kid.hex(), s.role_name, s.unit_text, dirs_text(s.dirs),
                        s.label, s.nbf, s.exp, s.iat, p.text])
            issued.append(p)
            if progress:
                progress(p)
    pdf = out_dir / "cards.pdf"
    write_cards_pdf(issued, pdf, tz)
    return issued, pdf
